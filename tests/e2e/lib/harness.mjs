// What every case shares: the places run.mjs passed in the environment, the stack and the two
// phones, started in order and always stopped in reverse order.
import assert from 'node:assert/strict';
import { join } from 'node:path';

import { closePhones, openPhones, screenshot } from './pages.mjs';
import { Topology } from './netns.mjs';
import { Stack } from './stack.mjs';

export const env = {
  relayNs: process.env.CV_E2E_NS_RELAY,
  nsA: process.env.CV_E2E_NS_A,
  nsB: process.env.CV_E2E_NS_B,
  bin: process.env.CV_E2E_BIN,
  out: process.env.CV_E2E_OUT,
  work: process.env.CV_E2E_WORK,
  repo: process.env.CV_E2E_REPO,
  deadlineMs: Number(process.env.CV_E2E_DEADLINE_MS || 70000),
};

if (!env.relayNs || !env.work) {
  throw new Error('run the cases through tests/e2e/run.mjs (it builds their network)');
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The topology run.mjs built (same names; the test can read its counters).
export function topology() {
  const t = new Topology();
  t.relay = env.relayNs;
  t.a = env.nsA;
  t.b = env.nsB;
  return t;
}

// Runs `body({stack, phones, users, shot})` with cvrelay + cvadmin up, the users created through
// cvctl, and one demo page per client namespace; tears everything down after it.
export async function withCall({ tiers, video, name }, body) {
  const stack = new Stack({ bin: env.bin, work: join(env.work, 'stack'), repo: env.repo });
  let phones = [];
  try {
    await stack.start();
    const users = [
      await stack.createUser('alice', tiers[0]),
      await stack.createUser('bob', tiers[1]),
    ];
    phones = await openPhones({
      dir: env.work,
      screenshots: env.out,
      namespaces: [env.nsA, env.nsB],
      users,
      video,
    });
    const shot = (phone, state) => screenshot(phone, env.out, `${name}-${phone.user.id}-${state}`);
    await body({ stack, phones, users, shot });
  } catch (e) {
    const logs = ['cvrelay', 'cvadmin']
      .map((n) => `--- ${n} log (tail):\n${stack.log(n).split('\n').slice(-25).join('\n')}`)
      .join('\n');
    e.message += `\n${logs}`;
    throw e;
  } finally {
    await closePhones(phones);
    await stack.stop();
  }
}

// Both pages approve each other as contacts (Free calls need it), through their signed requests.
export async function approveEachOther(phones) {
  for (const p of phones) await p.role('approve').click();
  for (const p of phones) {
    await p.root.locator('[data-role="log"]', { hasText: 'approved' }).waitFor({ timeout: 10000 });
  }
}

// Texts both ways over the call's data channel, typed and sent through the page's UI.
export async function chatBothWays(phones) {
  const texts = [`hello from ${phones[0].user.id}`, `hello from ${phones[1].user.id}`];
  for (let i = 0; i < 2; i++) {
    await phones[i].page.waitForFunction(
      () => window.cvDemo.phones[0].call?.dataChannel?.readyState === 'open',
      null,
      { timeout: 10000 },
    );
  }
  for (let i = 0; i < 2; i++) {
    await phones[i].role('chat-input').fill(texts[i]);
    await phones[i].role('chat-send').click();
  }
  for (let i = 0; i < 2; i++) {
    const other = phones[1 - i];
    await other.page.waitForFunction(
      (text) => window.cvDemo.chat(0).some((m) => !m.mine && m.text === text),
      texts[i],
      { timeout: 10000 },
    );
  }
}

// Waits until both pages decoded video frames from each other and show them in their remote
// video element.
export async function videoFlowsBothWays(phones, timeoutMs = 15000) {
  const state = async () => {
    const v = document.querySelector('[data-phone="0"] [data-role="remote-video"]');
    const tracks = v.srcObject ? v.srcObject.getVideoTracks() : [];
    return {
      frames: await window.cvDemo.inboundVideoFrames(0),
      readyState: v.readyState,
      width: v.videoWidth,
      paused: v.paused,
      tracks: tracks.map((t) => [t.readyState, t.muted]),
      direction: window.cvDemo.videoDirection(0),
    };
  };
  for (const p of phones) {
    const until = Date.now() + timeoutMs;
    let last = null;
    for (;;) {
      last = await p.page.evaluate(state);
      if (last.frames > 5 && last.readyState >= 2 && last.width > 0) break;
      if (Date.now() > until) {
        throw new Error(`${p.label}: no remote video shown: ${JSON.stringify(last)}`);
      }
      await sleep(250);
    }
  }
}

export async function visibleText(locator) {
  assert.equal(await locator.isVisible(), true, 'visible');
  return (await locator.innerText()).trim();
}
