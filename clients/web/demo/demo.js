// The demo page of clients/web/callvault.js: phones that call each other through cvadmin (the
// client API this page is served beside) and cvrelay, showing what the module tells an app:
// the Direct / Relay indicator, "Improving connection…", the Free upgrade prompt, and
// "Connection handshake failed. Tap to retry.".
//
// Two modes (docs/web-client.md, "The demo page"):
//   - two phones on one page (the default): signaling between them stays in the page;
//   - one phone, configured by the URL fragment (never sent to a server):
//       #user=alice&peer=bob&x=<public key>&d=<private key>[&video=1][&call=<Call ID>]
//        [&signal=tab|external][&autoanswer=0]
//     signal=tab: the two phones are two tabs of one browser (BroadcastChannel);
//     signal=external: the embedding test carries the messages: the page calls
//     window.cvDemoSend(message) (a function the test provides) and the test hands the peer's
//     messages to window.cvDemo.deliver(message).
import { CallVaultClient, MESSAGES, generateIdentity, importPrivateKey } from '../callvault.js';

const PHASES = {
  idle: 'Ready',
  starting: 'Starting…',
  connecting: 'Connecting…',
  connected: 'Connected',
  blocked: 'Direct calling blocked',
  failed: 'Could not start',
  ended: 'Call ended',
};

class Phone {
  constructor(index, settings) {
    const template = document.getElementById('phone-template');
    this.root = template.content.firstElementChild.cloneNode(true);
    this.root.dataset.phone = String(index);
    document.getElementById('phones').append(this.root);
    this.index = index;
    this.out = null; // (message) => void: to the peer's phone
    this.call = null;
    this.inbox = []; // messages for a call that is being set up
    this.chat = [];
    this.history = []; // every status of the current call, for tests and curiosity
    this.autoAnswer = settings.autoAnswer !== false;
    this.baseUrl = settings.baseUrl ?? '';
    this.$('user').value = settings.user ?? '';
    this.$('peer').value = settings.peer ?? '';
    this.$('callid').value = settings.callId ?? '';
    this.$('video').checked = Boolean(settings.video);
    if (settings.jwk) this.$('key').value = JSON.stringify(settings.jwk);
    // Configured by the URL: the settings (and the key) stay folded away.
    if (settings.folded) this.$('setup').open = false;
    this.$('generate').onclick = () => this.generate();
    this.$('approve').onclick = () => this.approve();
    this.$('call').onclick = () => this.placeCall();
    this.$('hangup').onclick = () => this.call?.hangup();
    this.$('error').onclick = () => this.call?.retry();
    this.$('chat-send').onclick = () => this.sendChat();
    this.$('chat-input').onkeydown = (e) => {
      if (e.key === 'Enter') this.sendChat();
    };
    for (const button of this.root.querySelectorAll('[data-action]')) {
      button.onclick = () => {
        this.log(button.dataset.action === 'retry' ? 'trying again' : 'audio only; trying again');
        this.call?.act(button.dataset.action);
      };
    }
    this.$('user').oninput = () => this.render(this.call?.status);
    this.render(null);
  }

  $(role) {
    return this.root.querySelector(`[data-role="${role}"]`);
  }

  log(text) {
    const item = document.createElement('li');
    item.textContent = `${new Date().toISOString().slice(11, 19)} ${text}`;
    this.$('log').prepend(item);
  }

  async client() {
    const user = this.$('user').value.trim();
    let jwk;
    try {
      jwk = JSON.parse(this.$('key').value);
    } catch {
      throw new Error('paste the private key as a JWK, or generate one');
    }
    if (!user) throw new Error('enter a user id');
    return new CallVaultClient({
      userId: user,
      privateKey: await importPrivateKey(jwk),
      baseUrl: this.baseUrl,
    });
  }

  async generate() {
    const { publicKey, jwk } = await generateIdentity();
    this.$('key').value = JSON.stringify(jwk);
    const user = this.$('user').value.trim() || 'USER';
    const register = this.$('register');
    register.hidden = false;
    register.textContent =
      `Register it (an operator, with cvctl):\n` +
      `cvctl users create ${user} --tier free --public-key ${publicKey}\n` +
      `or for an existing user: cvctl users set-key ${user} ${publicKey}`;
  }

