// What the local runtime itself costs, with no Sluice code: `node bench/runtime.mjs`.
// Not part of run.sh; prints a markdown table.
//
// A Worker of a few lines of JavaScript, run by the same Miniflare and workerd as Sluice, with
// a SQLite Durable Object class. At 16 publishers, for 3 s each, it measures the CPU of
// workerd per request (utime + stime, as the harness does) for the shapes of Sluice's own
// requests, each doing the least it could:
// - `/healthz`: answer a constant;
// - one object: parse the body, make one RPC call to an object that inserts one row;
// - two objects, one after the other: a claim (insert into an index object), then a store
//   (insert into a shard object), as a publish with a publisher id did;
// - the same two calls with the claim made by the shard object before its insert, as a
//   publish with a publisher id does now (bench/README.md, "Claims made by the shard");
// - a delivery's three calls: the two above plus a third object's insert (a scheduler's
//   hand-off), then a `fetch` to a local receiver and a fourth insert back in the shard
//   (the attempt's record): the least a delivery of one event to one destination asks
//   of Durable Objects, with nothing batched.
// Then each again at 64 in flight, for its p50 and p99 (the publish tail's goal is at 64).
// The ratios show how far a ratio to `/healthz` can go on one thread when a request makes
// that many object calls, whatever the Worker's own code costs.

import http from 'node:http';
import { Miniflare, Log, LogLevel } from 'miniflare';
import { agent, closedLoop, cpuSeconds, fmt, ORDER, openConnections, percentile, post, startFastReceiver } from './lib.mjs';

const MS = Number(process.env.RUNTIME_MS ?? 3000);
const C = Number(process.env.RUNTIME_C ?? 16);
const ROUNDS = Number(process.env.RUNTIME_ROUNDS ?? 2);

const script = `
import { DurableObject } from 'cloudflare:workers';
export class Store extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, body TEXT NOT NULL)');
  }
  put(id, body) {
    const n = this.ctx.storage.sql.exec('INSERT INTO t (id, body) VALUES (?, ?) ON CONFLICT (id) DO NOTHING', id, body).rowsWritten;
    return n > 0;
  }
  // The claim made by this object, then its own insert: the same two calls, the second
  // made by the first object rather than by the Worker.
  async claimAndPut(id, body) {
    const index = this.env.STORE.get(this.env.STORE.idFromName('index/' + (id.length % 8)));
    const first = await index.put(id, '');
    this.put(id, body);
    return first;
  }
}
let seq = 0;
const obj = (env, name) => env.STORE.get(env.STORE.idFromName(name));
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === '/healthz') return new Response('ok');
    const text = await request.text();
    const event = JSON.parse(text);
    const id = event.id ?? String(++seq) + '-' + Math.random();
    const slot = id.length % 8;
    if (url.pathname === '/one') {
      await obj(env, 'shard/' + slot).put(id, text);
    } else if (url.pathname === '/two') {
      await obj(env, 'index/' + slot).put(id, '');
      await obj(env, 'shard/' + slot).put(id, text);
    } else if (url.pathname === '/nested') {
      await obj(env, 'shard/' + slot).claimAndPut(id, text);
    } else if (url.pathname === '/deliver') {
      await obj(env, 'index/' + slot).put(id, '');
      await obj(env, 'shard/' + slot).put(id, text);
      await obj(env, 'scheduler').put(id, text);
      const r = await fetch(env.RECEIVER, { method: 'POST', body: JSON.stringify(event.data) });
      await r.arrayBuffer();
      await obj(env, 'shard/' + slot).put(id + '/attempt', String(r.status));
    } else {
      return new Response('not found', { status: 404 });
    }
    return Response.json({ id }, { status: 202 });
  },
};
`;

