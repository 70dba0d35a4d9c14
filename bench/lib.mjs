// Pieces of the benchmark harness (bench/harness.mjs): a fast receiver, a load generator, a
// counting HTTP proxy, percentiles and CPU time from /proc. Everything listens on 127.0.0.1.

import fs from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** The ~1 KiB order payload every benchmark event carries. */
export const ORDER = {
  order_id: 'ord_000000', customer: { id: 'cus_8812', email: 'alice@example.test', tier: 'gold' },
  currency: 'EUR', amount: 1249.5, created_at: '2026-11-23T12:00:00Z', channel: 'web',
  items: Array.from({ length: 6 }, (_, i) => ({ sku: `SKU-${1000 + i}`, name: `Item number ${i}`, qty: i + 1, price: 19.99 + i })),
  shipping: { method: 'express', address: { line1: '1 Example Street', city: 'Lyon', zip: '69001', country: 'FR' } },
  tags: ['priority', 'gift', 'b2c'],
};

export const now = () => performance.now(); // monotonic, ms
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** p in [0, 100] of an array of numbers (nearest rank); NaN when empty. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/**
 * A receiver that does as little as possible: reads the body, notes the arrival time (monotonic)
 * under the request's `webhook-id`, answers 200. `onArrival(id, t)` lets the load generator
 * close its loop. With `delayMs`, it answers each request that long after it arrived (a slow
 * receiver), counting the most it had open at once (`mostOpen`).
 */
export async function startFastReceiver({ delayMs = 0 } = {}) {
  const rx = {
    arrivals: new Map(), // id -> [t, ...]
    total: 0,
    open: 0, // requests received and not answered yet (with delayMs)
    mostOpen: 0,
    onArrival: null,
    server: null,
    url: null,
    reset() {
      this.arrivals = new Map();
      this.total = 0;
      this.mostOpen = 0;
    },
  };
  rx.server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      const t = now();
      const id = req.headers['webhook-id'];
      rx.total += 1;
      if (id) {
        const list = rx.arrivals.get(id);
        if (list) list.push(t);
        else rx.arrivals.set(id, [t]);
        if (rx.onArrival) rx.onArrival(id, t);
      }
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '11' });
        res.end('{"ok":true}');
      };
      if (delayMs > 0) {
        // A slow receiver: each request answered delayMs after it arrived.
        rx.open += 1;
        rx.mostOpen = Math.max(rx.mostOpen, rx.open);
        setTimeout(() => {
          rx.open -= 1;
          answer();
        }, delayMs);
      } else {
        answer();
      }
    });
  });
  await new Promise((resolve) => rx.server.listen(0, '127.0.0.1', resolve));
  rx.url = `http://127.0.0.1:${rx.server.address().port}/hook`;
  rx.close = () =>
    new Promise((resolve) => {
      rx.server.close(() => resolve());
      rx.server.closeAllConnections();
    });
  return rx;
}

