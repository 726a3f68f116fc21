// Fakes for clients/web/callvault.js: virtual timers, a cvadmin that verifies signatures the way
// docs/cvadmin.md specifies (with node:crypto, independently of the module), and an
// RTCPeerConnection whose ICE state, stats and negotiation the test drives.
import { createHash, createPublicKey, verify } from 'node:crypto';

// --- timers ------------------------------------------------------------------------------------

export class FakeTimers {
  constructor(start = 1_763_712_000_000) {
    this.time = start;
    this.nextId = 1;
    this.queue = new Map(); // id → {at, fn}
    this.setTimeout = (fn, ms) => {
      const id = this.nextId++;
      this.queue.set(id, { at: this.time + Math.max(0, ms), fn });
      return id;
    };
    this.clearTimeout = (id) => this.queue.delete(id);
    this.now = () => this.time;
  }

  pending() {
    return [...this.queue.values()].map((t) => t.at - this.time).sort((a, b) => a - b);
  }

  // Runs every timer due within `ms`, in order, letting promises settle after each.
  async advance(ms) {
    const end = this.time + ms;
    await settle();
    for (;;) {
      let next = null;
      for (const [id, t] of this.queue) {
        if (t.at <= end && (next === null || t.at < next[1].at)) next = [id, t];
      }
      if (next === null) break;
      this.queue.delete(next[0]);
      this.time = next[1].at;
      next[1].fn();
      await settle();
    }
    this.time = end;
    await settle();
  }
}

// Lets queued promise callbacks (and the macrotasks they start) run.
export async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

// --- cvadmin -------------------------------------------------------------------------------------

const jsonResponse = (status, body) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' },
  });

export const problem = (status, code, extra = {}) =>
  jsonResponse(status, { type: 'about:blank', title: 'x', status, code, detail: code, ...extra });

export function sessionAnswer({
  plan = 'free',
  allowTurn = false,
  id = 'sess-1',
  token = 'tok-1',
} = {}) {
  return {
    session_id: id,
    token,
    token_expires_at: 1_763_712_300,
    allow_turn: allowTurn,
    max_duration_s: plan === 'free' ? 600 : 0,
    heartbeat_interval_s: 15,
    heartbeat_timeout_s: 45,
    iceServers: [{ urls: ['stun:relay.test:3478'] }],
    entitlements: {
      plan,
      turn_relay: allowTurn,
      video: plan === 'free' ? 'direct_only' : 'always',
    },
  };
}

export const TURN_SERVERS = [
  { urls: ['stun:relay.test:3478'] },
  { urls: ['turn:relay.test:3478?transport=udp'], username: '1:cv1;u=alice', credential: 'c' },
];

// A cvadmin: every request's signature is checked against the user's public key (a 401 fails
// the test loudly); `routes` answers by "METHOD path" (a function of the request, or a list of
// answers taken in turn). Every request is recorded.
export class FakeCvadmin {
  constructor({ publicJwk, timers, routes = {} }) {
    this.publicKey = createPublicKey({ key: publicJwk, format: 'jwk' });
    this.timers = timers;
    this.routes = routes;
    this.requests = [];
    this.fetch = (url, init) => this.handle(url, init);
  }

  async handle(url, init) {
    const target = new URL(url, 'https://cvadmin.test').pathname;
    const method = init.method;
    const body = init.body ?? '';
    const h = init.headers;
    const digest = createHash('sha256').update(`${method}\n${target}\n${body}`).digest('hex');
    const message = `CV1-ED25519\n${h['X-CV-User']}\n${h['X-CV-Timestamp']}\n${h['X-CV-Nonce']}\n${digest}`;
    const ok = verify(
      null,
      Buffer.from(message),
      this.publicKey,
      Buffer.from(h['X-CV-Signature'], 'base64url'),
    );
    const request = {
      method,
      target,
      body: body ? JSON.parse(body) : null,
      headers: h,
      at: this.timers.time,
      signatureOk: ok,
    };
    this.requests.push(request);
    if (!ok) return problem(401, 'BAD_SIGNATURE');
    const route =
      this.routes[`${method} ${target}`] ??
      this.routes[
        `${method} ${target.replace(/\/v1\/call-sessions\/[^/]+\/events/, '/v1/call-sessions/{id}/events')}`
      ];
    if (route === undefined) return jsonResponse(200, {});
    const answer = Array.isArray(route) ? route.shift() : route;
    const value = typeof answer === 'function' ? await answer(request) : answer;
    if (value instanceof Error) throw value;
    if (value instanceof Response) return value;
    return jsonResponse(200, value);
  }

  to(path) {
    return this.requests.filter((r) => r.target === path || r.target.startsWith(path));
  }

  events(type) {
    return this.requests.filter(
      (r) => r.target.endsWith('/events') && (!type || r.body.type === type),
    );
  }
}

// --- WebRTC --------------------------------------------------------------------------------------

class FakeTrack {
  constructor(kind) {
    this.kind = kind;
    this.id = `${kind}-track`;
  }
}

export class FakeStream {
  constructor(kinds = ['audio', 'video']) {
    this.tracks = kinds.map((k) => new FakeTrack(k));
  }

  getTracks() {
    return this.tracks;
  }
}

