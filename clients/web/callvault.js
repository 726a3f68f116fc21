// CallVault Relay web client: places a call through cvadmin (the client API) and cvrelay.
//
// A plain ES module without dependencies or a build step. It
//   - signs every request with the user's Ed25519 identity key (WebCrypto), exactly as cvadmin
//     verifies it (docs/cvadmin.md, "Identity: signed requests");
//   - gets a call session at the moment the call starts, retrying silently with a fresh nonce
//     (200 / 600 / 1200 ms) before it reports "Connection handshake failed. Tap to retry.";
//   - starts every call with STUN only, watches the ICE connection state, and when it is
//     "failed", or "disconnected" for more than 8 s: fetches TURN credentials and restarts ICE
//     with them for entitled plans ("Improving connection…", the call goes on meanwhile), or asks
//     a Free user to upgrade ("Try again" / "Switch to audio-only") without ever asking for TURN;
//   - keeps Free calls audio-only unless the route in use is direct;
//   - reads the selected candidate pair (getStats), exposes the route for a Direct / Relay
//     indicator and reports it, with a network hint, to cvadmin; sends the connected, heartbeat,
//     reconnected and ended events.
// Signaling (offers, answers, candidates between the two parties) is the app's: an injected
// object with send(message) and an onmessage the module sets. The app's guide is
// docs/web-client.md.
//
// Everything with time or I/O is injected (fetch, timers, clock, RTCPeerConnection, WebCrypto)
// so the state machine runs in Node's test runner without a browser.

/** Texts the app shows, as the product specifies them. */
export const MESSAGES = Object.freeze({
  HANDSHAKE_FAILED: 'Connection handshake failed. Tap to retry.',
  IMPROVING: 'Improving connection…',
  BLOCKED: 'This network blocks direct calling. Upgrade for Relay Mode (reliable on mobile data).',
  TRY_AGAIN: 'Try again',
  AUDIO_ONLY: 'Switch to audio-only',
});

/**
 * What the app shows for each cvadmin problem code (README, "cvadmin error codes"). Codes that
 * the module handles silently (RATE_LIMITED, CLOCK_SKEW, TOKEN_EXPIRED, …) are not here.
 */
export const CODE_MESSAGES = Object.freeze({
  TURN_NOT_ENTITLED: MESSAGES.BLOCKED,
  LIMIT_DAILY_CALLS: "You've used today's free calls. Upgrade for unlimited calls.",
  LIMIT_MONTHLY_MINUTES: "You've used this month's free call minutes. Upgrade to keep talking.",
  LIMIT_CALL_DURATION: 'Free calls last up to 10 minutes. Upgrade for longer calls.',
  LIMIT_CALL_ATTEMPTS: 'Too many call attempts. Try again in {minutes} minutes.',
  LIMIT_FAILED_STARTS: 'Calling is paused until tomorrow.',
  NOT_APPROVED_CONTACT: "You can call people once you've both approved each other.",
  GROUP_CALLS_NOT_ALLOWED: 'Group calls are part of Pro.',
  GROUP_TOO_LARGE: 'Your plan allows groups of up to {n}.',
  EXTERNAL_LINKS_NOT_ALLOWED: 'Call links are part of Pro.',
  CALL_ID_NOT_ALLOWED: "This number isn't available on your plan.",
  BAD_SIGNATURE: 'Sign-in problem. Please sign in again.',
  UNKNOWN_KEY: 'Sign-in problem. Please sign in again.',
  USER_REVOKED: 'Calling is unavailable for this account. Contact support.',
  STORE_UNAVAILABLE: 'Calling is temporarily unavailable.',
  TURN_UNAVAILABLE: 'Calling is temporarily unavailable.',
});

/** Waits before the 2nd, 3rd and 4th attempt of a request that failed on the way. */
export const RETRY_DELAYS_MS = Object.freeze([200, 600, 1200]);
/** How long ICE may stay "disconnected" before the call falls back. */
export const DISCONNECTED_GRACE_MS = 8000;
/** How often the selected candidate pair is read while connected. */
export const ROUTE_POLL_MS = 2000;

/** A refusal from cvadmin (`code` is its problem code) or a failure of the module itself. */
export class CallVaultError extends Error {
  /**
   * @param {string} code  cvadmin's problem code, or HANDSHAKE_FAILED, NETWORK, HTTP_<status>
   * @param {string} message  what the app may show
   * @param {{status?: number, problem?: object, retryable?: boolean}} [details]
   */
  constructor(code, message, { status = 0, problem = null, retryable = false } = {}) {
    super(message);
    this.name = 'CallVaultError';
    this.code = code;
    this.status = status;
    this.problem = problem;
    this.retryable = retryable;
  }
}

