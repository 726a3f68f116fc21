// clients/web/callvault.js: signing, the start-of-call retries, the STUN-first / TURN-retry
// policy, the Free rules, route reporting and the cvadmin events, with fake timers, a fake
// cvadmin (which checks every signature with node:crypto) and a fake RTCPeerConnection.
// Run: node --test tests/clients/web/
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, webcrypto } from 'node:crypto';
import { beforeEach, describe, test } from 'node:test';

import {
  CallVaultClient,
  CallVaultError,
  DISCONNECTED_GRACE_MS,
  MESSAGES,
  canonicalString,
  importPrivateKey,
  selectedPair,
} from '../../../clients/web/callvault.js';
import {
  FakeCvadmin,
  FakePeerConnection,
  FakeStream,
  FakeTimers,
  TURN_SERVERS,
  problem,
  sessionAnswer,
  settle,
} from './fakes.mjs';

const { privateKey: nodeKey, publicKey } = generateKeyPairSync('ed25519');
const privateJwk = nodeKey.export({ format: 'jwk' });
const publicJwk = publicKey.export({ format: 'jwk' });

let timers;
let cvadmin;
let client;

// WebCrypto's Ed25519 and SHA-256 finish on libuv's thread pool, at a moment virtual time cannot
// wait for; the state machine tests use this stand-in, which finishes in a microtask (node:crypto,
// the same algorithms). The first test signs with the real WebCrypto.
const promptCrypto = {
  getRandomValues: (bytes) => webcrypto.getRandomValues(bytes),
  subtle: {
    digest: async (_alg, data) => createHash('sha256').update(data).digest(),
    sign: async (_alg, _key, data) => sign(null, data, nodeKey),
  },
};

async function setUp(routes = {}, { realCrypto = false } = {}) {
  timers = new FakeTimers();
  cvadmin = new FakeCvadmin({ publicJwk, timers, routes });
  client = new CallVaultClient({
    userId: 'alice',
    privateKey: realCrypto ? await importPrivateKey(privateJwk) : { type: 'private' },
    baseUrl: 'https://cvadmin.test',
    fetch: cvadmin.fetch,
    crypto: realCrypto ? webcrypto : promptCrypto,
    timers,
    now: timers.now,
  });
  FakePeerConnection.reset();
}

function signaling() {
  const sent = [];
  return { sent, send: (m) => sent.push(m), onmessage: null };
}

function newCall(options = {}) {
  const s = signaling();
  const call = client.call({
    peer: 'bob',
    callId: 'alice',
    signaling: s,
    RTCPeerConnection: FakePeerConnection,
    networkHint: () => 'wifi',
    ...options,
  });
  const seen = { notices: [], prompts: [], routes: [], errors: [], ended: [] };
  call.on('notice', (n) => seen.notices.push(n));
  call.on('prompt', (p) => seen.prompts.push(p));
  call.on('route', (r) => seen.routes.push(r));
  call.on('error', (e) => seen.errors.push(e));
  call.on('ended', (e) => seen.ended.push(e));
  return { call, signaling: s, seen };
}

async function started(options = {}, answer = sessionAnswer()) {
  cvadmin.routes['POST /v1/call-sessions'] ??= answer;
  const made = newCall(options);
  await made.call.start();
  await settle();
  return { ...made, pc: FakePeerConnection.last() };
}

