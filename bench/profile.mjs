// Where the runtime's CPU goes: a V8 CPU profile of Sluice's isolate (through workerd's
// inspector, which the harness opens on `inspectorPort`) while 16 events are in flight to one webhook destination, summarised by self
// time per function. Not part of run.sh (the profiler slows the isolate down); for finding
// the biggest costs:
//
//   SLUICE_SKIP_BUILD=1 node bench/profile.mjs [seconds=8] [max_in_flight=1] [publish|healthz|backlog]
//
// With `publish`, the publish path alone: 16 publishers back to back, with a publisher id, to
// a tenant with no destination (nothing is delivered; each publish waits only for its 202).
// With `healthz`, the floor: 16 clients on `GET /healthz`, what every request pays.
// With `backlog`, one destination draining a backlog: seconds × 200 events published in
// batches of 100, profiled until the last one arrived.
//
// Prints three markdown tables: self time by kind of code, the top functions (PROFILE_TOP of
// them, 30 unless set; the release wasm has no name section: Rust functions show as
// wasm-function[N]), and the Durable Objects' SQLite statements per event by their text
// (counted by bench/entry.mjs).

import http from 'node:http';
import WebSocket from 'ws';
import { ADMIN_KEY, startSluice } from '../tests/helpers/sluice.mjs';
import { agent, closedLoop, fmt, post, sleep, startFastReceiver } from './lib.mjs';

const seconds = Number(process.argv[2] ?? 8);
const mif = Number(process.argv[3] ?? 1);
const publishOnly = process.argv[4] === 'publish';
const healthzOnly = process.argv[4] === 'healthz';
const backlog = process.argv[4] === 'backlog';

/**
 * `backlog`: `seconds` × 200 events published in batches of 100, one request after another,
 * then delivered; done when the last arrives (the harness's "one destination with a backlog").
 */
async function drain(tenantId, a, data) {
  const n = seconds * 200;
  rx.reset();
  const start = Date.now();
  for (let i = 0; i < n; i += 100) {
    const events = Array.from({ length: Math.min(100, n - i) }, (_, j) => `{"tenant_id":"${tenantId}","topic":"order.created","id":"bl-${i + j}","data":${data}}`);
    const res = await post(a, `${sluice.url}/v1/publish/batch`, { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      `{"events":[${events.join(',')}]}`);
    if (res.status !== 200) throw new Error(`batch -> ${res.status}`);
  }
  while (rx.total < n && Date.now() - start < 120_000) await sleep(20);
  return { count: rx.total };
}

async function cdp(url) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
  let id = 0;
  const pending = new Map();
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString());
    if (m.id && pending.has(m.id)) {
      pending.get(m.id)(m);
      pending.delete(m.id);
    }
  });
  return {
    send(method, params = {}) {
      id += 1;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve) => pending.set(id, resolve));
    },
    close: () => ws.close(),
  };
}

