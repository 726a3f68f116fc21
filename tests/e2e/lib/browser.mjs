// Headless Chromium (Debian's /usr/bin/chromium) inside a network namespace, driven by
// playwright-core. Playwright talks to the browser over a pipe, so the browser can live in
// another namespace than the test: it is started through a small wrapper script that runs
// `ip netns exec NS setpriv --pdeathsig SIGKILL /usr/bin/chromium "$@"` (the browser dies with
// the process that started it, even when that one is killed).
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CV_E2E_CHROMIUM || '/usr/bin/chromium';

// Flags, and why:
//   --disable-features=WebRtcHideLocalIpsWithMdns: Chromium replaces host candidates by random
//     *.local names that only multicast DNS resolves; multicast does not cross the router of the
//     test network, so on the open network two browsers could not learn each other's address.
//     (An app that has camera or microphone permission gets real host candidates anyway.)
//   --use-fake-ui-for-media-stream, --use-fake-device-for-media-stream: getUserMedia grants
//     itself and gives a test tone and a test pattern, so media really flows.
//   --ignore-certificate-errors: cvadmin serves the page over TLS with a certificate the test
//     makes (WebCrypto needs a secure context; a plain-http IP origin is not one).
const FLAGS = [
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--ignore-certificate-errors',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
];

export function writeWrapper(dir, ns) {
  const path = join(dir, `chromium-in-${ns}.sh`);
  writeFileSync(
    path,
    `#!/bin/sh\nexec ip netns exec '${ns}' setpriv --pdeathsig SIGKILL '${CHROMIUM}' "$@"\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

export async function launchIn(dir, ns) {
  return chromium.launch({
    executablePath: writeWrapper(dir, ns),
    headless: true,
    chromiumSandbox: false, // --no-sandbox: the tests run as root
    args: FLAGS,
    timeout: 30000,
  });
}