  async approve() {
    try {
      const client = await this.client();
      const answer = await client.approveContact(this.$('peer').value.trim());
      const state = `contact ${answer.contact}: approved${answer.mutual ? ', mutual' : ''}`;
      this.$('contact-state').textContent = state;
      this.log(state);
    } catch (e) {
      this.log(`approve: ${e.message}`);
    }
  }

  async media(video) {
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true, video });
    } catch (e) {
      this.log(`no camera/microphone (${e.name}); the call carries text only`);
      return null;
    }
  }

  async newCall(polite) {
    const video = this.$('video').checked;
    const localStream = await this.media(video);
    if (localStream && video) this.$('local-video').srcObject = localStream;
    const client = await this.client();
    const signaling = { send: (message) => this.out?.(message), onmessage: null };
    const call = client.call({
      peer: this.$('peer').value.trim(),
      callId: this.$('callid').value.trim() || client.userId,
      signaling,
      polite,
      video,
      localStream,
    });
    this.call = call;
    this.chat = [];
    this.history = [];
    this.$('chat-log').replaceChildren();
    call.on('change', (status) => {
      this.history.push(status);
      if (this.history.length > 500) this.history.shift();
      this.render(status);
    });
    call.on('route', (r) => {
      this.route = r;
      this.log(`route ${r.route}: ${r.local.type} → ${r.remote.type}`);
    });
    call.on('notice', (n) => n && this.log(n));
    call.on('prompt', (p) => p && this.log('upgrade prompt'));
    call.on('error', (e) => this.log(`${e.code}: ${e.message}`));
    call.on('warning', (e) => this.log(`warning: ${e.message ?? e}`));
    call.on('message', (text) => this.addChat(text, false));
    call.on('open', () => this.log('data channel open'));
    call.on('track', (e) => this.attach(e));
    call.on('ended', ({ by, code }) => {
      this.log(`ended by ${by}${code ? ` (${code})` : ''}`);
      this.render(call.status);
    });
    return call;
  }

  attach(event) {
    const stream = event.streams[0] ?? new MediaStream([event.track]);
    const element = this.$(event.track.kind === 'video' ? 'remote-video' : 'remote-audio');
    if (element.srcObject !== stream) element.srcObject = stream;
    // autoplay does not always start a stream whose media comes much later (after an ICE
    // restart): play when the track starts to carry media.
    const play = () => element.play().catch(() => {});
    event.track.addEventListener('unmute', play);
    play();
  }

  // The caller.
  async placeCall() {
    if (this.call && !this.call.ended) return;
    try {
      const call = await this.newCall(false);
      this.log(`calling ${call.peer}`);
      await call.start();
    } catch (e) {
      this.log(`call: ${e.message}`);
    }
  }

  // A message from the peer's phone. An offer with no call here is an incoming call.
  async onSignal(message) {
    if (this.call && !this.call.ended && !this.answering) {
      this.call.signaling.onmessage(message);
      return;
    }
    if (this.answering) {
      this.inbox.push(message);
      return;
    }
    const incoming = message?.type === 'description' && message.description?.type === 'offer';
    if (!incoming || !this.autoAnswer) return;
    this.answering = true;
    this.inbox = [message];
    try {
      const call = await this.newCall(true);
      this.log(`answering ${call.peer}`);
      for (const m of this.inbox) call.signaling.onmessage(m);
      this.inbox = [];
      this.answering = false;
      await call.start();
    } catch (e) {
      this.answering = false;
      this.log(`answer: ${e.message}`);
    }
  }

  sendChat() {
    const input = this.$('chat-input');
    const text = input.value.trim();
    if (!text || !this.call) return;
    try {
      this.call.send(text);
      this.addChat(text, true);
      input.value = '';
    } catch (e) {
      this.log(`send: ${e.message}`);
    }
  }

  addChat(text, mine) {
    this.chat.push({ text, mine });
    const item = document.createElement('li');
    item.textContent = `${mine ? 'me' : (this.call?.peer ?? 'peer')}: ${text}`;
    if (mine) item.className = 'mine';
    this.$('chat-log').append(item);
  }

  render(status) {
    const user = this.$('user').value.trim();
    this.$('who').textContent = user || '—';
    const s = status ?? { phase: 'idle', indicator: null, notice: null, prompt: null, error: null };
    this.$('phase').textContent = PHASES[s.phase] ?? s.phase;
    this.root.dataset.state = s.phase;
    const indicator = this.$('indicator');
    indicator.textContent = s.indicator ?? '—';
    indicator.dataset.route = s.indicator ? s.indicator.toLowerCase() : 'none';
    const details = [];
    if (s.plan) details.push(`plan ${s.plan}`);
    if (s.sessionId) details.push(s.mode === 'turn' ? 'STUN + TURN' : 'STUN only');
    if (s.route) details.push(`route ${s.route}`);
    if (s.video) {
      details.push(s.video.allowed ? 'video on' : s.video.wanted ? 'audio-only for now' : 'audio');
    }
    this.$('details').textContent = details.join(' · ');
    const notice = this.$('notice');
    notice.hidden = !s.notice;
    notice.textContent = s.notice ?? '';
    const error = this.$('error');
    error.hidden = !s.error;
    error.textContent = s.error?.message ?? '';
    error.disabled = !s.error?.retryable;
    this.$('local-video').hidden = !s.video?.wanted;
    const modal = this.$('modal');
    modal.hidden = !s.prompt;
    this.$('modal-message').textContent = s.prompt?.message ?? MESSAGES.BLOCKED;
    const live = s.phase !== 'idle' && s.phase !== 'ended' && s.phase !== 'failed';
    this.$('call').disabled = live;
    this.$('hangup').disabled = !live;
  }
}

