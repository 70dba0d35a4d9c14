// The publish path alone, for working on it: `SLUICE_SKIP_BUILD=1 node bench/publish.mjs [root]`
// (root: another checkout whose build/ to measure, so that two builds run back to back in the
// same minutes). Not part of run.sh; prints a markdown table.
//
// For each case, a closed loop of 1, 16 and 64 publishers posting the harness's ~1 KiB payload
// for 3 s, with a publisher id and without one, to a tenant with no destination (the publish
// path alone: the Worker up to the 202, the index claim, the shard store; the shard's alarm has
// nothing to hand off) and to one with one webhook destination (max_in_flight 8, as the harness
// measures it). Per publish: CPU of Sluice's workerd (utime + stime), Durable Object requests
// and their SQLite statements (bench/entry.mjs counts them), D1 statements. /healthz at 16 for
// the ratio.

import http from 'node:http';
import path from 'node:path';
import { ADMIN_KEY, REPO_ROOT, startSluice } from '../tests/helpers/sluice.mjs';
import { agent, closedLoop, cpuSeconds, openConnections, fmt, ORDER, percentile, post, sleep, startFastReceiver } from './lib.mjs';

const root = path.resolve(process.argv[2] ?? REPO_ROOT);
const MS = Number(process.env.PUBLISH_MS ?? 3000);
const CONCURRENCY = (process.env.PUBLISH_C ?? '1,16,64').split(',').map(Number);
const DATA = ORDER;
const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

const rx = await startFastReceiver();
const sluice = await startSluice({ name: 'bench-publish', root, script: 'bench/entry.mjs', vars: { METRICS_FLUSH_SECONDS: '60' } });
const counters = async () => (await fetch(`${sluice.url}/__bench/counters`)).json();
const api = async (method, p, body) => {
  const r = await fetch(`${sluice.url}${p}`, { method, headers, body: JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`${method} ${p} -> ${r.status}: ${await r.text()}`);
  return r.json();
};
let run = 0;
const rows = [];
try {
  // Warm the isolate.
  const a = agent(64);
  await closedLoop({ concurrency: 4, durationMs: 500, send: () => fetch(`${sluice.url}/healthz`).then((r) => r.text()) });
  const cpu0 = cpuSeconds(sluice.proc.pid).workerd;
  const get = () => new Promise((resolve, reject) => {
    http.get(`${sluice.url}/healthz`, { agent: a }, (res) => res.resume().on('end', resolve).on('error', reject)).on('error', reject);
  });
  const h = await closedLoop({ concurrency: 16, durationMs: MS, send: get });
  const healthz = (h.count / h.elapsedMs) * 1000;
  const healthzCpu = ((cpuSeconds(sluice.proc.pid).workerd - cpu0) / h.count) * 1000;
  console.error(`[publish] /healthz ${fmt(healthz)}/s, ${fmt(healthzCpu, 2)} ms CPU`);
  for (const dests of [0, 1]) {
    for (const withId of [true, false]) {
      for (const c of CONCURRENCY) {
        run += 1;
        const tenantId = `pb-${process.pid}-${run}`;
        await api('POST', '/v1/tenants', { id: tenantId });
        if (dests) {
          await api('POST', `/v1/tenants/${tenantId}/destinations`, { type: 'webhook', config: { url: rx.url }, max_in_flight: 8 });
        }
        // One publish first: routing cached, the bucket registered, the shard made.
        await post(a, `${sluice.url}/v1/publish`, headers, JSON.stringify({ tenant_id: tenantId, topic: 'order.created', data: DATA }));
        await sleep(dests ? 1500 : 200);
        await openConnections(a, sluice.url, c);
        const before = await counters();
        const cpuA = cpuSeconds(sluice.proc.pid).workerd;
        const r = await closedLoop({ concurrency: c, durationMs: MS, send: async (i) => {
          const body = JSON.stringify({ tenant_id: tenantId, topic: 'order.created', ...(withId ? { id: `e-${run}-${i}` } : {}), data: DATA });
          const res = await post(a, `${sluice.url}/v1/publish`, headers, body);
          if (res.status !== 202) throw new Error(`publish -> ${res.status}: ${res.body.slice(0, 200)}`);
        } });
        const cpuB = cpuSeconds(sluice.proc.pid).workerd;
        const after = await counters();
        const n = r.count;
        const rate = (n / r.elapsedMs) * 1000;
        const doReq = (after.do_requests.total - before.do_requests.total) / n;
        const sql = (after.do_sql.statements - before.do_sql.statements) / n;
        const d1 = (after.d1.statements - before.d1.statements) / n;
        rows.push({ dests, withId, c, rate, ratio: rate / healthz, p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99),
          cpu: ((cpuB - cpuA) / n) * 1000, doReq, sql, d1, errors: r.errors, firstError: r.firstError?.message });
        console.error(`[publish] ${dests} dest, id=${withId}, c=${c}: ${fmt(rate)}/s p99 ${fmt(rows.at(-1).p99)} ms cpu ${fmt(rows.at(-1).cpu, 2)} ms` +
          ` do ${fmt(doReq, 2)} sql ${fmt(sql, 1)} d1 ${fmt(d1, 2)}${r.errors ? ` errors ${r.errors}: ${r.firstError?.message}` : ''}`);
        if (dests) await sleep(2000); // let the deliveries drain
      }
    }
  }
  console.log(`/healthz at 16: ${fmt(healthz)}/s, ${fmt(healthzCpu, 2)} ms CPU per request (root ${root})\n`);
  console.log('| destinations | id | publishers | accepted / s | ratio to /healthz | p50 | p99 | workerd CPU ms / publish | DO requests / publish | DO SQL / publish | D1 / publish |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const x of rows) {
    console.log(`| ${x.dests} | ${x.withId ? 'yes' : 'no'} | ${x.c} | ${fmt(x.rate)} | ${fmt(x.ratio, 2)} | ${fmt(x.p50, 1)} ms | ${fmt(x.p99, 0)} ms | ${fmt(x.cpu, 2)} | ${fmt(x.doReq, 2)} | ${fmt(x.sql, 1)} | ${fmt(x.d1, 2)} |`);
  }
} finally {
  await sluice.dispose();
  await rx.close();
}
