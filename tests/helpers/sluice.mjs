// Starts the real Sluice Worker on Miniflare's API (local workerd, offline) for the
// integration tests and the bench: one workerd per Sluice, no dev proxy, no wrangler process.
//
//   const sluice = await startSluice();          // fresh temp persist dir, migrations applied
//   const r = await sluice.api('GET', '/v1/tenants');   // {status, headers, json, text}
//   await sluice.restart({ signal: 'SIGKILL' }); // same persist dir, new runtime process
//   await sluice.stop();                      // or dispose(): stop + delete the temp persist dir
//
// The runtime is a child node process (tests/helpers/runtime.mjs) that runs Miniflare, and
// Miniflare runs workerd: both in one process group, so a SIGKILL ends them at once and the
// next start finds the persisted D1 and Durable Object state as a crash left it. The worker
// options (bindings, vars and .dev.vars, assets) come from wrangler's
// unstable_getMiniflareWorkerOptions(wrangler.toml), computed once per config here.
//
// build/entry.mjs and build/index.js must already exist (scripts/build.sh).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { startReceiver } from './receiver.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ADMIN_KEY = 'sluice-dev-admin-key';
const RUNTIME = path.join(path.dirname(fileURLToPath(import.meta.url)), 'runtime.mjs');
const ARTIFACTS = path.join(REPO_ROOT, 'tests', 'artifacts');
// What `wrangler d1 migrations apply` creates to remember what it applied.
const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS d1_migrations(
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		name       TEXT UNIQUE,
		applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
);`;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
// A timer that does not keep the process alive (for races against a process's exit).
const unrefSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref());

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

const runtimeConfigs = new Map(); // config path -> promise of what the runtime needs from it

/**
 * From a wrangler config: Miniflare's worker options (wrangler's own mapping of the bindings,
 * vars with .dev.vars, assets), the script, and the D1 migrations split into statements by
 * wrangler's splitter, as `wrangler d1 migrations apply` would run them.
 */
function runtimeConfig(configPath) {
  if (!runtimeConfigs.has(configPath)) {
    runtimeConfigs.set(configPath, (async () => {
      process.env.WRANGLER_SEND_METRICS ??= 'false';
      process.env.WRANGLER_SEND_ERROR_REPORTS ??= 'false';
      process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
      const wrangler = await import('wrangler');
      const { workerOptions, main } = wrangler.unstable_getMiniflareWorkerOptions(configPath);
      const config = wrangler.unstable_readConfig({ config: configPath });
      const db = config.d1_databases[0];
      const dir = path.resolve(path.dirname(configPath), db.migrations_dir ?? 'migrations');
      const migrations = fs.readdirSync(dir).filter((f) => f.endsWith('.sql')).sort().map((name) => ({
        name,
        statements: wrangler.unstable_splitSqlQuery(
          `${fs.readFileSync(path.join(dir, name), 'utf8')}\nINSERT INTO d1_migrations (name) values ('${name}');\n`,
        ),
      }));
      return { workerOptions, main, name: config.name, d1Binding: db.binding, migrations };
    })());
  }
  return runtimeConfigs.get(configPath);
}

export class Sluice {
  /**
   * config: the wrangler config (default wrangler.toml); script: another entry module than
   * its `main` (the bench's counting wrapper); inspector: open workerd's V8 inspector on
   * `inspectorPort` (bench/profile.mjs). The cron runs on demand: scheduled(cron).
   */
  constructor({ name = 'sluice', persistDir, vars = {}, root = REPO_ROOT, config, script, inspector = false }) {
    this.name = name;
    this.root = root; // repo root; overridable for harness self-tests
    this.configPath = path.resolve(root, config ?? 'wrangler.toml');
    this.script = script;
    this.inspector = inspector;
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
    this.inspectorPort = null;
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
    const rc = await runtimeConfig(this.configPath);
    const scriptPath = this.script ? path.resolve(this.root, this.script) : rc.main;
    if (!fs.existsSync(scriptPath)) {
      throw new Error(`${scriptPath} is missing: run scripts/build.sh first`);
    }
    this.port = await freePort();
    this.inspectorPort = this.inspector ? await freePort() : null;
    this.starts += 1;
    const options = {
      name: rc.name,
      port: this.port,
      inspectorPort: this.inspectorPort,
      persistDir: this.persistDir,
      modulesRoot: this.root,
      scriptPath,
      workerOptions: { ...rc.workerOptions, bindings: { ...rc.workerOptions.bindings, ...this.vars } },
      d1Binding: rc.d1Binding,
      migrationsTable: MIGRATIONS_TABLE,
      migrations: rc.migrations,
    };

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    this.logFile = path.join(ARTIFACTS, `${this.name}.log`);
    const logStream = fs.createWriteStream(this.logFile, { flags: this.starts === 1 ? 'w' : 'a' });
    const header = `\n===== start #${this.starts} port=${this.port} persist=${this.persistDir} at ${new Date().toISOString()}\n`;
    logStream.write(header);
    this.log += header;

    const proc = spawn(process.execPath, [RUNTIME], {
      cwd: this.root,
      env: { ...process.env, SLUICE_RUNTIME_OPTIONS: JSON.stringify(options), NO_COLOR: '1', FORCE_COLOR: '0' },
      detached: true, // own process group: stop() kills node and its workerd at once
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.proc = proc;
    this.calls = new Map(); // IPC requests waiting for their answer, by id
    proc.on('message', (m) => {
      const call = this.calls.get(m.id);
      this.calls.delete(m.id);
      if (call) call(m);
    });
    let ready;
    let isUp = false;
    const isReady = new Promise((resolve) => (ready = resolve));
    const onData = (chunk) => {
      const s = chunk.toString();
      this.log += s;
      if (this.log.length > 2_000_000) this.log = this.log.slice(-1_000_000);
      logStream.write(s);
      if (!isUp && this.log.includes('SLUICE_RUNTIME_READY')) {
        isUp = true;
        ready(true);
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        const line = `\n===== runtime exited code=${code} signal=${signal}\n`;
        this.log += line;
        logStream.end(line);
        resolve({ code, signal });
      });
    });
    // The ready line of this start only: the log holds the earlier starts' too.
    this.log = this.log.replaceAll('SLUICE_RUNTIME_READY', 'SLUICE_RUNTIME_WAS_READY');

    const outcome = await Promise.race([
      isReady,
      this.exited.then((e) => ({ exited: e })),
      unrefSleep(60_000).then(() => ({ timeout: true })),
    ]);
    if (outcome === true) return this;
    if (outcome.exited) {
      this.proc = null;
      throw new Error(`the runtime exited before it was ready (${JSON.stringify(outcome.exited)}); log tail:\n${this.logTail()}`);
    }
    await this.stop();
    throw new Error(`the runtime was not ready within 60 s; log tail:\n${this.logTail()}`);
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
    const timedOut = await Promise.race([this.exited.then(() => false), unrefSleep(5000).then(() => true)]);
    if (timedOut) {
      kill('SIGKILL');
      await Promise.race([this.exited, unrefSleep(5000)]);
    }
    // workerd may outlive its node parent for a moment; make sure the group is gone.
    kill('SIGKILL');
  }

  /**
   * Runs the Worker's scheduled handler for `cron` now, as the cron trigger would. Answers
   * like wrangler's /__scheduled did: a Response, 200 "ok" or 500 with the outcome.
   */
  async scheduled(cron) {
    if (!this.proc) throw new Error('sluice is not running');
    const id = (this.nextCall = (this.nextCall ?? 0) + 1);
    const answer = new Promise((resolve) => this.calls.set(id, resolve));
    this.proc.send({ id, scheduled: cron });
    const m = await Promise.race([answer, this.exited.then(() => ({ error: 'the runtime exited' }))]);
    if (m.error) return new Response(m.error, { status: 500 });
    return new Response(m.result.outcome, { status: m.result.outcome === 'ok' ? 200 : 500 });
  }

  /**
   * Posts `body` straight to the Durable Object `name` of `binding`, past the Worker (a
   * message as another version of the Worker would send it). Answers {status, text}.
   */
  async objectMessage(binding, name, body) {
    if (!this.proc) throw new Error('sluice is not running');
    const id = (this.nextCall = (this.nextCall ?? 0) + 1);
    const answer = new Promise((resolve) => this.calls.set(id, resolve));
    this.proc.send({ id, object: { binding, name, body } });
    const m = await Promise.race([answer, this.exited.then(() => ({ error: 'the runtime exited' }))]);
    if (m.error) throw new Error(m.error);
    return m.result;
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
    const res = await this.request(method, urlPath, h, payload);
    let json = null;
    try {
      json = res.text ? JSON.parse(res.text) : null;
    } catch {
      json = null;
    }
    return { status: res.status, headers: res.headers, json, text: res.text };
  }

  /**
   * One HTTP exchange on a connection of its own (Connection: close). workerd now and then
   * closes a kept-alive inbound connection under load while a request waits on it (undici's
   * pooled fetch then fails with "other side closed" or ECONNRESET after a few seconds; the
   * old harness met the same as wrangler dev proxy's 503s). A new connection per call costs
   * little on 127.0.0.1 and has not met it.
   */
  request(method, urlPath, headers, payload) {
    const body = payload === undefined ? undefined : Buffer.from(payload);
    const h = { ...headers };
    if (body !== undefined) h['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.url}${urlPath}`, { method, headers: h, agent: false, timeout: 30_000 }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const out = new Headers();
          for (let n = 0; n < res.rawHeaders.length; n += 2) out.append(res.rawHeaders[n], res.rawHeaders[n + 1]);
          resolve({ status: res.statusCode, headers: out, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer within 30 s`)));
      req.on('error', (err) => reject(new Error(`${method} ${urlPath}: ${err.message}`, { cause: err })));
      req.end(body);
    });
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

/** Fresh temp persist dir (unless given), migrations applied, Sluice running. */
export async function startSluice({ name = 'sluice', persistDir, ...options } = {}) {
  if ((options.root ?? REPO_ROOT) === REPO_ROOT) ensureDevVars();
  const dir = persistDir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), `sluice-${name}-`)));
  const s = new Sluice({ name, persistDir: dir, ...options });
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
  for (const k of ['name', 'topics', 'retry', 'circuit_breaker', 'timeout_ms', 'disable_after_failures', 'rate_limit', 'max_in_flight', 'lanes']) {
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