describe('signed requests', () => {
  beforeEach(() => setUp());

  test('the signature covers the canonical string cvadmin verifies', async () => {
    await setUp({}, { realCrypto: true });
    cvadmin.routes['POST /v1/contacts'] = { contact: 'bob', approved: true, mutual: false };
    const answer = await client.approveContact('bob');
    assert.equal(answer.approved, true);
    const [r] = cvadmin.requests;
    assert.equal(r.signatureOk, true, 'node:crypto verifies the WebCrypto signature');
    assert.equal(r.headers['X-CV-User'], 'alice');
    assert.equal(r.headers['X-CV-Timestamp'], String(Math.floor(timers.time / 1000)));
    assert.match(r.headers['X-CV-Nonce'], /^[A-Za-z0-9_-]{16,64}$/);
    assert.match(r.headers['X-CV-Signature'], /^[A-Za-z0-9_-]{86}$/);
    assert.equal(r.headers['Content-Type'], 'application/json');
    assert.deepEqual(r.body, { contact: 'bob' });
  });

  test('canonicalString follows docs/cvadmin.md byte for byte', async () => {
    const text = await canonicalString(globalThis.crypto.subtle, {
      user: 'alice',
      timestamp: '1763712000',
      nonce: 'n0nce-0123456789abc',
      method: 'GET',
      target: '/v1/entitlements',
      body: '',
    });
    const digest = createHash('sha256').update('GET\n/v1/entitlements\n').digest('hex');
    assert.equal(text, `CV1-ED25519\nalice\n1763712000\nn0nce-0123456789abc\n${digest}`);
  });

  test('a CLOCK_SKEW answer moves the clock to the server and the request is signed again', async () => {
    const serverTime = Math.floor(timers.time / 1000) + 500;
    cvadmin.routes['GET /v1/entitlements'] = [
      problem(401, 'CLOCK_SKEW', { server_time: serverTime }),
      { plan: 'free' },
    ];
    const answer = client.entitlements();
    await timers.advance(200);
    assert.deepEqual(await answer, { plan: 'free' });
    assert.equal(cvadmin.requests.length, 2);
    assert.equal(cvadmin.requests[1].headers['X-CV-Timestamp'], String(serverTime));
  });
});

describe('getting a call session', () => {
  beforeEach(() => setUp());

  test('retries silently with a new nonce after 200, 600 and 1200 ms', async () => {
    cvadmin.routes['POST /v1/call-sessions'] = [
      new TypeError('network down'),
      problem(503, 'STORE_UNAVAILABLE'),
      problem(401, 'TOKEN_REPLAYED'),
      sessionAnswer(),
    ];
    const { call, seen } = newCall();
    const done = call.start();
    await timers.advance(5000);
    await done;
    const attempts = cvadmin.to('/v1/call-sessions');
    assert.equal(attempts.length, 4);
    const gaps = attempts.slice(1).map((r, i) => r.at - attempts[i].at);
    assert.deepEqual(gaps, [200, 600, 1200]);
    const nonces = new Set(attempts.map((r) => r.headers['X-CV-Nonce']));
    assert.equal(nonces.size, 4, 'every attempt has its own nonce');
    assert.equal(call.status.phase, 'connecting');
    assert.deepEqual(seen.errors, [], 'nothing was shown meanwhile');
  });

  test('after three retries: "Connection handshake failed. Tap to retry."', async () => {
    cvadmin.routes['POST /v1/call-sessions'] = [
      problem(503, 'STORE_UNAVAILABLE'),
      problem(502, 'HTTP_502'),
      new TypeError('reset'),
      problem(429, 'RATE_LIMITED', { retry_after_s: 1 }),
      sessionAnswer(),
    ];
    const { call, seen } = newCall();
    const done = call.start();
    await timers.advance(5000);
    await done;
    assert.equal(cvadmin.to('/v1/call-sessions').length, 4);
    assert.equal(call.status.phase, 'failed');
    assert.deepEqual(call.status.error, {
      code: 'HANDSHAKE_FAILED',
      message: 'Connection handshake failed. Tap to retry.',
      retryable: true,
    });
    assert.equal(seen.errors.length, 1);
    assert.equal(FakePeerConnection.instances.length, 0, 'no call without a session');

    // "Tap to retry": a new session request, and the call goes on.
    await call.retry();
    await settle();
    assert.equal(cvadmin.to('/v1/call-sessions').length, 5);
    assert.equal(call.status.phase, 'connecting');
    assert.equal(call.status.error, null);
  });

  test('a refusal is not retried and carries the app message', async () => {
    cvadmin.routes['POST /v1/call-sessions'] = [
      problem(403, 'LIMIT_DAILY_CALLS', { retry_after_s: 3600 }),
    ];
    const { call } = newCall();
    await call.start();
    assert.equal(cvadmin.to('/v1/call-sessions').length, 1);
    assert.equal(call.status.phase, 'failed');
    assert.equal(call.status.error.code, 'LIMIT_DAILY_CALLS');
    assert.equal(
      call.status.error.message,
      "You've used today's free calls. Upgrade for unlimited calls.",
    );
    assert.equal(call.status.error.retryable, false);
  });

  test('the session is asked for when the call starts, with the call details', async () => {
    const { call } = newCall({ video: true });
    assert.equal(cvadmin.requests.length, 0, 'nothing before start()');
    cvadmin.routes['POST /v1/call-sessions'] = sessionAnswer();
    await call.start();
    assert.deepEqual(cvadmin.requests[0].body, {
      call_id: 'alice',
      kind: 'direct',
      video: true,
      callee: 'bob',
    });
  });
});

