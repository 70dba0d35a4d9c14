// The data plane on Durable Objects (src/log): events spread over time buckets of 2 s
// (LOG_BUCKET_SECONDS) and a tenant fanned out over 4 shards per bucket (log_shards), read
// back through the API across buckets and shards: the event log paged both ways, an id
// lookup of a publisher-given id, idempotency across a bucket boundary, a tenant delete,
// retention dropping expired shards while a pending delivery survives (on a second Sluice
// whose retention is seconds), the hand-off that a kill cannot lose, and a shard answering
// the Worker of the version before during a deploy. Small in CI; SLUICE_SCALE_TENANTS / SLUICE_SCALE_EVENTS make it bigger.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startReceiver } from './helpers/receiver.mjs';
import { startSluice, createWebhook, publish, eventually, sleep, uniqueId } from './helpers/sluice.mjs';

const BUCKET_MS = 2_000;
// About 6 s: a shard is dropped once its bucket ended this long ago (and nothing is pending).
const RETENTION_DAYS = (6 / 86_400).toFixed(8);
const TENANTS = Number(process.env.SLUICE_SCALE_TENANTS ?? 20);
const EVENTS_PER_ROUND = Number(process.env.SLUICE_SCALE_EVENTS ?? 4);
const ROUNDS = 3;

let sluice;
let rx;

before(async () => {
  sluice = await startSluice({ name: 'dataplane', vars: { LOG_BUCKET_SECONDS: String(BUCKET_MS / 1000) } });
  rx = await startReceiver();
}, { timeout: 120_000 });

after(async () => {
  if (rx) await rx.close();
  if (sluice) await sluice.dispose();
});

const api = (...args) => sluice.api(...args);

/** Every event of a tenant through the event log, page by page (`limit` per page). */
async function readAll(tenantId, order, limit = 5, on = sluice) {
  const seen = [];
  let cursor = null;
  for (let pages = 0; pages < 500; pages++) {
    const q = new URLSearchParams({ limit: String(limit), order });
    if (cursor) q.set('cursor', cursor);
    const r = await on.api('GET', `/v1/tenants/${tenantId}/events?${q}`);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.data.length <= limit);
    seen.push(...r.json.data);
    cursor = r.json.next_cursor;
    if (!cursor) return seen;
  }
  throw new Error('the event log never ended');
}

const delivered = (id) => rx.requests.filter((r) => r.headers['webhook-id'] === id).length;