/** POST with node:http over a keep-alive agent. Resolves {status, body}. */
export function post(agent, url, headers, body) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: u.hostname, port: u.port, path: u.pathname + u.search, method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`POST ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

export const agent = (sockets) => new http.Agent({ keepAlive: true, maxSockets: sockets });

/**
 * Opens `count` kept-alive connections on `agent` before a timed loop (a `GET /healthz` on
 * each, all at once), as load tools open theirs before they measure. Without it a closed loop
 * at 64 starts on 64 new connections, and local workerd, whose one thread runs the Worker and
 * every Durable Object, served the first request on some of them 1 to 3 s late while hundreds
 * of others completed: those first requests were the whole p99 (bench/README.md, "The publish
 * tail: new connections, new objects"). That is the local runtime, not the publish path; in
 * production Cloudflare's front end holds the clients' connections.
 */
export async function openConnections(agent, baseUrl, count) {
  await Promise.all(Array.from({ length: count }, () => new Promise((resolve, reject) => {
    http.get(`${baseUrl}/healthz`, { agent }, (res) => res.resume().on('end', resolve).on('error', reject)).on('error', reject);
  })));
}

/**
 * Closed loop: `concurrency` workers call `send(i)` back to back until `durationMs` passed.
 * Returns {count, elapsedMs, latencies (ms of each send), errors}.
 */
export async function closedLoop({ concurrency, durationMs, maxCount = Infinity, send }) {
  const latencies = [];
  let next = 0;
  let errors = 0;
  let firstError = null;
  const start = now();
  const end = start + durationMs;
  async function worker() {
    while (now() < end && next < maxCount) {
      const i = next++;
      const t0 = now();
      try {
        await send(i);
        latencies.push(now() - t0);
      } catch (err) {
        errors += 1;
        firstError ??= err;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { count: latencies.length, elapsedMs: now() - start, latencies, errors, firstError };
}

/**
 * Open loop at `rate` per second for `durationMs`, at most `maxConcurrency` outstanding (when
 * the target cannot keep up, the offered rate is not reached: the achieved rate says so).
 */
export async function openLoop({ rate, durationMs, maxConcurrency, send }) {
  const start = now();
  const total = Math.round((rate * durationMs) / 1000);
  const end = start + durationMs;
  let outstanding = 0;
  let done = 0;
  let errors = 0;
  let firstError = null;
  const pending = new Set();
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    if (now() >= end) break; // what was not sent in time is not sent: the achieved rate says so
    while (now() < due || outstanding >= maxConcurrency) {
      await sleep(outstanding >= maxConcurrency ? 1 : Math.max(0, Math.min(5, due - now())));
    }
    outstanding += 1;
    const p = send(i)
      .then(() => (done += 1))
      .catch((err) => {
        errors += 1;
        firstError ??= err;
      })
      .finally(() => {
        outstanding -= 1;
        pending.delete(p);
      });
    pending.add(p);
  }
  await Promise.all(pending);
  return { count: done, elapsedMs: now() - start, errors, firstError };
}

/**
 * A reverse proxy that counts what passes: `classify(req, body)` names the request kind and
 * how many events it carries (`{kind, items}`); only 2xx answers count their items.
 */
export async function startCountingProxy(target, classify) {
  const t = new URL(target);
  const upstream = agent(256);
  const p = {
    counts: {}, // kind -> {requests, items, non2xx}
    reset() {
      this.counts = {};
    },
    total(kind) {
      return this.counts[kind] ?? { requests: 0, items: 0, non2xx: 0 };
    },
  };
  p.server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let c;
      try {
        c = classify(req, body.toString('utf8'));
      } catch {
        c = { kind: 'other', items: 0 };
      }
      const entry = (p.counts[c.kind] ??= { requests: 0, items: 0, non2xx: 0 });
      entry.requests += 1;
      const headers = { ...req.headers, host: t.host, 'content-length': body.length };
      const up = http.request(
        { agent: upstream, host: t.hostname, port: t.port, method: req.method, path: req.url, headers },
        (ures) => {
          if (ures.statusCode >= 200 && ures.statusCode < 300) entry.items += c.items;
          else entry.non2xx += 1;
          res.writeHead(ures.statusCode, ures.headers);
          ures.pipe(res);
        },
      );
      up.on('error', (err) => {
        entry.non2xx += 1;
        res.writeHead(502);
        res.end(String(err));
      });
      up.end(body);
    });
  });
  await new Promise((resolve) => p.server.listen(0, '127.0.0.1', resolve));
  p.url = `http://127.0.0.1:${p.server.address().port}`;
  p.close = () =>
    new Promise((resolve) => {
      p.server.close(() => resolve());
      p.server.closeAllConnections();
      upstream.destroy();
    });
  return p;
}

const CLK_TCK = 100; // USER_HZ on Linux

/** Every pid in the tree under `root` (inclusive), from /proc. */
export function processTree(root) {
  const children = new Map();
  const names = new Map();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      names.set(Number(entry), name);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  const out = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop();
    out.push({ pid, name: names.get(pid) ?? '?' });
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return out;
}

/**
 * utime + stime in seconds of the process tree under `root` (the runtime process of
 * tests/helpers/runtime.mjs), split into `workerd` (the runtime that runs the Worker, its
 * D1 and Durable Objects) and `other` (the Node process that runs Miniflare).
 */
export function cpuSeconds(root) {
  const total = { workerd: 0, other: 0 };
  for (const { pid, name } of processTree(root)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields 14 and 15 of stat(5), counted from after the name: index 11 and 12.
      const secs = (Number(f[11]) + Number(f[12])) / CLK_TCK;
      if (name.startsWith('workerd')) {
        total.workerd += secs;
      } else {
        total.other += secs;
      }
    } catch {
      // gone
    }
  }
  return total;
}

export const cpuTotal = (c) => c.workerd + c.other;

export const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–';
