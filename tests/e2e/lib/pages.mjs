// Two phones of the demo page (clients/web/demo), each in a headless Chromium of its own client
// namespace, loaded from cvadmin (same origin as the client API). Signaling is carried by the
// test: each page calls window.cvDemoSend(message) (an exposed function), and the test hands the
// message to the other page's window.cvDemo.deliver, in order.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { launchIn } from './browser.mjs';
import { ORIGIN } from './stack.mjs';

export class Phone {
  constructor(browser, page, user, label) {
    this.browser = browser;
    this.page = page;
    this.user = user;
    this.label = label;
    this.console = [];
    this.root = page.locator('[data-phone="0"]');
  }

  role(name) {
    return this.root.locator(`[data-role="${name}"]`);
  }

  status() {
    return this.page.evaluate(() => window.cvDemo.status(0));
  }

  // Waits until `predicate(status)` holds (polling the page), or fails with the last status.
  async waitFor(what, predicate, timeoutMs) {
    const until = Date.now() + timeoutMs;
    let status = null;
    while (Date.now() < until) {
      status = await this.status();
      if (status && predicate(status)) return status;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(
      `${this.label}: no ${what} within ${timeoutMs} ms; status: ${JSON.stringify(status)}\n` +
        `page log:\n${this.console.slice(-30).join('\n')}\n` +
        `demo log:\n${(
          await this.role('log')
            .innerText()
            .catch(() => '')
        ).slice(0, 2000)}`,
    );
  }
}

export async function openPhones({ dir, screenshots, namespaces, users, video }) {
  mkdirSync(screenshots, { recursive: true });
  const phones = [];
  try {
    for (let i = 0; i < 2; i++) {
      const user = users[i];
      const peer = users[1 - i];
      const browser = await launchIn(dir, namespaces[i]);
      const context = await browser.newContext({ viewport: { width: 470, height: 900 } });
      const page = await context.newPage();
      const phone = new Phone(browser, page, user, `${user.id} (${namespaces[i]})`);
      page.on('console', (m) => phone.console.push(`[${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => phone.console.push(`[pageerror] ${e.message}`));
      phones.push(phone);
      const fragment = new URLSearchParams({
        user: user.id,
        peer: peer.id,
        x: user.x,
        d: user.d,
        call: user.id,
        video: video ? '1' : '0',
        signal: 'external',
      });
      await page.goto(`${ORIGIN}/app/demo/#${fragment}`);
      await page.waitForFunction(() => window.cvDemo?.ready === true, null, { timeout: 15000 });
    }
    // Signaling: in order, one direction at a time each.
    for (let i = 0; i < 2; i++) {
      const to = phones[1 - i];
      let chain = Promise.resolve();
      await phones[i].page.exposeFunction('cvDemoSend', (message) => {
        chain = chain
          .then(() => to.page.evaluate((m) => window.cvDemo.deliver(m), message))
          .catch((e) => to.console.push(`[signaling] ${e.message}`));
      });
    }
    return phones;
  } catch (e) {
    await closePhones(phones);
    throw e;
  }
}

export async function closePhones(phones) {
  await Promise.all(phones.map((p) => p.browser.close().catch(() => {})));
}

export async function screenshot(phone, dir, name) {
  const path = join(dir, `${name}.png`);
  await phone.page.screenshot({ path, fullPage: true });
  return path;
}