const rx = await startFastReceiver();
const mf = new Miniflare({
  host: '127.0.0.1',
  port: 0,
  log: new Log(LogLevel.WARN),
  cf: false,
  modules: true,
  script,
  compatibilityDate: '2026-04-20',
  durableObjects: { STORE: { className: 'Store', useSQLite: true } },
  bindings: { RECEIVER: rx.url },
});
const base = (await mf.ready).href.replace(/\/$/, '');
const a = agent(64);
const get = () => new Promise((resolve, reject) => {
  http.get(`${base}/healthz`, { agent: a }, (res) => res.resume().on('end', resolve).on('error', reject)).on('error', reject);
});
const headers = { 'content-type': 'application/json' };
let n = 0;
const body = () => JSON.stringify({ id: `e-${process.pid}-${++n}`, topic: 'order.created', data: ORDER });

async function measure(send, concurrency = C) {
  await closedLoop({ concurrency, durationMs: 1000, send });
  await openConnections(a, base, concurrency);
  const cpu0 = cpuSeconds(process.pid).workerd;
  const r = await closedLoop({ concurrency, durationMs: MS, send });
  const cpu = cpuSeconds(process.pid).workerd - cpu0;
  if (r.errors) throw new Error(`${r.errors} errors`);
  return {
    perSecond: (r.count / r.elapsedMs) * 1000,
    cpuMs: (cpu / r.count) * 1000,
    p50: percentile(r.latencies, 50),
    p99: percentile(r.latencies, 99),
  };
}

const cases = [
  ['`/healthz`', get],
  ['one object call (one insert)', () => post(a, `${base}/one`, headers, body())],
  ['two object calls from the Worker (claim, then store)', () => post(a, `${base}/two`, headers, body())],
  ['the same two, the claim made by the storing object', () => post(a, `${base}/nested`, headers, body())],
  ['a delivery: three calls, a fetch, a fourth call', () => post(a, `${base}/deliver`, headers, body())],
];
const results = cases.map(() => []);
try {
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const [i, [name, send]] of cases.entries()) {
      const m = await measure(send);
      results[i].push(m);
      console.error(`[runtime] round ${round + 1} ${name}: ${fmt(m.perSecond)}/s, ${fmt(m.cpuMs, 3)} ms CPU`);
    }
  }
  const floor = results[0];
  console.log(`| request (${C} in flight, ${MS / 1000} s, ${ROUNDS} rounds) | requests / s | ratio to \`/healthz\` | workerd CPU ms per request | ÷ \`/healthz\` CPU |`);
  console.log('|---|---|---|---|---|');
  for (const [i, [name]] of cases.entries()) {
    const rs = results[i];
    const per = rs.map((m) => fmt(m.perSecond)).join(' · ');
    const ratio = rs.map((m, r) => fmt(m.perSecond / floor[r].perSecond, 2)).join(' · ');
    const cpu = rs.map((m) => fmt(m.cpuMs, 3)).join(' · ');
    const x = rs.map((m, r) => fmt(m.cpuMs / floor[r].cpuMs, 1)).join(' · ');
    console.log(`| ${name} | ${per} | ${ratio} | ${cpu} | ${x} |`);
  }
  // The tail at 64 in flight: each request shape, its p50 and p99.
  console.log('');
  console.log(`| request (64 in flight, ${MS / 1000} s, ${ROUNDS + 1} rounds) | requests / s | p50 ms | p99 ms |`);
  console.log('|---|---|---|---|');
  for (const [name, send] of cases) {
    const tail = [];
    for (let round = 0; round < ROUNDS + 1; round += 1) {
      const m = await measure(send, 64);
      tail.push(m);
      console.error(`[runtime] 64 in flight, ${name}: ${fmt(m.perSecond)}/s, p50 ${fmt(m.p50, 1)} ms, p99 ${fmt(m.p99)} ms`);
    }
    const col = (f) => tail.map(f).join(' · ');
    console.log(`| ${name} | ${col((m) => fmt(m.perSecond))} | ${col((m) => fmt(m.p50, 1))} | ${col((m) => fmt(m.p99))} |`);
  }
} finally {
  a.destroy();
  await mf.dispose();
  await rx.close();
}
