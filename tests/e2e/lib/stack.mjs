// The relay side of an end-to-end test: a real cvrelay and a real cvadmin (each on its own real
// SQLite file), wired as scripts/run.sh wires them (shared TURN secret, stun-url/turn-url on the
// relay host's address, revocations to the relay's control endpoint), run inside the relay
// namespace by the test process, which lives there too. cvadmin serves the web client at
// https://10.77.0.1:8443/app/ (web-root, TLS with a certificate made here): the page and the
// client API share one origin, and the page is a secure context (WebCrypto needs one).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { CLIENT_NET, RELAY_IP } from './netns.mjs';

const run = promisify(execFile);

export const RELAY_PORT = 3478;
export const CONTROL_PORT = 9641;
export const CLIENT_API_PORT = 8443;
export const ADMIN_API_PORT = 9651;
export const ORIGIN = `https://${RELAY_IP}:${CLIENT_API_PORT}`;

function writePrivate(path, text) {
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Stack {
  constructor({ bin, work, repo }) {
    this.bin = bin;
    this.work = work;
    this.repo = repo;
    this.processes = [];
    this.relayToken = randomBytes(24).toString('hex');
    this.adminToken = randomBytes(24).toString('hex');
    this.secret = randomBytes(32).toString('hex');
  }

  get usageDb() {
    return join(this.work, 'usage.db');
  }

  async start() {
    mkdirSync(this.work, { recursive: true, mode: 0o700 });
    const w = (name) => join(this.work, name);
    writePrivate(w('relay-token'), `${this.relayToken}\n`);
    writePrivate(w('admin-token'), `${this.adminToken}\n`);
    writePrivate(w('cvctl-token'), `${this.adminToken}\n`);
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        w('tls-key.pem'),
        '-out',
        w('tls-cert.pem'),
        '-days',
        '1',
        '-subj',
        `/CN=${RELAY_IP}`,
        '-addext',
        `subjectAltName=IP:${RELAY_IP}`,
      ],
      { stdio: 'ignore' },
    );

    // The test network is private (10.77.0.0/16), which cvrelay refuses as a peer by default.
    writePrivate(
      w('cvrelay.conf'),
      [
        `listening-ip=${RELAY_IP}`,
        `listening-port=${RELAY_PORT}`,
        `relay-ip=${RELAY_IP}`,
        'min-port=49152',
        'max-port=49407',
        'realm=e2e.callvault.test',
        'use-auth-secret',
        `static-auth-secret=${this.secret}`,
        `allowed-peer-ip=${CLIENT_NET}`,
        `admin-port=${CONTROL_PORT}`,
        `admin-token-file=${w('relay-token')}`,
        `plans-file=${join(this.repo, 'config/plans.json')}`,
        `usage-db=${this.usageDb}`,
        'usage-checkpoint-interval=1',
        'node-id=e2e',
        'prometheus',
        'relay-threads=1',
        '',
      ].join('\n'),
    );
    writePrivate(
      w('cvadmin.conf'),
      [
        `listening-ip = ${RELAY_IP}`,
        `listening-port = ${CLIENT_API_PORT}`,
        `cert = ${w('tls-cert.pem')}`,
        `pkey = ${w('tls-key.pem')}`,
        `admin-port = ${ADMIN_API_PORT}`,
        `admin-token-file = ${w('admin-token')}`,
        `db = ${w('cvadmin.db')}`,
        `token-key-file = ${w('cvadmin-token-key.pem')}`,
        `plans-file = ${join(this.repo, 'config/plans.json')}`,
        `static-auth-secret = ${this.secret}`,
        `stun-url = stun:${RELAY_IP}:${RELAY_PORT}`,
        `turn-url = turn:${RELAY_IP}:${RELAY_PORT}?transport=udp`,
        `relay = e2e=http://127.0.0.1:${CONTROL_PORT}`,
        `relay-token-file = ${w('relay-token')}`,
        `usage-db = ${this.usageDb}`,
        `web-root = ${join(this.repo, 'clients/web')}`,
        '',
      ].join('\n'),
    );

    this.spawn('cvrelay', ['-c', w('cvrelay.conf')]);
    await this.waitFor('cvrelay', () => this.control('GET', '/v1/ready'));
    this.spawn('cvadmin', ['-c', w('cvadmin.conf')]);
    await this.waitFor('cvadmin', () => this.admin('GET', '/readyz'));
  }

  // Started with a parent-death signal: they go when the test process goes, whatever kills it.
  spawn(name, args) {
    const log = openSync(join(this.work, `${name}.log`), 'a');
    const child = spawn(
      'setpriv',
      ['--pdeathsig', 'SIGKILL', '--', join(this.bin, name), ...args],
      {
        stdio: ['ignore', log, log],
      },
    );
    closeSync(log);
    child.name = name;
    child.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    this.processes.push(child);
    return child;
  }

  log(name) {
    try {
      return readFileSync(join(this.work, `${name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  async waitFor(name, probe, ms = 15000) {
    const until = Date.now() + ms;
    let last = '';
    while (Date.now() < until) {
      const child = this.processes.find((p) => p.name === name);
      if (child && child.exitCode !== null) break;
      try {
        const r = await probe();
        if (r.status === 200) return;
        last = `HTTP ${r.status}`;
      } catch (e) {
        last = e.message;
      }
      await sleep(100);
    }
    throw new Error(`${name} did not become ready (${last}); its log:\n${this.log(name)}`);
  }

  async http(port, token, method, path, body) {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(5000),
    });
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      // Prometheus text
    }
    return { status: r.status, text, json };
  }

  control(method, path, body) {
    return this.http(CONTROL_PORT, this.relayToken, method, path, body);
  }

  admin(method, path, body) {
    return this.http(ADMIN_API_PORT, this.adminToken, method, path, body);
  }

  async cvctl(...args) {
    const { stdout } = await run(join(this.bin, 'cvctl'), [
      '--url',
      `http://127.0.0.1:${ADMIN_API_PORT}`,
      '--token-file',
      join(this.work, 'cvctl-token'),
      '--config',
      '/dev/null',
      '-o',
      'json',
      ...args,
    ]);
    return JSON.parse(stdout);
  }

  // A user with a fresh Ed25519 identity key, created by the operator's tool.
  async createUser(id, tier) {
    const { privateKey } = generateKeyPairSync('ed25519');
    const jwk = privateKey.export({ format: 'jwk' });
    const created = await this.cvctl('users', 'create', id, '--tier', tier, '--public-key', jwk.x);
    if (created.id !== id) throw new Error(`cvctl users create ${id}: ${JSON.stringify(created)}`);
    return { id, tier, x: jwk.x, d: jwk.d };
  }

  // A value from cvadmin's /metrics: the sample with exactly these labels, or 0 when absent.
  async adminMetric(name, labels = {}) {
    return metricValue((await this.admin('GET', '/metrics')).text, name, labels);
  }

  async relayCounters() {
    return (await this.control('GET', '/v1/counters')).json.counters;
  }

  async relayAllocations() {
    return (await this.control('GET', '/v1/allocations')).json.allocations;
  }

  // Rows of the relay's usage ledger (the SQLite file itself, read-only).
  async ledger(sql) {
    const { stdout } = await run('sqlite3', ['-readonly', '-json', this.usageDb, sql]);
    return stdout.trim() ? JSON.parse(stdout) : [];
  }

  async stop() {
    for (const p of this.processes) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    }
    let timer;
    await Promise.race([
      Promise.all(this.processes.map((p) => p.exited)),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 5000);
      }),
    ]);
    clearTimeout(timer);
    for (const p of this.processes) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  }
}

export function metricValue(text, name, labels) {
  const want = Object.entries(labels);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.keys(have).length === want.length && want.every(([k, v]) => have[k] === v)) {
      return Number(m[3]);
    }
  }
  return 0;
}

// The sum of a metric over every label set that includes `labels`.
export function metricSum(text, name, labels = {}) {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}