describe('STUN first', () => {
  beforeEach(() => setUp());

  test('the call starts with the STUN servers of the session answer only', async () => {
    const { pc, call } = await started({}, sessionAnswer({ plan: 'pro', allowTurn: true }));
    assert.deepEqual(pc.config.iceServers, [{ urls: ['stun:relay.test:3478'] }]);
    assert.equal(call.status.mode, 'stun');
    assert.equal(cvadmin.to('/v1/turn-credentials').length, 0, 'no TURN before it is needed');
  });

  test('the caller offers; candidates and the end of candidates go to the peer', async () => {
    const { pc, signaling } = await started();
    assert.equal(signaling.sent[0].type, 'description');
    assert.equal(signaling.sent[0].description.type, 'offer');
    pc.onicecandidate({ candidate: { toJSON: () => ({ candidate: 'c1', sdpMid: '0' }) } });
    pc.onicecandidate({ candidate: null });
    assert.equal(signaling.sent.length, 3, 'one offer');
    assert.deepEqual(signaling.sent.slice(1), [
      { type: 'candidate', candidate: { candidate: 'c1', sdpMid: '0' } },
      { type: 'candidate', candidate: null },
    ]);
  });

  test('the callee waits for the offer, even one that came before its session', async () => {
    cvadmin.routes['POST /v1/call-sessions'] = sessionAnswer();
    const { call, signaling } = newCall({ polite: true, localStream: new FakeStream(['audio']) });
    signaling.onmessage({ type: 'description', description: { type: 'offer', sdp: 'o' } });
    signaling.onmessage({ type: 'candidate', candidate: { candidate: 'c' } });
    await call.start();
    await settle();
    const pc = FakePeerConnection.last();
    assert.deepEqual(pc.calls.slice(0, 2), [
      ['setRemoteDescription', 'offer'],
      ['setLocalDescription', 'implicit'],
    ]);
    assert.equal(signaling.sent.filter((m) => m.type === 'description').length, 1);
    assert.equal(signaling.sent[0].description.type, 'answer');
    assert.deepEqual(pc.candidates, [{ candidate: 'c' }]);
    assert.equal(pc.transceiver('audio').direction, 'sendrecv');
    assert.equal(pc.transceiver('audio').sender.track.kind, 'audio');
  });

  test('the callee never offers: it asks the caller for an offer', async () => {
    cvadmin.routes['POST /v1/call-sessions'] = sessionAnswer({ plan: 'pro', allowTurn: true });
    const callee = newCall({ polite: true, video: true, localStream: new FakeStream() });
    await callee.call.start();
    callee.signaling.onmessage({ type: 'description', description: { type: 'offer', sdp: 'o' } });
    await settle();
    const pc = FakePeerConnection.last();
    assert.equal(pc.transceiver('video').direction, 'sendrecv', 'a paid callee sends video');
    pc.transceiver('video').direction = 'recvonly'; // something to negotiate
    await settle();
    assert.deepEqual(callee.signaling.sent.at(-1), { type: 'renegotiate' });
    assert.equal(pc.calls.filter(([, t]) => t === 'implicit').length, 1, 'the answer only');
    assert.equal(pc.localDescription.type, 'answer');
  });

  test('the caller offers when asked, restarting ICE when asked to', async () => {
    const { pc, signaling } = await started();
    signaling.onmessage({ type: 'description', description: { type: 'answer', sdp: 'a' } });
    await settle();
    const offers = () => signaling.sent.filter((m) => m.description?.type === 'offer').length;
    assert.equal(offers(), 1);
    signaling.onmessage({ type: 'renegotiate' });
    await settle();
    assert.equal(offers(), 2);
    assert.equal(pc.restarts, 0);
    signaling.onmessage({ type: 'description', description: { type: 'answer', sdp: 'a2' } });
    signaling.onmessage({ type: 'renegotiate', iceRestart: true });
    await settle();
    assert.equal(pc.restarts, 1);
    assert.equal(offers(), 3);
  });

  test('the caller ignores an offer that crosses its own', async () => {
    const caller = await started();
    assert.equal(caller.pc.signalingState, 'have-local-offer');
    caller.signaling.onmessage({ type: 'description', description: { type: 'offer', sdp: 'x' } });
    await settle();
    assert.equal(caller.pc.calls.filter(([c]) => c === 'setRemoteDescription').length, 0);
  });
});