// --- Encoding helpers -------------------------------------------------------------------------

const encoder = new TextEncoder();

function base64url(bytes) {
  let text = '';
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The string a request signature covers (docs/cvadmin.md):
 * `CV1-ED25519\n<user>\n<timestamp>\n<nonce>\n<hex(SHA-256(METHOD "\n" target "\n" body))>`.
 * @param {SubtleCrypto} subtle
 * @returns {Promise<string>}
 */
export async function canonicalString(subtle, { user, timestamp, nonce, method, target, body }) {
  const digest = await subtle.digest('SHA-256', encoder.encode(`${method}\n${target}\n${body}`));
  return `CV1-ED25519\n${user}\n${timestamp}\n${nonce}\n${hex(digest)}`;
}

/**
 * Imports a user's Ed25519 private key from a JWK ({"kty":"OKP","crv":"Ed25519","d","x"}) as a
 * non-extractable signing key.
 * @param {JsonWebKey} jwk
 * @param {Crypto} [crypto]
 * @returns {Promise<CryptoKey>}
 */
export async function importPrivateKey(jwk, crypto = globalThis.crypto) {
  const { kty, crv, d, x } = jwk;
  return crypto.subtle.importKey('jwk', { kty, crv, d, x }, { name: 'Ed25519' }, false, ['sign']);
}

/**
 * Makes a new identity key pair in the browser. `publicKey` is what cvadmin registers
 * (`cvctl users create ID --tier T --public-key <publicKey>`); keep `jwk` private.
 * @param {Crypto} [crypto]
 * @returns {Promise<{publicKey: string, jwk: JsonWebKey}>}
 */
export async function generateIdentity(crypto = globalThis.crypto) {
  const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
  return { publicKey: jwk.x, jwk: { kty: 'OKP', crv: 'Ed25519', d: jwk.d, x: jwk.x } };
}

/** wifi, cellular, ethernet or unknown, from the Network Information API where it exists. */
export function browserNetworkHint() {
  const type = globalThis.navigator?.connection?.type;
  if (type === 'wifi' || type === 'cellular' || type === 'ethernet') return type;
  if (type === 'wimax') return 'cellular';
  return 'unknown';
}

const defaultTimers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id),
};

function messageFor(code, problem) {
  let text = CODE_MESSAGES[code];
  if (!text) return problem?.message || problem?.detail || `Request refused (${code}).`;
  if (text.includes('{minutes}')) {
    const s = Number(problem?.retry_after_s) || 60;
    text = text.replace('{minutes}', String(Math.max(1, Math.ceil(s / 60))));
  }
  if (text.includes('{n}')) {
    const n = /(\d+)/.exec(problem?.detail || '');
    text = text.replace('{n}', n ? n[1] : 'the plan');
  }
  return text;
}

// --- The client: identity and signed requests ---------------------------------------------------

/**
 * One user's connection to cvadmin's client API.
 *
 * @example
 * const key = await importPrivateKey(jwk);
 * const client = new CallVaultClient({
 *   baseUrl: 'https://cvadmin.example.org', // '' when the page is served by cvadmin (web-root)
 *   userId: 'alice',
 *   privateKey: key,
 * });
 * const call = client.call({ peer: 'bob', callId: 'alice', signaling, localStream });
 * call.on('change', render);
 * await call.start();
 */
export class CallVaultClient {
  /**
   * @param {object} options
   * @param {string} options.userId  the user id cvadmin knows (X-CV-User)
   * @param {CryptoKey} options.privateKey  the user's Ed25519 private key (see importPrivateKey)
   * @param {string} [options.baseUrl]  cvadmin's client API; '' for the page's own origin
   * @param {typeof fetch} [options.fetch]
   * @param {Crypto} [options.crypto]  WebCrypto (globalThis.crypto)
   * @param {{setTimeout: Function, clearTimeout: Function}} [options.timers]
   * @param {() => number} [options.now]  Unix time in ms (Date.now)
   * @param {number[]} [options.retryDelaysMs]  RETRY_DELAYS_MS
   */
  constructor({
    userId,
    privateKey,
    baseUrl = '',
    fetch = (...args) => globalThis.fetch(...args),
    crypto = globalThis.crypto,
    timers = defaultTimers,
    now = () => Date.now(),
    retryDelaysMs = RETRY_DELAYS_MS,
  }) {
    if (!userId || !privateKey) throw new TypeError('userId and privateKey are required');
    this.userId = userId;
    this.privateKey = privateKey;
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.fetch = fetch;
    this.crypto = crypto;
    this.timers = timers;
    this.now = now;
    this.retryDelaysMs = retryDelaysMs;
    /** Server time minus local time (ms), learnt from CLOCK_SKEW answers. */
    this.clockOffsetMs = 0;
  }

