// A private RabbitMQ node with the management plugin, on 127.0.0.1 only, for the `rabbitmq`
// destination tests: Debian's rabbitmq-server (installed by scripts/backends.sh) run directly,
// without systemd, with its own temp dirs, ports, Erlang cookie (HOME) and epmd. Small
// clients for the management HTTP API to set up exchanges and queues and read messages back.
//
//   const rabbit = await startRabbitMq();   // rabbit.url, rabbit.startupMs
//   await rabbit.api('PUT', '/api/queues/%2F/q', { durable: true });
//   await rabbit.stop();                    // kills the node and its epmd, deletes the dirs

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, sleep } from './sluice.mjs';

// Debian's /usr/sbin/rabbitmq-server switches to the `rabbitmq` user and its system dirs;
// the script it wraps takes everything from the environment.
const SERVER = process.env.RABBITMQ_SERVER ?? '/usr/lib/rabbitmq/bin/rabbitmq-server';
const STARTUP_TIMEOUT_MS = 90_000;

const enc = encodeURIComponent;

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export async function startRabbitMq() {
  if (!fs.existsSync(SERVER)) throw new Error(`${SERVER} is missing: run bash scripts/backends.sh install`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-rabbitmq-'));
  const [nodePort, distPort, httpPort, epmdPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const admin = { username: 'sluice-admin', password: crypto.randomBytes(12).toString('hex') };
  fs.mkdirSync(path.join(dir, 'home'));
  fs.writeFileSync(
    path.join(dir, 'rabbitmq.conf'),
    [
      `management.tcp.ip = 127.0.0.1`,
      `management.tcp.port = ${httpPort}`,
      // Only the admin below exists (no guest); the node listens on 127.0.0.1 alone anyway.
      `default_user = ${admin.username}`,
      `default_pass = ${admin.password}`,
      `loopback_users = none`,
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'enabled_plugins'), '[rabbitmq_management].\n');
  const env = {
    ...process.env,
    HOME: path.join(dir, 'home'), // the Erlang cookie is created here
    RABBITMQ_NODENAME: `sluice-test-${nodePort}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(nodePort),
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: path.join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: '/dev/null', // not /etc/rabbitmq/rabbitmq-env.conf
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    // Our own epmd (below), on a free port and 127.0.0.1, so that stopping it touches nothing else.
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
  const started = Date.now();
  // Our own epmd, started first and in the foreground: the node uses it instead of
  // daemonizing one, and stop() ends it by its pid.
  const epmd = spawn('epmd', ['-port', String(epmdPort), '-address', '127.0.0.1'], { stdio: 'ignore' });
  const epmdExit = new Promise((resolve) => epmd.once('exit', resolve));
  epmd.once('error', () => {}); // a missing binary shows up as the node failing to start
  for (let i = 0; i < 50 && !(await listening(epmdPort)); i++) await sleep(50);
  const out = fs.openSync(path.join(dir, 'server.log'), 'a');
  // Its own process group: stop() kills beam and its helpers together.
  const proc = spawn(SERVER, [], { env, cwd: dir, detached: true, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  let exited = false;
  const exit = new Promise((resolve) => proc.once('exit', () => resolve((exited = true))));
  const url = `http://127.0.0.1:${httpPort}`;
  const log = () => {
    try {
      return fs.readFileSync(path.join(dir, 'server.log'), 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return '';
    }
  };

  async function api(method, urlPath, body, { auth = admin } = {}) {
    const r = await fetch(`${url}${urlPath}`, {
      method,
      headers: {
        authorization: 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64'),
        'content-type': 'application/json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    return { status: r.status, json, text };
  }
  async function apiOk(method, urlPath, body) {
    const r = await api(method, urlPath, body);
    if (r.status >= 300) throw new Error(`RabbitMQ ${method} ${urlPath} -> ${r.status}: ${r.text}`);
    return r;
  }

  async function stop() {
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await Promise.race([exit, sleep(5000)]);
    epmd.kill('SIGKILL');
    await Promise.race([epmdExit, sleep(5000)]);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const deadline = started + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (exited) {
      const text = log();
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`rabbitmq-server exited during startup:\n${text}`);
    }
    try {
      if ((await api('GET', '/api/overview')).status === 200) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      const text = log();
      await stop();
      throw new Error(`RabbitMQ's management API did not answer within ${STARTUP_TIMEOUT_MS} ms:\n${text}`);
    }
    await sleep(200);
  }

  return {
    url,
    admin,
    startupMs: Date.now() - started,
    api,
    apiOk,
    log,
    stop,
    async createVhost(vhost) {
      await apiOk('PUT', `/api/vhosts/${enc(vhost)}`, {});
    },
    /** A user who may use the management API (tag `management`) and do anything in `vhosts`. */
    async createUser(username, password, vhosts) {
      await apiOk('PUT', `/api/users/${enc(username)}`, { password, tags: 'management' });
      for (const vhost of vhosts) {
        await apiOk('PUT', `/api/permissions/${enc(vhost)}/${enc(username)}`, { configure: '.*', write: '.*', read: '.*' });
      }
    },
    async createExchange(vhost, name, type = 'topic') {
      await apiOk('PUT', `/api/exchanges/${enc(vhost)}/${enc(name)}`, { type, durable: true });
    },
    /** A durable queue bound to `exchange` with `bindingKey`. */
    async createQueue(vhost, name, exchange, bindingKey) {
      await apiOk('PUT', `/api/queues/${enc(vhost)}/${enc(name)}`, { durable: true });
      if (exchange) {
        await apiOk('POST', `/api/bindings/${enc(vhost)}/e/${enc(exchange)}/q/${enc(name)}`, { routing_key: bindingKey });
      }
    },
    /** Takes messages off a queue (acknowledged, not requeued) until `waitFor` have come. */
    async drain(vhost, queue, { waitFor = 1, timeoutMs = 15_000 } = {}) {
      const got = [];
      const until = Date.now() + timeoutMs;
      while (got.length < waitFor && Date.now() < until) {
        const r = await apiOk('POST', `/api/queues/${enc(vhost)}/${enc(queue)}/get`, {
          count: 10, ackmode: 'ack_requeue_false', encoding: 'auto', truncate: 1_000_000,
        });
        got.push(...r.json);
        if (!r.json.length) await sleep(100);
      }
      return got;
    },
  };
}