describe('the fallback rule: "failed", or "disconnected" for more than 8 s', () => {
  test('disconnected for less than 8 s is left alone', async () => {
    await setUp({ 'POST /v1/turn-credentials': { iceServers: TURN_SERVERS } });
    const { pc, call, seen } = await started({}, sessionAnswer({ plan: 'pro', allowTurn: true }));
    pc.setIce('checking');
    pc.setIce('disconnected');
    await timers.advance(DISCONNECTED_GRACE_MS - 100);
    pc.setIce('connected');
    await timers.advance(30_000);
    assert.equal(cvadmin.to('/v1/turn-credentials').length, 0);
    assert.equal(pc.restarts, 0);
    assert.deepEqual(seen.notices, []);
    assert.equal(call.status.phase, 'connected');
  });

  test('entitled: disconnected past 8 s → TURN credentials, an ICE restart with them, "Improving connection…"', async () => {
    await setUp({ 'POST /v1/turn-credentials': { iceServers: TURN_SERVERS } });
    const { pc, call, seen } = await started({}, sessionAnswer({ plan: 'pro', allowTurn: true }));
    pc.setIce('checking');
    pc.setIce('disconnected');
    await timers.advance(DISCONNECTED_GRACE_MS - 1);
    assert.equal(cvadmin.to('/v1/turn-credentials').length, 0, 'not yet');
    await timers.advance(1);
    const asked = cvadmin.to('/v1/turn-credentials');
    assert.equal(asked.length, 1);
    assert.deepEqual(asked[0].body, { token: 'tok-1' });
    assert.deepEqual(pc.config.iceServers, TURN_SERVERS, 'same peer connection, new servers');
    assert.equal(pc.restarts, 1);
    assert.equal(FakePeerConnection.instances.length, 1);
    assert.equal(call.status.mode, 'turn');
    assert.deepEqual(seen.notices, [MESSAGES.IMPROVING]);
    assert.equal(call.status.notice, 'Improving connection…');
    assert.equal(call.status.prompt, null, 'nothing blocks the call');
    assert.notEqual(call.status.phase, 'blocked');

    pc.selectPair('relay', 'host');
    pc.setIce('connected');
    await settle();
    assert.equal(call.status.notice, null);
    assert.deepEqual(seen.notices, [MESSAGES.IMPROVING, null]);
    assert.equal(call.status.indicator, 'Relay');
  });

  test('entitled callee: TURN servers, then it asks the caller to restart ICE', async () => {
    await setUp({ 'POST /v1/turn-credentials': { iceServers: TURN_SERVERS } });
    cvadmin.routes['POST /v1/call-sessions'] = sessionAnswer({ plan: 'pro', allowTurn: true });
    const { call, signaling, seen } = newCall({ polite: true });
    await call.start();
    signaling.onmessage({ type: 'description', description: { type: 'offer', sdp: 'o' } });
    await settle();
    const pc = FakePeerConnection.last();
    pc.setIce('failed');
    await settle();
    assert.deepEqual(pc.config.iceServers, TURN_SERVERS);
    assert.equal(pc.restarts, 0, 'the callee does not offer');
    assert.deepEqual(signaling.sent.at(-1), { type: 'renegotiate', iceRestart: true });
    assert.deepEqual(seen.notices, [MESSAGES.IMPROVING]);
  });

  test('entitled: "failed" falls back at once', async () => {
    await setUp({ 'POST /v1/turn-credentials': { iceServers: TURN_SERVERS } });
    const { pc } = await started({}, sessionAnswer({ plan: 'trial', allowTurn: true }));
    pc.setIce('failed');
    await settle();
    assert.equal(cvadmin.to('/v1/turn-credentials').length, 1);
    assert.equal(pc.restarts, 1);
  });

  test('entitled: when the peer connected the call meanwhile, the servers wait for later', async () => {
    let answer;
    await setUp({
      'POST /v1/turn-credentials': () =>
        new Promise((resolve) => {
          answer = resolve;
        }),
    });
    const { pc, call } = await started({}, sessionAnswer({ plan: 'pro', allowTurn: true }));
    pc.setIce('failed');
    await settle();
    assert.equal(call.status.notice, MESSAGES.IMPROVING);
    pc.selectPair('host', 'relay'); // the peer's relay
    pc.setIce('connected');
    answer({ iceServers: TURN_SERVERS });
    await settle();
    assert.deepEqual(pc.config.iceServers, TURN_SERVERS);
    assert.equal(pc.restarts, 0, 'no restart of a connected call');
    assert.equal(call.status.notice, null);
    assert.equal(call.status.indicator, 'Relay');
  });

  test('entitled: a used-up token is renewed with "reconnected" and TURN asked again', async () => {
    await setUp({
      'POST /v1/turn-credentials': [problem(401, 'TOKEN_REPLAYED'), { iceServers: TURN_SERVERS }],
      'POST /v1/call-sessions/{id}/events': (r) =>
        r.body.type === 'reconnected' ? { token: 'tok-2' } : { session: {} },
    });
    const { pc } = await started({}, sessionAnswer({ plan: 'pro', allowTurn: true }));
    pc.setIce('failed');
    await timers.advance(3000);
    const asked = cvadmin.to('/v1/turn-credentials');
    assert.deepEqual(
      asked.map((r) => r.body.token),
      ['tok-1', 'tok-2'],
    );
    assert.equal(cvadmin.events('reconnected').length, 1);
    assert.equal(pc.restarts, 1);
  });

  test('entitled, then downgraded: TURN_NOT_ENTITLED turns into the upgrade prompt', async () => {
    await setUp({
      'POST /v1/turn-credentials': problem(403, 'TURN_NOT_ENTITLED', { message: MESSAGES.BLOCKED }),
    });
    const { pc, call } = await started({}, sessionAnswer({ plan: 'pro', allowTurn: true }));
    pc.setIce('failed');
    await settle();
    assert.equal(call.status.phase, 'blocked');
    assert.equal(call.status.prompt.message, MESSAGES.BLOCKED);
    assert.equal(call.status.relayAllowed, false);
    assert.equal(pc.restarts, 0);
  });
});

