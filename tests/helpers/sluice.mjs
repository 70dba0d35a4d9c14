// Starts the real Sluice Worker with `wrangler dev` (local, offline) for the integration tests.
//
//   const sluice = await startSluice();          // fresh temp persist dir, migrations applied
//   const r = await sluice.api('GET', '/v1/tenants');   // {status, headers, json, text}
//   await sluice.restart({ signal: 'SIGKILL' }); // same persist dir, new process
//   await sluice.stop();                      // or dispose(): stop + delete the temp persist dir
//
// build/index.js must already exist (scripts/build.sh); SLUICE_SKIP_BUILD=1 keeps wrangler's
// [build] command from rebuilding.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { startReceiver } from './receiver.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ADMIN_KEY = 'sluice-dev-admin-key';
const WRANGLER = path.join(REPO_ROOT, 'node_modules', '.bin', 'wrangler');
const ARTIFACTS = path.join(REPO_ROOT, 'tests', 'artifacts');

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function wranglerEnv(extra = {}) {
  return {
    ...process.env,
    WRANGLER_SEND_METRICS: 'false',
    WRANGLER_SEND_ERROR_REPORTS: 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    SLUICE_SKIP_BUILD: '1',
    CI: 'true',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    ...extra,
  };
}

function ensureDevVars() {
  const devVars = path.join(REPO_ROOT, '.dev.vars');
  if (!fs.existsSync(devVars)) {
    const example = path.join(REPO_ROOT, '.dev.vars.example');
    try {
      // COPYFILE_EXCL: a concurrent copy by another test file is fine.
      fs.copyFileSync(example, devVars, fs.constants.COPYFILE_EXCL);
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
  }
}

function tail(text, lines = 60) {
  return text.split('\n').slice(-lines).join('\n');
}

async function applyMigrations(persistDir, root = REPO_ROOT) {
  return new Promise((resolve, reject) => {
    execFile(
      WRANGLER,
      ['d1', 'migrations', 'apply', 'sluice', '--local', '--persist-to', persistDir],
      { cwd: root, env: wranglerEnv(), timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new Error(
              `wrangler d1 migrations apply failed: ${err.message}\n--- stdout\n${tail(stdout)}\n--- stderr\n${tail(stderr)}`,
            ),
          );
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

export class Sluice {
  constructor({ name = 'sluice', persistDir, vars = {}, root = REPO_ROOT, extraArgs = [] }) {
    this.extraArgs = extraArgs;
    this.name = name;
    this.root = root; // repo root (cwd for wrangler); overridable for harness self-tests
    this.persistDir = persistDir;
    // Most tests publish to ad-hoc topics; the catalogue test turns this off.
    // Metrics reach D1 after every scheduler run here (a minute apart in production), so that
    // tests can read them at once.
    this.vars = {
      ALLOW_PRIVATE_DESTINATIONS: 'true',
      REQUIRE_HTTPS: 'false',
      ALLOW_UNKNOWN_TOPICS: 'true',
      METRICS_FLUSH_SECONDS: '0',
      ...vars,
    };
    this.proc = null;
    this.port = null;
    this.log = '';
    this.logFile = null;
    this.exited = null; // promise resolved with {code, signal} when the process exits
    this.starts = 0;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  logTail(lines = 60) {
    return tail(this.log, lines);
  }

  async start() {
    if (this.proc) throw new Error('sluice already running');
    if (this.root === REPO_ROOT && !fs.existsSync(path.join(REPO_ROOT, 'build', 'index.js'))) {
      throw new Error('build/index.js is missing: run scripts/build.sh first');
    }
    this.port = await freePort();
    const inspectorPort = await freePort();
    this.inspectorPort = inspectorPort; // wrangler's inspector (bench/profile.mjs attaches to it)
    this.starts += 1;
    const args = [
      'dev',
      '--ip', '127.0.0.1',
      '--port', String(this.port),
      '--inspector-port', String(inspectorPort),
      '--persist-to', this.persistDir,
      '--show-interactive-dev-session=false',
      '--log-level', 'log',
    ];
    for (const [k, v] of Object.entries(this.vars)) args.push('--var', `${k}:${v}`);
    args.push(...this.extraArgs);

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    this.logFile = path.join(ARTIFACTS, `${this.name}.log`);
    const logStream = fs.createWriteStream(this.logFile, { flags: this.starts === 1 ? 'w' : 'a' });
    const header = `\n===== start #${this.starts} port=${this.port} persist=${this.persistDir} at ${new Date().toISOString()}\n`;
    logStream.write(header);
    this.log += header;

    const proc = spawn(WRANGLER, args, {
      cwd: this.root,
      env: wranglerEnv(),
      detached: true, // own process group: stop() kills wrangler and its workerd children
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    const onData = (chunk) => {
      const s = chunk.toString();
      this.log += s;
      if (this.log.length > 2_000_000) this.log = this.log.slice(-1_000_000);
      logStream.write(s);
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        const line = `\n===== wrangler exited code=${code} signal=${signal}\n`;
        this.log += line;
        logStream.end(line);
        resolve({ code, signal });
      });
    });

    const deadline = Date.now() + 60_000;
    let exitedEarly = null;
    this.exited.then((e) => (exitedEarly = e));
    for (;;) {
      if (exitedEarly) {
        this.proc = null;
        throw new Error(
          `wrangler dev exited before /healthz answered (${JSON.stringify(exitedEarly)}); log tail:\n${this.logTail()}`,
        );
      }
      try {
        const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        if (res.status === 200) return this;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`sluice did not answer GET /healthz 200 within 60 s; log tail:\n${this.logTail()}`);
      }
      await sleep(200);
    }
  }

  /** SIGTERM (or `signal`) to the whole process group, SIGKILL after 5 s. */
  async stop({ signal = 'SIGTERM' } = {}) {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    const kill = (sig) => {
      try {
        process.kill(-proc.pid, sig);
      } catch {
        try {
          proc.kill(sig);
        } catch {
          // already gone
        }
      }
    };
    kill(signal);
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(5000).then(() => true)]);
    if (timedOut) {
      kill('SIGKILL');
      await Promise.race([this.exited, sleep(5000)]);
    }
    // workerd children may outlive wrangler for a moment; make sure the group is gone.
    kill('SIGKILL');
  }

  /** stop(), then delete the persist dir if startSluice() created it. */
  async dispose() {
    await this.stop();
    if (this.ownsPersistDir) await fsp.rm(this.persistDir, { recursive: true, force: true });
  }

  /** Stop and start again over the same persist dir. */
  async restart({ signal = 'SIGTERM' } = {}) {
    await this.stop({ signal });
    await this.start();
    return this;
  }

  /**
   * HTTP call to the API. `body` is JSON-encoded unless `rawBody` is given.
   * `key: null` sends no Authorization header; `key: 'x'` sends `Bearer x`.
   */
  async api(method, urlPath, body, { key = ADMIN_KEY, headers = {}, rawBody } = {}) {
    const h = {};
    if (key !== null) h.authorization = `Bearer ${key}`;
    let payload;
    if (rawBody !== undefined) {
      payload = rawBody;
      h['content-type'] = 'application/json';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      h['content-type'] = 'application/json';
    }
    Object.assign(h, headers);
    const res = await fetch(`${this.url}${urlPath}`, {
      method,
      headers: h,
      body: payload,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: res.status, headers: res.headers, json, text };
  }

  /** Like api() but throws (with the body) unless the status is `expected`. */
  async apiOk(method, urlPath, body, expected, opts) {
    const r = await this.api(method, urlPath, body, opts);
    const want = expected ?? (method === 'POST' ? [200, 201, 202] : [200, 204]);
    const wants = Array.isArray(want) ? want : [want];
    if (!wants.includes(r.status)) {
      throw new Error(`${method} ${urlPath} -> ${r.status} (wanted ${wants.join('|')}): ${r.text}`);
    }
    return r;
  }
}

/** Fresh temp persist dir, migrations applied, `wrangler dev` running and healthy. */
export async function startSluice({ name = 'sluice', persistDir, vars, root = REPO_ROOT, extraArgs = [] } = {}) {
  if (root === REPO_ROOT) ensureDevVars();
  const dir = persistDir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), `sluice-${name}-`)));
  await applyMigrations(dir, root);
  const s = new Sluice({ name, persistDir: dir, vars, root, extraArgs });
  s.ownsPersistDir = persistDir === undefined;
  await s.start();
  return s;
}

