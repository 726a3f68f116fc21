// The network the end-to-end tests build: three network namespaces joined by veth pairs.
//
//   ns <p>-a: browser A          ns <p>-r: relay host, router          ns <p>-b: browser B
//   eth0 10.77.1.2/24 ══ veth ══ va 10.77.1.1/24
//                                vb 10.77.2.1/24 ══════ veth ══════ eth0 10.77.2.2/24
//   default via 10.77.1.1        lo 10.77.0.1: cvrelay, cvadmin,       default via 10.77.2.1
//                                and the test process itself
//
// The relay namespace routes between the two client subnets (ip_forward=1 in it only). Its
// nftables table decides what kind of network this is:
//   restrictive: the forward chain drops (and counts) everything between the client subnets, so
//                each browser reaches the relay host (10.77.0.1) and nothing else;
//   open:        the forward chain accepts: the browsers reach each other directly.
// No NAT: on this network a client's server-reflexive address is its host address.
//
// Nothing is created in the root namespace: veth ends are made directly inside their namespaces,
// so addresses never collide with the host's or with another run's. Namespace names carry the
// owning process id (cve2e-<pid>-r/a/b); sweepStale() removes those of runs that no longer exist
// (a run killed with SIGKILL cannot clean up after itself), killing the processes left in them.
import { execFileSync } from 'node:child_process';

export const PREFIX = 'cve2e';
export const RELAY_IP = '10.77.0.1';
export const CLIENT_A_IP = '10.77.1.2';
export const CLIENT_B_IP = '10.77.2.2';
export const CLIENT_NET = '10.77.0.0/16';
const TABLE = 'cve2e';

function ip(...args) {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function inNs(ns, ...command) {
  return execFileSync('ip', ['netns', 'exec', ns, ...command], {
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function nft(ns, script) {
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], {
    input: script,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function listNamespaces() {
  let text = '';
  try {
    text = ip('netns', 'list');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter(Boolean);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

// Kills (SIGKILL, by pid) every process still inside `ns`, then removes it. Deleting the
// namespace removes its interfaces (and so their veth peers) and its nftables tables.
export function removeNamespace(ns) {
  let pids = [];
  try {
    pids = ip('netns', 'pids', ns).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // already gone
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
  for (let i = 0; i < 50; i++) {
    try {
      ip('netns', 'del', ns);
      return;
    } catch {
      if (!listNamespaces().includes(ns)) return;
      execFileSync('sleep', ['0.1']);
    }
  }
}

// Removes the namespaces of earlier runs whose process is gone.
export function sweepStale() {
  const pattern = new RegExp(`^${PREFIX}-(\\d+)-[a-z]$`);
  for (const ns of listNamespaces()) {
    const m = pattern.exec(ns);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) {
      console.error(`e2e: removing ${ns}, left by an earlier run (pid ${m[1]}) that is gone`);
      removeNamespace(ns);
    }
  }
}

// Why this machine cannot run the tests, or null when it can.
export function unavailableReason() {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'needs root (ip netns, veth, nftables)';
  }
  const probe = `${PREFIX}-${process.pid}-p`;
  try {
    ip('netns', 'add', probe);
  } catch (e) {
    return `ip netns is not available here: ${String(e.stderr || e.message).trim()}`;
  }
  try {
    inNs(probe, 'nft', 'list', 'tables');
  } catch (e) {
    return `nft does not work in a network namespace: ${String(e.stderr || e.message).trim()}`;
  } finally {
    removeNamespace(probe);
  }
  return null;
}

export class Topology {
  constructor(owner = process.pid) {
    this.relay = `${PREFIX}-${owner}-r`;
    this.a = `${PREFIX}-${owner}-a`;
    this.b = `${PREFIX}-${owner}-b`;
    this.restrictive = true;
  }

  get namespaces() {
    return [this.relay, this.a, this.b];
  }

  create({ restrictive }) {
    try {
      for (const ns of this.namespaces) {
        ip('netns', 'add', ns);
        inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
        // IPv4 only: no link-local IPv6 candidates to reason about.
        inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1');
        inNs(ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.default.disable_ipv6=1');
      }
      const r = this.relay;
      // The relay host's address, on the loopback device (no dummy module needed).
      inNs(r, 'ip', 'addr', 'add', `${RELAY_IP}/32`, 'dev', 'lo');
      for (const [ns, side, net] of [
        [this.a, 'va', '10.77.1'],
        [this.b, 'vb', '10.77.2'],
      ]) {
        ip('link', 'add', side, 'netns', r, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
        inNs(r, 'ip', 'addr', 'add', `${net}.1/24`, 'dev', side);
        inNs(r, 'ip', 'link', 'set', side, 'up');
        inNs(ns, 'ip', 'addr', 'add', `${net}.2/24`, 'dev', 'eth0');
        inNs(ns, 'ip', 'link', 'set', 'eth0', 'up');
        inNs(ns, 'ip', 'route', 'add', 'default', 'via', `${net}.1`);
      }
      inNs(r, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
      this.setRestrictive(restrictive);
    } catch (e) {
      this.destroy();
      throw new Error(`cannot build the test network: ${String(e.stderr || e.message).trim()}`);
    }
  }

  // Blocks (restrictive) or allows (open) traffic between the two client subnets.
  setRestrictive(restrictive) {
    this.restrictive = restrictive;
    const verdict = restrictive ? 'drop' : 'accept';
    nft(
      this.relay,
      `table inet ${TABLE}
delete table inet ${TABLE}
table inet ${TABLE} {
  counter direct_blocked {}
  chain forward {
    type filter hook forward priority filter; policy ${verdict};
    ip saddr 10.77.1.0/24 ip daddr 10.77.2.0/24 counter name direct_blocked ${verdict}
    ip saddr 10.77.2.0/24 ip daddr 10.77.1.0/24 counter name direct_blocked ${verdict}
  }
}
`,
    );
  }

  // Packets between the client subnets that the forward chain counted (dropped when restrictive).
  directPackets() {
    const text = inNs(this.relay, 'nft', '-j', 'list', 'counter', 'inet', TABLE, 'direct_blocked');
    const found = JSON.parse(text).nftables.find((o) => o.counter);
    return found ? found.counter.packets : 0;
  }

  destroy() {
    for (const ns of this.namespaces) removeNamespace(ns);
  }
}
