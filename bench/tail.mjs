// Who waits in the publish tail: `SLUICE_SKIP_BUILD=1 node bench/tail.mjs` (not part of
// run.sh). For each round, a new tenant with one webhook destination (max_in_flight 8; none
// with TAIL_NODEST=1; publishes without ids with TAIL_NOID=1), TAIL_C publishers (64) on
// connections opened first, a 1 s warm-up, then a 3 s closed loop whose every publish is kept
// with its publisher and start time.
// Prints, per round: p50/p90/p99/max, the slowest 1 % as start+latency@publisher (ms),
// requests per publisher (a fair loop gives each about the same), and completions per 250 ms
// (the throughput over the loop). TAIL_ROUNDS rounds (3).

import { ADMIN_KEY, startSluice } from '../tests/helpers/sluice.mjs';
import { agent, now, openConnections, ORDER, percentile, post, sleep, startFastReceiver } from './lib.mjs';

const C = Number(process.env.TAIL_C ?? 64);
const ROUNDS = Number(process.env.TAIL_ROUNDS ?? 3);
const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

const rx = await startFastReceiver();
const sluice = await startSluice({ name: 'bench-tail', vars: { METRICS_FLUSH_SECONDS: '60' }, script: 'bench/entry.mjs' });
const api = async (method, p, body) => {
  const r = await fetch(`${sluice.url}${p}`, { method, headers, body: JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`${method} ${p} -> ${r.status}: ${await r.text()}`);
};

/** A closed loop of C publishers for `ms`, each publish kept as {publisher, start, ms}. */
async function loop(a, tenantId, ms, tag) {
  const rows = [];
  let next = 0;
  const start = now();
  await Promise.all(Array.from({ length: C }, async (_, publisher) => {
    while (now() < start + ms) {
      const i = next++;
      const t0 = now();
      const id = process.env.TAIL_NOID === '1' ? {} : { id: `${tag}-${i}` };
      const body = JSON.stringify({ tenant_id: tenantId, topic: 'order.created', ...id, data: ORDER });
      const r = await post(a, `${sluice.url}/v1/publish`, headers, body);
      if (r.status !== 202) throw new Error(`publish -> ${r.status}: ${r.body.slice(0, 200)}`);
      rows.push({ publisher, start: t0 - start, ms: now() - t0 });
    }
  }));
  return rows;
}

try {
  for (let round = 1; round <= ROUNDS; round++) {
    const tenantId = `tail-${process.pid}-${round}`;
    await api('POST', '/v1/tenants', { id: tenantId });
    if (process.env.TAIL_NODEST !== '1') {
      await api('POST', `/v1/tenants/${tenantId}/destinations`, { type: 'webhook', config: { url: rx.url }, max_in_flight: 8 });
    }
    const a = agent(C);
    await openConnections(a, sluice.url, C);
    await loop(a, tenantId, 1000, `warm${round}`);
    await sleep(3000);
    const rows = await loop(a, tenantId, 3000, `r${round}`);
    const ms = rows.map((r) => r.ms);
    const p99 = percentile(ms, 99);
    const f = (n) => n.toFixed(0);
    console.log(`round ${round}: ${rows.length} publishes, p50 ${f(percentile(ms, 50))} ms, p90 ${f(percentile(ms, 90))} ms, ` +
      `p99 ${f(p99)} ms, max ${f(Math.max(...ms))} ms`);
    const slow = rows.filter((r) => r.ms >= p99).sort((x, y) => x.start - y.start);
    console.log(`  slowest 1 % (start+latency@publisher): ${slow.map((r) => `${f(r.start)}+${f(r.ms)}@${r.publisher}`).join(' ')}`);
    const per = new Map();
    for (const r of rows) per.set(r.publisher, (per.get(r.publisher) ?? 0) + 1);
    const counts = Array.from({ length: C }, (_, p) => per.get(p) ?? 0).sort((x, y) => x - y);
    console.log(`  publishes per publisher: min ${counts[0]}, median ${counts[C >> 1]}, max ${counts.at(-1)}`);
    const bins = new Array(13).fill(0);
    for (const r of rows) bins[Math.min(12, Math.floor((r.start + r.ms) / 250))] += 1;
    console.log(`  completions per 250 ms: ${bins.join(' ')}`);
    await sleep(2000);
  }
} finally {
  await sluice.dispose();
  await rx.close();
}