let counter = 0;
/**
 * The usual test file: one Sluice for the whole file, started before its tests and stopped
 * after them with every receiver the file made through `newReceiver()`.
 *   const suite = sluiceSuite('name');   // suite.sluice inside tests
 */
export function sluiceSuite(name, options = {}) {
  const suite = {
    sluice: null,
    receivers: [],
    async newReceiver(receiverOptions) {
      const rx = await startReceiver(receiverOptions);
      suite.receivers.push(rx);
      return rx;
    },
  };
  before(async () => {
    suite.sluice = await startSluice({ name, ...options });
  }, { timeout: 120_000 });
  after(async () => {
    for (const rx of suite.receivers) await rx.close();
    if (suite.sluice) await suite.sluice.dispose();
  });
  return suite;
}

export function uniqueId(prefix = 't') {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/**
 * Creates a tenant and a webhook destination pointing at `receiver` (or `url`).
 * Options: tenantId, retry, circuit_breaker, timeout_ms, topics, headers, auth, signing, name.
 * Returns { tenantId, tenant, destination, destinationId, secret, base } where base is the
 * destination's API path.
 */
export async function createWebhook(sluice, receiver, opts = {}) {
  const tenantId = opts.tenantId ?? uniqueId('t');
  // `existingTenant: true` adds the destination to `tenantId` as it is.
  const t = opts.existingTenant
    ? await sluice.api('GET', `/v1/tenants/${tenantId}`)
    : await sluice.api('POST', '/v1/tenants', { id: tenantId, name: `tenant ${tenantId}` });
  if (t.status !== (opts.existingTenant ? 200 : 201)) throw new Error(`tenant ${tenantId} -> ${t.status}: ${t.text}`);

  const config = { url: opts.url ?? receiver.url };
  if (opts.headers) config.headers = opts.headers;
  if (opts.auth) config.auth = opts.auth;
  if (opts.signing) config.signing = opts.signing;
  if (opts.cloudevents) config.cloudevents = opts.cloudevents;
  const body = { type: 'webhook', config };
  for (const k of ['name', 'topics', 'retry', 'circuit_breaker', 'timeout_ms', 'disable_after_failures', 'rate_limit', 'max_in_flight']) {
    if (opts[k] !== undefined) body[k] = opts[k];
  }
  const d = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, body);
  if (d.status !== 201) throw new Error(`create destination -> ${d.status}: ${d.text}`);
  return {
    tenantId,
    tenant: t.json,
    destination: d.json,
    destinationId: d.json.id,
    secret: d.json.signing_secret,
    base: `/v1/tenants/${tenantId}/destinations/${d.json.id}`,
  };
}