test(`scale: ${TENANTS} tenants, ${ROUNDS} buckets, one tenant over 4 shards; paging, id lookup, dedup across buckets, tenant delete`, { timeout: 300_000 }, async () => {
  const tenants = [];
  for (let t = 0; t < TENANTS; t++) {
    const id = uniqueId(`scale${t}`);
    const created = await api('POST', '/v1/tenants', { id, ...(t === 0 ? { log_shards: 4 } : {}) });
    assert.equal(created.status, 201, created.text);
    // A failed attempt (a timeout on a loaded machine) is tried again within seconds, not
    // after the default 30 s and 5 min: this test is about the data plane, not retry timing.
    tenants.push(await createWebhook(sluice, rx, {
      tenantId: id, existingTenant: true, signing: { scheme: 'none' },
      retry: { max_retries: 10, backoff: { type: 'fixed', interval_ms: 1_000 }, jitter: 0 },
    }));
  }
  const big = tenants[0];
  assert.equal((await api('GET', `/v1/tenants/${big.tenantId}`)).json.log_shards, 4);
  const bad = await api('PATCH', `/v1/tenants/${big.tenantId}`, { log_shards: 65 });
  assert.equal(bad.status, 422, bad.text);

  // Three rounds, each in a bucket of its own; the big tenant publishes three times as much.
  const published = new Map(tenants.map((t) => [t.tenantId, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const start = Date.now();
    await Promise.all(tenants.map(async (t, i) => {
      const n = i === 0 ? EVENTS_PER_ROUND * 3 : EVENTS_PER_ROUND;
      for (let j = 0; j < n; j++) {
        const id = `${t.tenantId}-r${round}-e${j}`;
        const p = await publish(sluice, t.tenantId, 'scale.test', { round, j }, { id });
        assert.equal(p.duplicate, false);
        published.get(t.tenantId).push({ id, delivery: p.deliveries[0].id });
      }
    }));
    await sleep(Math.max(0, BUCKET_MS + 200 - (Date.now() - start)));
  }
  const total = [...published.values()].reduce((n, l) => n + l.length, 0);
  try {
    await rx.waitFor((reqs) => reqs.length >= total, 120_000);
  } catch (err) {
    // Say which events did not arrive and where their deliveries stand.
    const arrived = new Set(rx.requests.map((r) => r.headers['webhook-id']));
    const missing = [];
    for (const [tenantId, events] of published) {
      for (const e of events.filter((e) => !arrived.has(e.id))) {
        const seen = await api('GET', `/v1/tenants/${tenantId}/events/${encodeURIComponent(e.id)}`);
        missing.push({ id: e.id, status: seen.status, deliveries: seen.json?.deliveries });
      }
    }
    throw new Error(`${rx.requests.length} of ${total} arrived; missing: ${JSON.stringify(missing).slice(0, 4000)}`, { cause: err });
  }

  // The big tenant's log, newest first and oldest first, in pages of 5: every event once, in
  // order, across 3 buckets × 4 shards.
  const mine = published.get(big.tenantId).map((e) => e.id).sort();
  for (const order of ['desc', 'asc']) {
    const seen = await readAll(big.tenantId, order);
    assert.deepEqual(seen.map((e) => e.id).sort(), mine, `${order}: every event once`);
    const times = seen.map((e) => Date.parse(e.created_at));
    const sorted = [...times].sort((a, b) => (order === 'desc' ? b - a : a - b));
    assert.deepEqual(times, sorted, `${order}: in order`);
    assert.ok(new Set(times.map((t) => Math.floor(t / BUCKET_MS))).size >= ROUNDS, 'spans the buckets');
  }
  // A small tenant's too, and a topic filter and a time range narrow it.
  const small = tenants[1];
  assert.equal((await readAll(small.tenantId, 'desc', 2)).length, EVENTS_PER_ROUND * ROUNDS);
  const firstRound = published.get(small.tenantId).filter((e) => e.id.includes('-r0-'));
  const detail0 = await api('GET', `/v1/tenants/${small.tenantId}/events/${firstRound[0].id}`);
  const since = detail0.json.created_at;
  const ranged = await api('GET', `/v1/tenants/${small.tenantId}/events?limit=100&until=${encodeURIComponent(new Date(Date.parse(since) + 1).toISOString())}`);
  assert.ok(ranged.json.data.some((e) => e.id === firstRound[0].id));

  // A destination's deliveries page across buckets and shards too.
  const dels = [];
  let cursor = null;
  do {
    const r = await api('GET', `${big.base}/deliveries?limit=7${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(r.status, 200, r.text);
    dels.push(...r.json.data);
    cursor = r.json.next_cursor;
  } while (cursor);
  assert.deepEqual(dels.map((d) => d.id).sort(), published.get(big.tenantId).map((e) => e.delivery).sort());

  // A publisher-given id from the first bucket: found with its attempt history.
  const old = published.get(big.tenantId)[0];
  const found = await api('GET', `/v1/tenants/${big.tenantId}/events/${old.id}`);
  assert.equal(found.status, 200, found.text);
  assert.equal(found.json.deliveries[0].history.length, 1);
  const attempts = await api('GET', `${big.base}/deliveries/${old.delivery}/attempts`);
  assert.equal(attempts.json.data.length, 1);

  // The same id again, two buckets later: a duplicate with the first deliveries, not sent again.
  const again = await publish(sluice, big.tenantId, 'scale.test', { changed: true }, { id: old.id });
  assert.equal(again.duplicate, true);
  assert.deepEqual(again.deliveries.map((d) => d.id), [old.delivery]);
  await sleep(500);
  assert.equal(delivered(old.id), 1);

  // A tenant delete drops its shards: created again under the same id, it has no events, and
  // an old id is new again.
  const gone = tenants[2];
  const oldId = published.get(gone.tenantId)[0].id;
  assert.equal((await api('DELETE', `/v1/tenants/${gone.tenantId}`)).status, 204);
  assert.equal((await api('POST', '/v1/tenants', { id: gone.tenantId })).status, 201);
  assert.equal((await readAll(gone.tenantId, 'desc')).length, 0);
  assert.equal((await api('GET', `/v1/tenants/${gone.tenantId}/events/${oldId}`)).status, 404);
  const fresh = await publish(sluice, gone.tenantId, 'scale.test', {}, { id: oldId });
  assert.equal(fresh.duplicate, false);
  // Other tenants are untouched.
  assert.equal((await readAll(small.tenantId, 'desc', 100)).length, EVENTS_PER_ROUND * ROUNDS);
});

// While a deploy rolls out, Workers of the version before and objects of this one meet: a
// shard answers the store of the version before (v1: ids claimed by that Worker) as that
// version did, a v2 store with its own claims, and refuses a version it does not know.
test('a log shard answers the store of the Worker of the version before, during a deploy', { timeout: 60_000 }, async () => {
  const tenantId = uniqueId('rollout');
  assert.equal((await api('POST', '/v1/tenants', { id: tenantId })).status, 201);
  const bucket = Math.floor(Date.now() / BUCKET_MS);
  const name = `log/${tenantId}/${bucket}/0`;
  const event = (id, claim) => ({
    event: { id, topic: 'rollout.test', data: '{"n":1}', metadata: '{}', created_at: Date.now() },
    deliveries: [],
    ...(claim ? { claim: true } : {}),
  });
  const store = (v, events) => JSON.stringify({ v, request: {
    op: 'store_events', tenant_id: tenantId, shard: { bucket, slot: 0 },
    expires_at: Date.now() + 86_400_000, events, snapshots: [] } });
  const old = uniqueId('v1');
  const v1 = await sluice.objectMessage('EVENT_LOG', name, store(1, [event(old), event(old)]));
  assert.equal(v1.status, 200, v1.text);
  assert.deepEqual(JSON.parse(v1.text), [{ created: true, deliveries: [] }, { created: false, deliveries: [] }]);
  const now = uniqueId('v2');
  const v2 = await sluice.objectMessage('EVENT_LOG', name, store(2, [event(now, true)]));
  assert.equal(v2.status, 200, v2.text);
  assert.deepEqual(JSON.parse(v2.text), [{ Ok: { created: true, deliveries: [] } }]);
  // The shard claimed the id at its index object: the event is found by it.
  const found = await api('GET', `/v1/tenants/${tenantId}/events/${now}`);
  assert.equal(found.status, 200, found.text);
  assert.equal(found.json.id, now);
  const v3 = await sluice.objectMessage('EVENT_LOG', name, store(3, [event(uniqueId('v3'))]));
  assert.equal(v3.status, 400, v3.text);
  assert.match(v3.text, /unsupported protocol v3/);
});

test('retention drops expired shards whole, but never one with a pending delivery', { timeout: 120_000 }, async () => {
  // A Sluice of its own, whose retention is a few seconds.
  const short = await startSluice({
    name: 'dataplane-retention',
    vars: { LOG_BUCKET_SECONDS: String(BUCKET_MS / 1000), RETENTION_DAYS },
  });
  const down = await startReceiver();
  down.setMode({ status: 503 });
  try {
    const w = await createWebhook(short, rx, { topics: ['done.*'], signing: { scheme: 'none' } });
    const slow = await short.api('POST', `/v1/tenants/${w.tenantId}/destinations`, {
      type: 'webhook', topics: ['slow.*'], config: { url: down.url, signing: { scheme: 'none' } },
      retry: { max_retries: 50, backoff: { type: 'fixed', interval_ms: 60_000 }, jitter: 0 },
    });
    assert.equal(slow.status, 201, slow.text);
    await publish(short, w.tenantId, 'done.one', { n: 1 }, { id: 'finished-1' });
    await sleep(BUCKET_MS + 200); // the pending one in the next bucket: another shard
    await publish(short, w.tenantId, 'slow.one', { n: 2 }, { id: 'pending-1' });
    await down.waitFor(1, 10_000);
    await eventually(async () => {
      const e = await short.api('GET', `/v1/tenants/${w.tenantId}/events/finished-1`);
      return e.json?.deliveries?.[0]?.status === 'delivered';
    }, 10_000, { what: 'finished-1 delivered' });

    // Past the bucket and the retention: the finished shard is gone, the pending one stays.
    await eventually(async () => {
      const r = await short.api('GET', `/v1/tenants/${w.tenantId}/events/finished-1`);
      return r.status === 404;
    }, 30_000, { what: 'the finished shard dropped', intervalMs: 500 });
    const ids = (await readAll(w.tenantId, 'desc', 5, short)).map((e) => e.id);
    assert.deepEqual(ids, ['pending-1']);
    const kept = await short.api('GET', `/v1/tenants/${w.tenantId}/events/pending-1`);
    assert.equal(kept.status, 200);
    assert.equal(kept.json.deliveries[0].status, 'pending');
    assert.equal(kept.json.deliveries[0].history.length, 1, 'a pending delivery keeps its attempts');

    // The daily cron (stats, the directory of expired buckets) keeps the pending shard listed.
    const run = await short.scheduled('17 3 * * *');
    assert.equal(run.status, 200, await run.text());
    await eventually(() => short.log.includes('"event":"retention_purge"'), 10_000, { what: 'the daily cron logged its purge' });
    assert.deepEqual((await readAll(w.tenantId, 'desc', 5, short)).map((e) => e.id), ['pending-1']);
  } finally {
    await down.close();
    await short.dispose();
  }
});

test('a hand-off owed when the runtime is killed is made after the restart', { timeout: 120_000 }, async () => {
  const w = await createWebhook(sluice, rx, { signing: { scheme: 'none' } });
  const ids = [];
  for (let i = 0; i < 10; i++) {
    const id = `handoff-${uniqueId('k')}-${i}`;
    await publish(sluice, w.tenantId, 'kill.test', { i }, { id });
    ids.push(id);
  }
  // Killed at once: some hand-offs may still be owed by the log shard's outbox.
  await sluice.restart({ signal: 'SIGKILL' });
  await rx.waitFor((reqs) => ids.every((id) => reqs.some((r) => r.headers['webhook-id'] === id)), 60_000);
  // An attempt in flight at the kill has no recorded outcome: it is made again once its lease
  // ends (timeout_ms, 10 s by default, + 30 s: engine::LEASE_MARGIN_MS), ~40 s after it began.
  await eventually(async () => {
    const r = await api('GET', `${w.base}/deliveries?limit=100`);
    return r.json.data.length === 10 && r.json.data.every((d) => d.status === 'delivered');
  }, 60_000, { what: 'all 10 recorded delivered', intervalMs: 500 });
});