  sleep(ms) {
    return new Promise((resolve) => this.timers.setTimeout(resolve, ms));
  }

  nonce() {
    const bytes = new Uint8Array(24);
    this.crypto.getRandomValues(bytes);
    return base64url(bytes); // 32 of [A-Za-z0-9_-]
  }

  /**
   * The four X-CV-* headers for one request.
   * @returns {Promise<Record<string, string>>}
   */
  async signHeaders(method, target, body) {
    const timestamp = String(Math.floor((this.now() + this.clockOffsetMs) / 1000));
    const nonce = this.nonce();
    const message = await canonicalString(this.crypto.subtle, {
      user: this.userId,
      timestamp,
      nonce,
      method,
      target,
      body,
    });
    const signature = await this.crypto.subtle.sign(
      { name: 'Ed25519' },
      this.privateKey,
      encoder.encode(message),
    );
    return {
      'X-CV-User': this.userId,
      'X-CV-Timestamp': timestamp,
      'X-CV-Nonce': nonce,
      'X-CV-Signature': base64url(signature),
    };
  }

  /**
   * One signed request, once. Resolves to the JSON answer; rejects with a CallVaultError whose
   * `retryable` says whether the same request, signed again, may succeed.
   */
  async requestOnce(method, target, payload) {
    const body = payload === undefined ? '' : JSON.stringify(payload);
    const headers = await this.signHeaders(method, target, body);
    if (body) headers['Content-Type'] = 'application/json';
    let response;
    try {
      response = await this.fetch(this.baseUrl + target, {
        method,
        headers,
        body: body || undefined,
      });
    } catch (e) {
      throw new CallVaultError('NETWORK', `cvadmin is unreachable: ${e?.message ?? e}`, {
        retryable: true,
      });
    }
    let data = null;
    try {
      const text = await response.text();
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (response.ok) return data;
    const code = data?.code || `HTTP_${response.status}`;
    if (code === 'CLOCK_SKEW' && Number.isFinite(data?.server_time)) {
      this.clockOffsetMs = data.server_time * 1000 - this.now();
    }
    const retryable =
      response.status >= 500 ||
      code === 'RATE_LIMITED' ||
      code === 'CLOCK_SKEW' ||
      code === 'TOKEN_REPLAYED' ||
      code === 'HTTP_408';
    throw new CallVaultError(code, messageFor(code, data), {
      status: response.status,
      problem: data,
      retryable,
    });
  }

  /**
   * A signed request that retries silently, each time with a fresh nonce and timestamp, after
   * 200, 600 and 1200 ms when it failed on the way (network, 5xx, rate limit, clock skew, a
   * replayed nonce). After the last one it rejects with HANDSHAKE_FAILED; a refusal (a plan
   * limit, a bad key, …) rejects at once with cvadmin's code, and so do the codes in `final`.
   * @param {{final?: string[]}} [options]
   */
  async request(method, target, payload, { final = [] } = {}) {
    let last = null;
    for (let attempt = 0; attempt <= this.retryDelaysMs.length; attempt++) {
      if (attempt > 0) await this.sleep(this.retryDelaysMs[attempt - 1]);
      try {
        return await this.requestOnce(method, target, payload);
      } catch (e) {
        if (!(e instanceof CallVaultError) || !e.retryable || final.includes(e.code)) throw e;
        last = e;
      }
    }
    throw new CallVaultError('HANDSHAKE_FAILED', MESSAGES.HANDSHAKE_FAILED, {
      status: last?.status ?? 0,
      problem: last?.problem ?? null,
      retryable: true,
    });
  }

  /** POST /v1/call-sessions: {session_id, token, allow_turn, iceServers, entitlements, …}. */
  startCallSession({ callId, peer, video = false, kind = 'direct' }) {
    const body = { call_id: callId, kind, video: Boolean(video) };
    if (kind === 'direct') body.callee = peer;
    return this.request('POST', '/v1/call-sessions', body);
  }

  /**
   * POST /v1/turn-credentials: {iceServers, ttl, expires_at}. Entitled plans only. A token is
   * good for one credential: TOKEN_REPLAYED here is about the token, not the nonce, and is not
   * retried (Call renews the token with a "reconnected" event).
   */
  turnCredentials(token) {
    return this.request('POST', '/v1/turn-credentials', { token }, { final: ['TOKEN_REPLAYED'] });
  }

  /** POST /v1/call-sessions/{id}/events. */
  postEvent(sessionId, event) {
    return this.request('POST', `/v1/call-sessions/${encodeURIComponent(sessionId)}/events`, event);
  }

  /** POST /v1/contacts: approves a contact (calls on Free need mutual approval). */
  approveContact(contact) {
    return this.request('POST', '/v1/contacts', { contact });
  }

  /** GET /v1/entitlements: the caller's plan and what is left of it. */
  entitlements() {
    return this.request('GET', '/v1/entitlements');
  }

  /**
   * A call with `peer`, not started yet: see Call.
   * @param {Omit<CallOptions, 'client'>} options
   */
  call(options) {
    return new Call({ ...options, client: this });
  }
}

// --- The call: ICE policy, route, events --------------------------------------------------------

/**
 * @typedef {object} Signaling  The app's channel to the other party (not cvadmin's job).
 * @property {(message: object) => void} send  delivers a JSON-serialisable message to the peer
 * @property {((message: object) => void) | null} [onmessage]  set by the Call; the app calls it
 *   with every message the peer sent, in order
 */

/**
 * @typedef {object} CallOptions
 * @property {CallVaultClient} client
 * @property {string} peer  the other party's user id
 * @property {string} callId  this user's Call ID (line) for the call
 * @property {Signaling} signaling
 * @property {boolean} [polite]  true for the callee: it never offers; it answers the caller's
 *   offers and asks the caller for one when it needs a negotiation
 * @property {boolean} [video]  the user wants video (Free: sent only on a direct route)
 * @property {MediaStream|null} [localStream]  microphone (and camera) tracks to send
 * @property {typeof RTCPeerConnection} [RTCPeerConnection]
 * @property {{setTimeout: Function, clearTimeout: Function}} [timers]  (the client's)
 * @property {() => string} [networkHint]  wifi, cellular, ethernet or unknown
 * @property {number} [disconnectedGraceMs]  DISCONNECTED_GRACE_MS
 * @property {number} [routePollMs]  ROUTE_POLL_MS
 */

/**
 * @typedef {object} CallStatus  A snapshot for the UI; `change` events carry a fresh one.
 * @property {'idle'|'starting'|'connecting'|'connected'|'blocked'|'failed'|'ended'} phase
 *   blocked: a Free call whose direct routes failed (see prompt); failed: see error
 * @property {string|null} sessionId
 * @property {string|null} plan
 * @property {boolean} relayAllowed  the session's allow_turn
 * @property {'stun'|'turn'} mode  the ICE servers in use
 * @property {'host'|'srflx'|'prflx'|'relay'|null} route  of the selected candidate pair
 * @property {'Direct'|'Relay'|null} indicator
 * @property {string|null} notice  a non-blocking notice ("Improving connection…")
 * @property {{kind: 'upgrade', message: string, upgrade: true,
 *             actions: {id: 'retry'|'audio-only', label: string}[]}|null} prompt
 * @property {{code: string, message: string, retryable: boolean}|null} error
 * @property {{wanted: boolean, allowed: boolean}} video
 * @property {string} iceConnectionState
 */

/**
 * One call. Create it with client.call(options), then start() it. Events (on(type, fn) returns
 * an unsubscribe function):
 *   change  (CallStatus)            every status change
 *   route   ({route, indicator, local, remote, network})  the selected pair changed
 *   notice  (string|null)           "Improving connection…" shown / cleared
 *   prompt  (CallStatus.prompt)     the Free upgrade prompt shown / cleared (null)
 *   error   (CallVaultError)        the call could not start or was ended by cvadmin
 *   track   (RTCTrackEvent)         remote media
 *   message (string)                a text from the peer over the call's data channel
 *   open    ()                      the data channel is open
 *   ended   ({by: 'local'|'remote'|'server', code?: string})
 *   warning (Error)                 something non-fatal failed (an event could not be sent)
 */
export class Call {
  /** @param {CallOptions} options */
  constructor({
    client,
    peer,
    callId,
    signaling,
    polite = false,
    video = false,
    localStream = null,
    RTCPeerConnection = globalThis.RTCPeerConnection,
    timers = client.timers,
    networkHint = browserNetworkHint,
    disconnectedGraceMs = DISCONNECTED_GRACE_MS,
    routePollMs = ROUTE_POLL_MS,
  }) {
    if (!signaling || typeof signaling.send !== 'function') {
      throw new TypeError('signaling.send(message) is required');
    }
    this.client = client;
    this.peer = peer;
    this.callId = callId;
    this.signaling = signaling;
    this.polite = polite;
    this.localStream = localStream;
    this.PeerConnection = RTCPeerConnection;
    this.timers = timers;
    this.networkHint = networkHint;
    this.disconnectedGraceMs = disconnectedGraceMs;
    this.routePollMs = routePollMs;

    this.session = null;
    this.pc = null;
    this.dataChannel = null;
    this.listeners = new Map();
    this.status = {
      phase: 'idle',
      sessionId: null,
      plan: null,
      relayAllowed: false,
      mode: 'stun',
      route: null,
      indicator: null,
      notice: null,
      prompt: null,
      error: null,
      video: { wanted: Boolean(video), allowed: false },
      iceConnectionState: 'new',
    };
    this.everConnected = false;
    this.lostAfterConnect = false;
    this.fallingBack = false;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.remoteSeen = false;
    this.disconnectTimer = null;
    this.heartbeatTimer = null;
    this.routeTimer = null;
    this.inbox = Promise.resolve();
    this.pending = []; // peer messages that arrived before the peer connection existed
    this.transceivers = { audio: null, video: null };
    signaling.onmessage = (message) => this.receive(message);
  }