describe('Free', () => {
  beforeEach(() => setUp());

  test('never asks for TURN: the upgrade prompt with "Try again" and "Switch to audio-only"', async () => {
    const { pc, call, seen } = await started({}, sessionAnswer({ plan: 'free' }));
    pc.setIce('checking');
    pc.setIce('disconnected');
    await timers.advance(DISCONNECTED_GRACE_MS + 1);
    pc.setIce('failed');
    await timers.advance(60_000);
    assert.equal(cvadmin.to('/v1/turn-credentials').length, 0);
    assert.equal(pc.configurations.length, 1, 'the servers never change');
    assert.equal(call.status.phase, 'blocked');
    assert.deepEqual(call.status.prompt, {
      kind: 'upgrade',
      message:
        'This network blocks direct calling. Upgrade for Relay Mode (reliable on mobile data).',
      upgrade: true,
      actions: [
        { id: 'retry', label: 'Try again' },
        { id: 'audio-only', label: 'Switch to audio-only' },
      ],
    });
    assert.ok(seen.prompts.length >= 1);
    assert.deepEqual(seen.notices, [], 'no "Improving connection…" for Free');
  });

  test('"Try again" restarts ICE with the same STUN servers', async () => {
    const { pc, call } = await started({}, sessionAnswer({ plan: 'free' }));
    pc.setIce('failed');
    await settle();
    call.act('retry');
    await settle();
    assert.equal(pc.restarts, 1);
    assert.equal(call.status.prompt, null);
    assert.equal(call.status.phase, 'connecting');
    assert.deepEqual(pc.config.iceServers, [{ urls: ['stun:relay.test:3478'] }]);
    assert.equal(cvadmin.to('/v1/turn-credentials').length, 0);
  });

  test('"Switch to audio-only" drops video and tries again', async () => {
    const stream = new FakeStream();
    const { pc, call } = await started({ video: true, localStream: stream }, sessionAnswer());
    pc.setIce('failed');
    await settle();
    call.act('audio-only');
    await settle();
    assert.deepEqual(call.status.video, { wanted: false, allowed: false });
    assert.equal(pc.transceiver('video').direction, 'inactive');
    assert.equal(pc.restarts, 1);
    // Even on a direct route now, no video: the user chose audio only.
    pc.selectPair('host', 'host');
    pc.setIce('connected');
    await settle();
    assert.equal(pc.transceiver('video').sender.track, null);
    assert.equal(pc.transceiver('video').direction, 'recvonly');
  });

  test('audio-only until the selected route is direct; no video on a relayed route', async () => {
    const stream = new FakeStream();
    const { pc, call } = await started({ video: true, localStream: stream }, sessionAnswer());
    const video = pc.transceiver('video');
    assert.equal(pc.transceiver('audio').sender.track.kind, 'audio');
    assert.equal(video.direction, 'inactive', 'no video while the route is unknown');
    assert.equal(video.sender.track, null);
    assert.deepEqual(call.status.video, { wanted: true, allowed: false });

    pc.selectPair('srflx', 'prflx');
    pc.setIce('connected');
    await settle();
    assert.equal(call.status.indicator, 'Direct');
    assert.equal(video.direction, 'sendrecv');
    assert.equal(video.sender.track.kind, 'video');
    assert.deepEqual(call.status.video, { wanted: true, allowed: true });

    // The peer (an entitled user) moved the call onto its relay: Free stops video both ways.
    pc.selectPair('host', 'relay');
    await timers.advance(2000);
    assert.equal(call.status.indicator, 'Relay');
    assert.equal(video.direction, 'inactive');
    assert.equal(video.sender.track, null);
    assert.deepEqual(call.status.video, { wanted: true, allowed: false });
  });

  test('a paid plan sends video from the start, relayed or not', async () => {
    await setUp({ 'POST /v1/turn-credentials': { iceServers: TURN_SERVERS } });
    const stream = new FakeStream();
    const { pc, call } = await started(
      { video: true, localStream: stream },
      sessionAnswer({ plan: 'pro', allowTurn: true }),
    );
    assert.equal(pc.transceiver('video').direction, 'sendrecv');
    assert.equal(pc.transceiver('video').sender.track.kind, 'video');
    pc.selectPair('relay', 'relay');
    pc.setIce('connected');
    await settle();
    assert.equal(pc.transceiver('video').direction, 'sendrecv');
    assert.equal(call.status.video.allowed, true);
  });
});