class FakeTransceiver {
  constructor(pc, kind, direction, track) {
    this.pc = pc;
    this.kindName = kind;
    this._direction = direction;
    this.receiver = { track: new FakeTrack(kind) };
    this.sender = {
      track: track ?? null,
      replaceTrack: async (t) => {
        this.sender.track = t;
      },
      setStreams: () => {},
    };
  }

  get direction() {
    return this._direction;
  }

  set direction(value) {
    if (value !== this._direction) {
      this._direction = value;
      this.pc.needNegotiation();
    }
  }
}

class FakeChannel {
  constructor() {
    this.readyState = 'connecting';
    this.sent = [];
  }

  send(text) {
    this.sent.push(text);
  }

  open() {
    this.readyState = 'open';
    this.onopen?.();
  }
}

let nextPc = 1;

export class FakePeerConnection {
  static instances = [];

  constructor(config) {
    this.id = nextPc++;
    this.config = config;
    this.configurations = [config];
    this.iceConnectionState = 'new';
    this.signalingState = 'stable';
    this.localDescription = null;
    this.remoteDescription = null;
    this.transceivers = [];
    this.candidates = [];
    this.restarts = 0;
    this.closed = false;
    this.stats = new Map();
    this.calls = [];
    FakePeerConnection.instances.push(this);
  }

  static reset() {
    FakePeerConnection.instances = [];
  }

  static last() {
    return FakePeerConnection.instances.at(-1);
  }

  // As browsers do: one negotiationneeded at a time, only in the stable state, again after a
  // negotiation if something is still to negotiate.
  needNegotiation() {
    this.negotiationNeeded = true;
    this.scheduleNegotiation();
  }

  scheduleNegotiation() {
    if (this.negotiationScheduled || !this.negotiationNeeded || this.closed) return;
    this.negotiationScheduled = true;
    queueMicrotask(() => {
      this.negotiationScheduled = false;
      if (this.negotiationNeeded && this.signalingState === 'stable' && !this.closed) {
        this.onnegotiationneeded?.();
      }
    });
  }

  createDataChannel(label, options) {
    this.channel = new FakeChannel(label, options);
    this.needNegotiation();
    return this.channel;
  }

  addTransceiver(trackOrKind, init = {}) {
    const kind = typeof trackOrKind === 'string' ? trackOrKind : trackOrKind.kind;
    const track = typeof trackOrKind === 'string' ? null : trackOrKind;
    const t = new FakeTransceiver(this, kind, init.direction ?? 'sendrecv', track);
    this.transceivers.push(t);
    this.needNegotiation();
    return t;
  }

  getTransceivers() {
    return this.transceivers;
  }

  transceiver(kind) {
    return this.transceivers.find((t) => t.kindName === kind);
  }

  getConfiguration() {
    return { ...this.config, certificates: ['cert'] };
  }

  setConfiguration(config) {
    if (config.certificates) throw new Error('InvalidModificationError: certificates');
    this.config = config;
    this.configurations.push(config);
  }

  restartIce() {
    this.restarts++;
    this.needNegotiation();
  }

  async setLocalDescription(description) {
    this.calls.push(['setLocalDescription', description?.type ?? 'implicit']);
    if (description?.type === 'rollback') {
      this.signalingState = 'stable';
      this.localDescription = null;
      return;
    }
    const type = this.signalingState === 'have-remote-offer' ? 'answer' : 'offer';
    this.localDescription = {
      type,
      sdp: `${type}-${this.id}`,
      toJSON() {
        return { type, sdp: this.sdp };
      },
    };
    this.signalingState = type === 'offer' ? 'have-local-offer' : 'stable';
    this.negotiationNeeded = false; // the description covers every change so far
  }

  async setRemoteDescription(description) {
    this.calls.push(['setRemoteDescription', description.type]);
    this.remoteDescription = description;
    if (description.type === 'offer') {
      if (this.transceivers.length === 0) {
        for (const kind of ['audio', 'video']) {
          this.transceivers.push(new FakeTransceiver(this, kind, 'recvonly', null));
        }
      }
      this.signalingState = 'have-remote-offer';
    } else {
      this.signalingState = 'stable';
      this.scheduleNegotiation();
    }
  }

  async addIceCandidate(candidate) {
    this.candidates.push(candidate ?? null);
  }

  async getStats() {
    return this.stats;
  }

  close() {
    this.closed = true;
    this.iceConnectionState = 'closed';
  }

  // Test controls.
  setIce(state) {
    this.iceConnectionState = state;
    this.oniceconnectionstatechange?.();
  }

  // A getStats() report whose selected pair joins candidates of these types.
  selectPair(localType, remoteType) {
    this.stats = new Map([
      ['T1', { id: 'T1', type: 'transport', selectedCandidatePairId: 'CP1' }],
      [
        'CP1',
        {
          id: 'CP1',
          type: 'candidate-pair',
          localCandidateId: 'L1',
          remoteCandidateId: 'R1',
          state: 'succeeded',
          nominated: true,
        },
      ],
      [
        'L1',
        {
          id: 'L1',
          type: 'local-candidate',
          candidateType: localType,
          address: '10.0.0.1',
          port: 5000,
        },
      ],
      [
        'R1',
        {
          id: 'R1',
          type: 'remote-candidate',
          candidateType: remoteType,
          address: '10.0.0.2',
          port: 6000,
        },
      ],
    ]);
  }
}