  // --- events

  /** @returns {() => void} unsubscribe */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  emit(type, value) {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        fn(value);
      } catch (e) {
        if (type !== 'warning') this.emit('warning', e);
      }
    }
  }

  update(changes) {
    const before = this.status;
    this.status = { ...before, ...changes };
    if (changes.notice !== undefined && changes.notice !== before.notice) {
      this.emit('notice', changes.notice);
    }
    if (changes.prompt !== undefined && changes.prompt !== before.prompt) {
      this.emit('prompt', changes.prompt);
    }
    this.emit('change', this.status);
  }

  get ended() {
    return this.status.phase === 'ended';
  }

  // --- start, retry, hang up

  /**
   * Gets a call session from cvadmin and starts the call with STUN only. Resolves when the
   * offer (caller) is under way or the call waits for the peer's offer (callee); never rejects:
   * a failure is in status.error (phase "failed"); retry() starts again.
   */
  async start() {
    if (this.status.phase !== 'idle' && this.status.phase !== 'failed') return;
    this.update({ phase: 'starting', error: null });
    try {
      this.session = await this.client.startCallSession({
        callId: this.callId,
        peer: this.peer,
        video: this.status.video.wanted,
      });
    } catch (e) {
      if (!this.ended) this.fail(e);
      return;
    }
    const s = this.session;
    if (this.ended) {
      // Hung up while the session was on its way: it ends on the server too.
      this.client.postEvent(s.session_id, { type: 'ended' }).catch((e) => this.emit('warning', e));
      return;
    }
    this.update({
      phase: 'connecting',
      sessionId: s.session_id,
      plan: s.entitlements?.plan ?? null,
      relayAllowed: s.allow_turn === true,
      mode: 'stun',
    });
    this.startHeartbeats();
    this.createPeerConnection(s.iceServers ?? []);
    this.applyVideoPolicy();
    const queued = this.pending;
    this.pending = null;
    for (const message of queued) this.enqueue(message);
  }

  /** "Tap to retry" after a failed start: a new call session, a new nonce. */
  retry() {
    if (this.status.phase === 'failed') return this.start();
    return undefined;
  }

  fail(e) {
    const error =
      e instanceof CallVaultError
        ? e
        : new CallVaultError('INTERNAL', e?.message ?? String(e), { retryable: false });
    this.update({
      phase: 'failed',
      error: { code: error.code, message: error.message, retryable: error.retryable },
    });
    this.emit('error', error);
  }

  /** Hangs up: tells the peer and cvadmin, closes the connection. */
  async hangup() {
    if (this.ended) return;
    try {
      this.signaling.send({ type: 'bye' });
    } catch (e) {
      this.emit('warning', e);
    }
    await this.finish('local');
  }

  async finish(by, error = null) {
    if (this.ended) return;
    this.stopTimers();
    const sessionId = this.session?.session_id;
    this.update({
      phase: 'ended',
      notice: null,
      prompt: null,
      error: error ? { code: error.code, message: error.message, retryable: false } : null,
    });
    try {
      this.pc?.close();
    } catch {
      // closing twice is harmless
    }
    this.emit('ended', { by, code: error?.code });
    if (sessionId && by !== 'server') {
      try {
        await this.client.postEvent(sessionId, { type: 'ended' });
      } catch (e) {
        this.emit('warning', e);
      }
    }
  }

  stopTimers() {
    for (const name of ['disconnectTimer', 'heartbeatTimer', 'routeTimer']) {
      if (this[name] !== null) this.timers.clearTimeout(this[name]);
      this[name] = null;
    }
  }

  // --- the prompt's actions

  /**
   * Runs one of the prompt's actions: "retry" restarts ICE with the same (STUN) servers;
   * "audio-only" stops video and does the same.
   * @param {'retry'|'audio-only'} id
   */
  act(id) {
    if (id === 'audio-only') this.setVideo(false);
    if (id === 'retry' || id === 'audio-only') this.restartIce('retry');
  }

  /** Turns the user's wish for video on or off (Free: sent only on a direct route). */
  setVideo(wanted) {
    this.update({ video: { ...this.status.video, wanted: Boolean(wanted) } });
    this.applyVideoPolicy();
  }

  /** Sends a text to the peer over the call's data channel. */
  send(text) {
    if (this.dataChannel?.readyState !== 'open') throw new Error('the data channel is not open');
    this.dataChannel.send(text);
  }

  // --- the peer connection

  createPeerConnection(iceServers) {
    const pc = new this.PeerConnection({ iceServers });
    this.pc = pc;
    pc.onicecandidate = (e) => {
      this.sendSignal({ type: 'candidate', candidate: e.candidate ? e.candidate.toJSON() : null });
    };
    pc.onnegotiationneeded = () => this.negotiate();
    pc.oniceconnectionstatechange = () => this.onIceState(pc.iceConnectionState);
    pc.ontrack = (e) => this.emit('track', e);
    // Negotiated (same id on both sides), so neither waits for the other's ondatachannel.
    const channel = pc.createDataChannel('callvault', { negotiated: true, id: 0 });
    channel.onopen = () => this.emit('open');
    channel.onmessage = (e) => this.emit('message', e.data);
    this.dataChannel = channel;
    if (!this.polite) {
      // The caller offers audio, video (sent or not, per the video policy) and the data channel.
      const streams = this.localStream ? [this.localStream] : [];
      this.transceivers.audio = pc.addTransceiver(this.track('audio') ?? 'audio', {
        direction: 'sendrecv',
        streams,
      });
      this.transceivers.video = pc.addTransceiver('video', {
        direction: 'inactive',
        streams,
      });
    }
  }

  track(kind) {
    return this.localStream?.getTracks().find((t) => t.kind === kind) ?? null;
  }

  sendSignal(message) {
    if (this.ended) return;
    try {
      this.signaling.send(message);
    } catch (e) {
      this.emit('warning', e);
    }
  }

  // Only the caller makes offers. The callee asks it for one ({type: 'renegotiate'}) when it
  // needs a negotiation (its video turned on, an ICE restart with its TURN servers): offers never
  // cross, so no side has to roll its own back (a rollback in Chromium leaves the remote video
  // that was playing black).
  async negotiate() {
    if (this.ended) return;
    if (this.polite) {
      if (this.remoteSeen) this.sendSignal({ type: 'renegotiate' });
      return;
    }
    // While an offer is out, the answer comes first; a need left after it fires again.
    if (this.pc.signalingState !== 'stable') return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.sendSignal({ type: 'description', description: this.pc.localDescription.toJSON() });
    } catch (e) {
      this.emit('warning', e);
    } finally {
      this.makingOffer = false;
    }
  }

  /** What the app calls (through signaling.onmessage) with each message from the peer. */
  receive(message) {
    if (this.pending) {
      this.pending.push(message);
      return;
    }
    this.enqueue(message);
  }

  enqueue(message) {
    this.inbox = this.inbox.then(() => this.handle(message)).catch((e) => this.emit('warning', e));
  }

  async handle(message) {
    if (this.ended || !message) return;
    const pc = this.pc;
    if (message.type === 'description') {
      const description = message.description;
      // An offer crossing the caller's own (a peer that offers by itself) loses: the caller's
      // stands. The callee, which never offers, takes every offer.
      const collision =
        description.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      if (collision) await pc.setLocalDescription({ type: 'rollback' });
      await pc.setRemoteDescription(description);
      this.remoteSeen = true;
      if (description.type === 'offer') {
        this.adoptTransceivers();
        await pc.setLocalDescription();
        this.sendSignal({ type: 'description', description: pc.localDescription.toJSON() });
      }
    } else if (message.type === 'candidate') {
      try {
        await pc.addIceCandidate(message.candidate ?? undefined);
      } catch (e) {
        if (!this.ignoreOffer) this.emit('warning', e);
      }
    } else if (message.type === 'renegotiate') {
      // The callee asks for an offer (with an ICE restart: it has new ICE servers, or its user
      // tapped "Try again").
      if (this.polite) return;
      if (message.iceRestart) pc.restartIce();
      else await this.negotiate();
    } else if (message.type === 'bye') {
      await this.finish('remote');
    }
  }

  // The callee's transceivers come from the caller's offer: send on them what we have.
  adoptTransceivers() {
    if (this.transceivers.audio && this.transceivers.video) return;
    for (const t of this.pc.getTransceivers()) {
      const kind = t.receiver?.track?.kind;
      if (kind === 'audio' && !this.transceivers.audio) {
        this.transceivers.audio = t;
        t.direction = 'sendrecv';
        const audio = this.track('audio');
        if (audio) {
          t.sender.replaceTrack(audio);
          if (this.localStream && t.sender.setStreams) t.sender.setStreams(this.localStream);
        }
      } else if (kind === 'video' && !this.transceivers.video) {
        this.transceivers.video = t;
        if (this.localStream && t.sender.setStreams) t.sender.setStreams(this.localStream);
      }
    }
    this.applyVideoPolicy();
  }

  // --- video policy

  /**
   * Video flows only when the plan allows it on the route in use: "always" (paid plans), or
   * "direct_only" (Free) and the selected pair is direct. Otherwise the video transceiver is
   * inactive, both ways.
   */
  videoPermitted() {
    const policy = this.session?.entitlements?.video ?? 'direct_only';
    if (policy === 'always') return true;
    return (
      this.status.phase === 'connected' &&
      this.status.route !== null &&
      this.status.route !== 'relay'
    );
  }

  applyVideoPolicy() {
    const permitted = this.session !== null && this.videoPermitted();
    const allowed = permitted && this.status.video.wanted;
    if (allowed !== this.status.video.allowed) {
      this.update({ video: { ...this.status.video, allowed } });
    }
    const t = this.transceivers.video;
    if (!t || this.ended) return;
    const direction = !permitted ? 'inactive' : allowed ? 'sendrecv' : 'recvonly';
    if (t.direction !== direction) t.direction = direction;
    const track = allowed ? this.track('video') : null;
    if (t.sender.track !== track) {
      Promise.resolve(t.sender.replaceTrack(track)).catch((e) => this.emit('warning', e));
    }
  }

  // --- ICE state and the fallback

  onIceState(state) {
    this.update({ iceConnectionState: state });
    if (this.ended) return;
    if (state === 'connected' || state === 'completed') {
      this.clearDisconnectTimer();
      this.onConnected();
    } else if (state === 'disconnected') {
      if (this.everConnected) this.lostAfterConnect = true;
      if (this.disconnectTimer === null) {
        this.disconnectTimer = this.timers.setTimeout(() => {
          this.disconnectTimer = null;
          if (this.pc?.iceConnectionState === 'disconnected') this.fallBack('disconnected');
        }, this.disconnectedGraceMs);
      }
    } else if (state === 'failed') {
      if (this.everConnected) this.lostAfterConnect = true;
      this.clearDisconnectTimer();
      this.fallBack('failed');
    } else if (state === 'checking' && this.status.phase === 'connected') {
      this.update({ phase: 'connecting' });
    }
  }

  clearDisconnectTimer() {
    if (this.disconnectTimer !== null) this.timers.clearTimeout(this.disconnectTimer);
    this.disconnectTimer = null;
  }

  onConnected() {
    this.update({ phase: 'connected', notice: null, prompt: null });
    const sessionId = this.session.session_id;
    if (!this.everConnected) {
      this.everConnected = true;
      this.event({ type: 'connected' });
    } else if (this.lostAfterConnect) {
      this.lostAfterConnect = false;
      // A new path after a loss: cvadmin checks the limits again and hands a fresh token.
      this.client.postEvent(sessionId, { type: 'reconnected' }).then(
        (answer) => {
          if (answer?.token && this.session) this.session.token = answer.token;
        },
        (e) => this.onEventError(e),
      );
    }
    this.pollRoute();
  }

  /**
   * Direct routes failed (ICE "failed", or "disconnected" for more than the grace period).
   * Entitled: TURN credentials and an ICE restart with them, while the call goes on. Free: the
   * upgrade prompt; TURN is never asked for.
   */
  async fallBack(reason) {
    if (this.ended || this.fallingBack) return;
    if (!this.status.relayAllowed) {
      this.showUpgrade();
      return;
    }
    this.fallingBack = true;
    this.update({
      notice: MESSAGES.IMPROVING,
      phase: this.everConnected ? 'connecting' : this.status.phase,
    });
    try {
      const servers = await this.fetchTurnServers();
      if (this.ended) return;
      // The same peer connection, new servers: setConfiguration keeps everything else (the
      // certificates may not change, so they are left out), then an ICE restart gathers again.
      const { certificates: _certificates, ...config } = this.pc.getConfiguration?.() ?? {};
      this.pc.setConfiguration({ ...config, iceServers: servers });
      this.update({ mode: 'turn' });
      // The peer may have got the call through meanwhile (its own relay): then the servers are
      // kept for the next restart, and this one is not needed.
      const state = this.pc.iceConnectionState;
      if (state === 'connected' || state === 'completed') {
        this.update({ notice: null });
      } else {
        this.restartIce(reason);
      }
    } catch (e) {
      if (e instanceof CallVaultError && e.code === 'TURN_NOT_ENTITLED') {
        // The plan changed under the call (a downgrade): treat it as Free from now on.
        this.update({ relayAllowed: false, notice: null });
        this.showUpgrade();
      } else if (e instanceof CallVaultError && e.code === 'SESSION_ENDED') {
        await this.finish('server', e);
      } else {
        this.update({ notice: null });
        this.emit('warning', e);
      }
    } finally {
      this.fallingBack = false;
    }
  }

  async fetchTurnServers() {
    try {
      return (await this.client.turnCredentials(this.session.token)).iceServers;
    } catch (e) {
      // A token is good for one credential and five minutes: get a fresh one and ask again.
      if (!(e instanceof CallVaultError) || !['TOKEN_REPLAYED', 'TOKEN_EXPIRED'].includes(e.code)) {
        throw e;
      }
      const answer = await this.client.postEvent(this.session.session_id, { type: 'reconnected' });
      this.session.token = answer.token;
      return (await this.client.turnCredentials(this.session.token)).iceServers;
    }
  }

  showUpgrade() {
    this.update({
      phase: 'blocked',
      notice: null,
      prompt: {
        kind: 'upgrade',
        message: MESSAGES.BLOCKED,
        upgrade: true,
        actions: [
          { id: 'retry', label: MESSAGES.TRY_AGAIN },
          { id: 'audio-only', label: MESSAGES.AUDIO_ONLY },
        ],
      },
    });
  }

  // An ICE restart, with the ICE servers now configured. The caller restarts; the callee asks
  // the caller to (answering an offer that restarts ICE, it gathers again too, with its servers).
  restartIce(reason) {
    if (this.ended || !this.pc) return;
    if (reason === 'retry') {
      this.update({ prompt: null, phase: this.everConnected ? this.status.phase : 'connecting' });
    }
    if (this.polite) this.sendSignal({ type: 'renegotiate', iceRestart: true });
    else this.pc.restartIce();
  }

  // --- route

  pollRoute() {
    if (this.routeTimer !== null) this.timers.clearTimeout(this.routeTimer);
    this.routeTimer = null;
    this.readRoute()
      .catch((e) => this.emit('warning', e))
      .finally(() => {
        if (this.ended || this.status.phase !== 'connected' || this.routeTimer !== null) return;
        this.routeTimer = this.timers.setTimeout(() => {
          this.routeTimer = null;
          this.pollRoute();
        }, this.routePollMs);
      });
  }

  /** Reads the selected candidate pair; reports a change to the app and to cvadmin. */
  async readRoute() {
    const stats = await this.pc.getStats();
    const selected = selectedPair(stats);
    if (!selected || this.ended) return;
    const { local, remote } = selected;
    const route =
      local.candidateType === 'relay' || remote.candidateType === 'relay'
        ? 'relay'
        : local.candidateType;
    if (!['host', 'srflx', 'prflx', 'relay'].includes(route) || route === this.status.route) return;
    const indicator = route === 'relay' ? 'Relay' : 'Direct';
    const network = this.networkHint();
    this.update({ route, indicator });
    this.applyVideoPolicy();
    this.emit('route', {
      route,
      indicator,
      network,
      local: { type: local.candidateType, address: local.address ?? local.ip, port: local.port },
      remote: {
        type: remote.candidateType,
        address: remote.address ?? remote.ip,
        port: remote.port,
      },
    });
    this.event({ type: 'route', route, network });
  }

  // --- cvadmin events

  event(body) {
    const sessionId = this.session?.session_id;
    if (!sessionId) return;
    this.client.postEvent(sessionId, body).catch((e) => this.onEventError(e));
  }

  onEventError(e) {
    // The server ended the call (its maximum, the month, a heartbeat gap): end it here too.
    if (e instanceof CallVaultError && e.status === 409) {
      this.finish('server', e);
      return;
    }
    this.emit('warning', e);
  }

  startHeartbeats() {
    const every = Math.max(1, Number(this.session?.heartbeat_interval_s) || 15) * 1000;
    const beat = () => {
      this.heartbeatTimer = this.timers.setTimeout(() => {
        if (this.ended) return;
        this.event({ type: 'heartbeat' });
        beat();
      }, every);
    };
    beat();
  }
}

/**
 * The selected candidate pair of a getStats() report and its two candidates, or null.
 * @param {Map<string, object>} stats
 */
export function selectedPair(stats) {
  let pair = null;
  for (const s of stats.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      pair = stats.get(s.selectedCandidatePairId) ?? null;
      if (pair) break;
    }
  }
  if (!pair) {
    for (const s of stats.values()) {
      if (s.type === 'candidate-pair' && (s.selected || (s.nominated && s.state === 'succeeded'))) {
        pair = s;
        break;
      }
    }
  }
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  return local && remote ? { pair, local, remote } : null;
}