describe('route and events', () => {
  beforeEach(() => setUp());

  test('the selected pair is reported to the app and to cvadmin with the network hint', async () => {
    const { pc, call, seen } = await started();
    pc.selectPair('host', 'host');
    pc.setIce('connected');
    await settle();
    assert.equal(call.status.route, 'host');
    assert.equal(call.status.indicator, 'Direct');
    assert.equal(seen.routes.length, 1);
    assert.equal(seen.routes[0].local.address, '10.0.0.1');
    assert.deepEqual(cvadmin.events('connected').length, 1);
    assert.deepEqual(
      cvadmin.events('route').map((r) => r.body),
      [{ type: 'route', route: 'host', network: 'wifi' }],
    );
    assert.ok(cvadmin.events('connected')[0].target.startsWith('/v1/call-sessions/sess-1/'));

    // The same route is reported once; a change is reported again.
    await timers.advance(4000);
    assert.equal(cvadmin.events('route').length, 1);
    pc.selectPair('relay', 'srflx');
    await timers.advance(2000);
    assert.deepEqual(cvadmin.events('route').at(-1).body, {
      type: 'route',
      route: 'relay',
      network: 'wifi',
    });
    assert.equal(call.status.indicator, 'Relay');
  });

  test('selectedPair falls back to the nominated, succeeded pair', () => {
    const stats = new Map([
      [
        'P',
        {
          type: 'candidate-pair',
          nominated: true,
          state: 'succeeded',
          localCandidateId: 'L',
          remoteCandidateId: 'R',
        },
      ],
      ['L', { type: 'local-candidate', candidateType: 'prflx' }],
      ['R', { type: 'remote-candidate', candidateType: 'host' }],
    ]);
    assert.equal(selectedPair(stats).local.candidateType, 'prflx');
    assert.equal(selectedPair(new Map()), null);
  });

  test('heartbeats every heartbeat_interval_s from the start; connected once; reconnected after a loss', async () => {
    const { pc } = await started();
    await timers.advance(45_000);
    assert.equal(cvadmin.events('heartbeat').length, 3);
    pc.selectPair('host', 'host');
    pc.setIce('connected');
    await settle();
    pc.setIce('disconnected');
    await timers.advance(1000);
    pc.setIce('connected');
    await settle();
    assert.equal(cvadmin.events('connected').length, 1);
    assert.equal(cvadmin.events('reconnected').length, 1);
  });

  test('hang up: bye to the peer, "ended" to cvadmin, no more timers', async () => {
    const { call, signaling, pc, seen } = await started();
    await call.hangup();
    assert.deepEqual(signaling.sent.at(-1), { type: 'bye' });
    assert.equal(cvadmin.events('ended').length, 1);
    assert.equal(call.status.phase, 'ended');
    assert.equal(pc.closed, true);
    assert.deepEqual(seen.ended, [{ by: 'local', code: undefined }]);
    assert.deepEqual(timers.pending(), []);
  });

  test('hung up while the session was on its way: the session is ended too', async () => {
    let answer;
    cvadmin.routes['POST /v1/call-sessions'] = () =>
      new Promise((resolve) => {
        answer = resolve;
      });
    const { call } = newCall();
    const starting = call.start();
    await settle();
    await call.hangup();
    answer(sessionAnswer());
    await starting;
    await settle();
    assert.equal(call.status.phase, 'ended');
    assert.equal(FakePeerConnection.instances.length, 0);
    assert.equal(cvadmin.events('ended').length, 1);
    assert.deepEqual(timers.pending(), []);
  });

  test('the peer hangs up: the call ends and cvadmin hears it', async () => {
    const { call, signaling } = await started();
    signaling.onmessage({ type: 'bye' });
    await settle();
    assert.equal(call.status.phase, 'ended');
    assert.equal(cvadmin.events('ended').length, 1);
  });

  test('cvadmin ended the call (its maximum): the call ends with the app message', async () => {
    cvadmin.routes['POST /v1/call-sessions/{id}/events'] = problem(409, 'LIMIT_CALL_DURATION', {
      end_reason: 'duration_limit',
    });
    const { call, seen } = await started();
    await timers.advance(15_000);
    assert.equal(call.status.phase, 'ended');
    assert.equal(call.status.error.code, 'LIMIT_CALL_DURATION');
    assert.equal(
      call.status.error.message,
      'Free calls last up to 10 minutes. Upgrade for longer calls.',
    );
    assert.deepEqual(seen.ended, [{ by: 'server', code: 'LIMIT_CALL_DURATION' }]);
    assert.equal(cvadmin.events('ended').length, 0, 'it is over already');
  });

  test('the data channel carries texts both ways', async () => {
    const { call, pc } = await started();
    const got = [];
    call.on('message', (m) => got.push(m));
    assert.throws(() => call.send('early'), /not open/);
    pc.channel.open();
    call.send('hello');
    pc.channel.onmessage({ data: 'hi back' });
    assert.deepEqual(pc.channel.sent, ['hello']);
    assert.deepEqual(got, ['hi back']);
  });

  test('CallVaultError keeps the problem', () => {
    const e = new CallVaultError('X', 'm', { status: 400, problem: { code: 'X' } });
    assert.equal(e.status, 400);
    assert.equal(e.problem.code, 'X');
    assert.equal(e.retryable, false);
  });
});