const rx = await startFastReceiver();
const sluice = await startSluice({ name: 'bench-profile', inspector: true, script: 'bench/entry.mjs' });
const counted = async () => (await sluice.apiOk('GET', '/__bench/counters?by_sql=1')).json;
try {
  const tenantId = `prof-${process.pid}`;
  await sluice.apiOk('POST', '/v1/tenants', { id: tenantId });
  if (!publishOnly) {
    await sluice.apiOk('POST', `/v1/tenants/${tenantId}/destinations`, { type: 'webhook', config: { url: rx.url }, max_in_flight: mif });
  }
  const targets = await (await fetch(`http://127.0.0.1:${sluice.inspectorPort}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl) ?? targets[0];
  const c = await cdp(target.webSocketDebuggerUrl);
  await c.send('Profiler.enable');
  await c.send('Profiler.setSamplingInterval', { interval: 200 });

  const a = agent(16);
  const waiters = new Map();
  rx.onArrival = (id) => waiters.get(id)?.();
  const data = JSON.stringify({ order_id: 'ord_1', amount: 12.5, items: [{ sku: 'A', qty: 1 }], note: 'x'.repeat(800) });
  let n = 0;
  const before = await counted();
  await c.send('Profiler.start');
  const r = backlog ? await drain(tenantId, a, data) : await closedLoop({
    concurrency: 16, durationMs: seconds * 1000,
    send: async () => {
      if (healthzOnly) {
        await new Promise((resolve, reject) => {
          http.get(`${sluice.url}/healthz`, { agent: a }, (res) => res.resume().on('end', resolve).on('error', reject)).on('error', reject);
        });
        return;
      }
      const id = `prof-${n++}`;
      const arrived = new Promise((resolve) => waiters.set(id, resolve));
      const res = await post(a, `${sluice.url}/v1/publish`, { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        `{"tenant_id":"${tenantId}","topic":"order.created","id":"${id}","data":${data}}`);
      if (res.status !== 202) throw new Error(`publish -> ${res.status}`);
      if (publishOnly) return;
      await Promise.race([arrived, sleep(30_000)]);
    },
  });
  const { result } = await c.send('Profiler.stop');
  c.close();
  await sleep(1000); // the last runs' records reach their shards
  const after = await counted();
  const { nodes, samples, timeDeltas } = result.profile;
  const byId = new Map(nodes.map((x) => [x.id, x]));
  const self = new Map();
  let total = 0;
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]);
    const f = node.callFrame;
    const file = f.url ? f.url.split('/').pop() : '';
    const name = `${f.functionName || `(anonymous:${f.lineNumber}:${f.columnNumber})`}${file && !file.endsWith('.wasm') ? ` (${file})` : ''}`;
    const dt = timeDeltas[i] ?? 0;
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  }
  const idle = (self.get('(idle)') ?? 0) + (self.get('(program)') ?? 0);
  console.log(`${r.count} ${healthzOnly ? 'requests answered' : `events ${publishOnly ? 'published' : 'delivered'}`}${backlog ? "" : ` in ${seconds} s`} (max_in_flight ${mif}); profiled ${fmt(total / 1000)} ms, ` +
    `of which idle/program ${fmt(idle / 1000)} ms.\n`);
  const busy = total - idle;
  const category = (k) => {
    if (/^(wasm-to-js|js-to-wasm)|externref|catch wrapper|__wbindgen/.test(k)) return 'JS ↔ wasm boundary (wasm-bindgen)';
    if (/^wasm-function|\(00a1|\.wasm/.test(k) || /^wasm-function/.test(k)) return 'Rust (wasm)';
    if (/index\.js/.test(k)) return 'wasm-bindgen JS glue (index.js)';
    if (/^(exec|toArray|next|raw)$/.test(k)) return 'Durable Object SQLite (sql.exec, cursors)';
    if (/d1-api/.test(k)) return 'D1 client (d1-api)';
    if (k === '(garbage collector)') return 'garbage collector';
    return 'runtime built-ins (fetch, Headers, Response, promises, …)';
  };
  const cats = new Map();
  for (const [k, v] of self) if (k !== '(idle)' && k !== '(program)') cats.set(category(k), (cats.get(category(k)) ?? 0) + v);
  console.log('| where | self ms | share of busy |');
  console.log('|---|---|---|');
  for (const [k, v] of [...cats.entries()].sort((x, y) => y[1] - x[1])) console.log(`| ${k} | ${fmt(v / 1000)} | ${fmt((v / busy) * 100, 1)} % |`);
  console.log('');
  console.log('| function | self ms | share of busy |');
  console.log('|---|---|---|');
  const top = [...self.entries()].filter(([k]) => k !== '(idle)' && k !== '(program)').sort((x, y) => y[1] - x[1]).slice(0, Number(process.env.PROFILE_TOP ?? 30));
  for (const [k, v] of top) console.log(`| \`${k.replaceAll('|', '\\|').slice(0, 120)}\` | ${fmt(v / 1000)} | ${fmt((v / busy) * 100, 1)} % |`);
  console.log('');
  console.log(`| DO SQLite statement (${r.count} events) | per event |`);
  console.log('|---|---|');
  const stmts = Object.entries(after.do_sql.by_sql).map(([k, v]) => [k, v - (before.do_sql.by_sql[k] ?? 0)]).filter(([, v]) => v > 0);
  for (const [k, v] of stmts.sort((x, y) => y[1] - x[1])) console.log(`| \`${k.replaceAll('|', '\\|')}\` | ${fmt(v / r.count, 2)} |`);
  console.log(`| all | ${fmt(stmts.reduce((t, [, v]) => t + v, 0) / r.count, 2)} |`);
  console.log('');
  console.log('| Durable Object requests (RPC `message`, `fetch` and `alarm`) | per event |');
  console.log('|---|---|');
  for (const [k, v] of Object.entries(after.do_requests.by_class)) {
    console.log(`| ${k} | ${fmt((v - (before.do_requests.by_class[k] ?? 0)) / r.count, 2)} |`);
  }
  a.destroy();
} finally {
  await sluice.dispose();
  await rx.close();
}
process.exit(0);
