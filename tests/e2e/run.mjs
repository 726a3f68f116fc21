// Runs one end-to-end case (tests/e2e/cases/<case>.test.mjs) on a network built for it, and
// tears the network down afterwards, whatever happened.
//
//   node tests/e2e/run.mjs --case free-restricted --bin build/bin --out build/e2e-screenshots
//
// 1. Skips (exit 77, which ctest reports as skipped) with the reason when the machine cannot
//    build the network (not root, no `ip netns`, no nftables) or has no Chromium or
//    playwright-core.
// 2. Removes namespaces that earlier runs, killed before they could clean up, left behind.
// 3. Builds the three namespaces (lib/netns.mjs): restrictive or open, as the case says.
// 4. Runs the case's test file with Node's test runner *inside the relay namespace*
//    (`ip netns exec <relay ns> node --test-reporter=spec <case>`): the test starts cvrelay and
//    cvadmin there and drives one Chromium in each client namespace.
// 5. After the case (or after the deadline, or on SIGINT/SIGTERM): kills what is left in the
//    namespaces, deletes them (their veths and nftables tables go with them).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { Topology, sweepStale, unavailableReason } from './lib/netns.mjs';

const SKIP = 77;
const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');

// Per case: the network, and how long the whole case may take (ctest's TIMEOUT is above it).
const CASES = {
  'free-restricted': { restrictive: true, deadlineS: 80 },
  'paid-restricted': { restrictive: true, deadlineS: 80 },
  'free-open': { restrictive: false, deadlineS: 80 },
};

const { values } = parseArgs({
  options: {
    case: { type: 'string' },
    bin: { type: 'string', default: join(repo, 'build/bin') },
    out: { type: 'string', default: join(repo, 'build/e2e-screenshots') },
    work: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const spec = CASES[values.case];
if (!spec) {
  console.error(`usage: run.mjs --case ${Object.keys(CASES).join('|')} [--bin DIR] [--out DIR]`);
  process.exit(2);
}

function skip(reason) {
  console.log(`SKIPPED: e2e ${values.case}: ${reason}`);
  process.exit(SKIP);
}

const chromium = process.env.CV_E2E_CHROMIUM || '/usr/bin/chromium';
if (!existsSync(chromium)) skip(`${chromium} is missing (scripts/setup.sh installs chromium)`);
if (!existsSync(join(here, 'node_modules/playwright-core/package.json'))) {
  skip('playwright-core is missing: run `npm ci --prefix tests/e2e` (scripts/test.sh does)');
}
for (const name of ['cvrelay', 'cvadmin', 'cvctl']) {
  if (!existsSync(join(values.bin, name))) {
    console.error(`e2e: ${join(values.bin, name)} is missing; build it first`);
    process.exit(1);
  }
}
const unavailable = unavailableReason();
if (unavailable) skip(unavailable);

sweepStale();
const topology = new Topology();
const work = resolve(
  values.work ?? join(values.out, '..', 'e2e-work', `${values.case}-${process.pid}`),
);
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true, mode: 0o700 });
mkdirSync(values.out, { recursive: true });

let child = null;
let cleaned = false;
function cleanUp() {
  if (cleaned) return;
  cleaned = true;
  if (child && child.exitCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  topology.destroy();
  if (!values.keep) rmSync(work, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`e2e: ${signal}: cleaning up`);
    cleanUp();
    process.exit(1);
  });
}
process.on('exit', cleanUp);

const started = Date.now();
try {
  topology.create({ restrictive: spec.restrictive });
} catch (e) {
  console.error(`e2e: ${e.message}`);
  process.exit(1);
}
console.log(
  `e2e ${values.case}: ${spec.restrictive ? 'restrictive' : 'open'} network ` +
    `${topology.namespaces.join(', ')}; screenshots in ${values.out}`,
);

// setpriv: the case dies with this process, even when this one is killed with SIGKILL (the
// processes the case starts die with it in turn); the namespaces then wait for the next sweep.
child = spawn(
  'setpriv',
  [
    '--pdeathsig',
    'SIGKILL',
    '--',
    'ip',
    'netns',
    'exec',
    topology.relay,
    process.execPath,
    '--test-reporter=spec',
    join(here, 'cases', `${values.case}.test.mjs`),
  ],
  {
    stdio: 'inherit',
    detached: true, // its own process group, killed as one at the deadline
    env: {
      ...process.env,
      CV_E2E_NS_RELAY: topology.relay,
      CV_E2E_NS_A: topology.a,
      CV_E2E_NS_B: topology.b,
      CV_E2E_BIN: resolve(values.bin),
      CV_E2E_OUT: resolve(values.out),
      CV_E2E_WORK: work,
      CV_E2E_REPO: repo,
      CV_E2E_DEADLINE_MS: String(spec.deadlineS * 1000 - 5000),
    },
  },
);
const deadline = setTimeout(() => {
  console.error(`e2e ${values.case}: over its ${spec.deadlineS} s deadline; stopping it`);
  cleanUp();
  process.exit(1);
}, spec.deadlineS * 1000);
child.on('exit', (code, signal) => {
  clearTimeout(deadline);
  const took = ((Date.now() - started) / 1000).toFixed(1);
  cleanUp();
  console.log(`e2e ${values.case}: ${code === 0 ? 'passed' : 'FAILED'} in ${took} s`);
  process.exit(code ?? (signal ? 1 : 0));
});