// --- signaling between phones ----------------------------------------------------------------

function wireInPage(a, b) {
  // Asynchronous, in order, like a network.
  const pipe = (to) => {
    let chain = Promise.resolve();
    return (message) => {
      const copy = JSON.parse(JSON.stringify(message));
      chain = chain.then(() => to.onSignal(copy));
    };
  };
  a.out = pipe(b);
  b.out = pipe(a);
}

function wireTabs(phone, user, peer) {
  const channel = new BroadcastChannel('callvault-demo');
  phone.out = (message) => channel.postMessage({ from: user, to: peer, message });
  channel.onmessage = (e) => {
    if (e.data?.to === user && e.data.from === peer) phone.onSignal(e.data.message);
  };
}

function wireExternal(phone) {
  phone.out = (message) => {
    if (typeof window.cvDemoSend === 'function') window.cvDemoSend(message);
  };
}

// --- start -----------------------------------------------------------------------------------

const params = new URLSearchParams(location.hash.slice(1));
const phones = [];
if (params.has('user')) {
  const user = params.get('user');
  const peer = params.get('peer') ?? '';
  const jwk = params.has('d')
    ? { kty: 'OKP', crv: 'Ed25519', x: params.get('x'), d: params.get('d') }
    : null;
  const phone = new Phone(0, {
    user,
    peer,
    jwk,
    video: params.get('video') === '1',
    callId: params.get('call') ?? user,
    autoAnswer: params.get('autoanswer') !== '0',
    baseUrl: params.get('base') ?? '',
    folded: true,
  });
  phones.push(phone);
  const signal = params.get('signal') ?? 'tab';
  if (signal === 'external') wireExternal(phone);
  else wireTabs(phone, user, peer);
  document.getElementById('mode-hint').textContent =
    `One phone (${user}), signaling: ${signal === 'external' ? 'by the test' : 'between tabs'}.`;
} else {
  const a = new Phone(0, { user: 'alice', peer: 'bob', callId: 'alice' });
  const b = new Phone(1, { user: 'bob', peer: 'alice', callId: 'bob' });
  phones.push(a, b);
  wireInPage(a, b);
}

// For tests and the console.
window.cvDemo = {
  ready: true,
  phones,
  status: (i = 0) => phones[i].call?.status ?? null,
  chat: (i = 0) => phones[i].chat,
  history: (i = 0) => phones[i].history,
  route: (i = 0) => phones[i].route ?? null,
  deliver: (message, i = 0) => phones[i].onSignal(message),
  async inboundVideoFrames(i = 0) {
    const pc = phones[i].call?.pc;
    if (!pc) return 0;
    let frames = 0;
    for (const s of (await pc.getStats()).values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') frames += s.framesDecoded ?? 0;
    }
    return frames;
  },
  videoDirection(i = 0) {
    return phones[i].call?.transceivers.video?.currentDirection ?? null;
  },
};