/** POST /v1/publish; throws unless 202. Returns the JSON body. */
export async function publish(sluice, tenantId, topic, data, extra = {}) {
  const r = await sluice.api('POST', '/v1/publish', { tenant_id: tenantId, topic, data, ...extra });
  if (r.status !== 202) throw new Error(`publish -> ${r.status}: ${r.text}`);
  return r.json;
}

/** Poll `fn` until it returns a truthy value; returns that value. */
export async function eventually(fn, timeoutMs = 10_000, { intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${detail}`);
    }
    await sleep(intervalMs);
  }
}

/**
 * Checks an error answer: status (number or predicate), content-type application/problem+json,
 * body {type:"/problems/<slug>", title, status}. Returns the parsed problem.
 */
export function checkProblem(r, status, slug, context = '') {
  const where = `${context ? context + ': ' : ''}got ${r.status} ${r.text.slice(0, 500)}`;
  if (typeof status === 'function') {
    if (!status(r.status)) throw new Error(`unexpected status; ${where}`);
  } else if (r.status !== status) {
    throw new Error(`expected status ${status}; ${where}`);
  }
  const ct = r.headers.get('content-type') ?? '';
  if (!ct.startsWith('application/problem+json')) {
    throw new Error(`expected content-type application/problem+json, got "${ct}"; ${where}`);
  }
  const p = r.json;
  if (!p || typeof p !== 'object') throw new Error(`problem body is not JSON; ${where}`);
  if (p.status !== r.status) throw new Error(`problem.status ${p.status} != HTTP status; ${where}`);
  if (typeof p.title !== 'string') throw new Error(`problem.title missing; ${where}`);
  if (slug && p.type !== `/problems/${slug}`) {
    throw new Error(`expected type /problems/${slug}; ${where}`);
  }
  if (!slug && !/^\/problems\/[a-z-]+$/.test(p.type ?? '')) {
    throw new Error(`problem.type malformed; ${where}`);
  }
  return p;
}
