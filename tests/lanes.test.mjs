// Lanes: one destination spread over K schedulers (`lanes`), each keeping at most 6 requests
// open (what one invocation may in production), so that together they send more than one
// scheduler can; ordering kept per key; one circuit across lanes; status, resets, changes and
// deletes over every lane.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  sluiceSuite,
  createWebhook,
  publish,
  eventually,
  checkProblem,
  sleep,
  uniqueId,
} from './helpers/sluice.mjs';
import { startKafkaRest } from './helpers/kafka_rest.mjs';

const suite = sluiceSuite('lanes');
const FAST = { max_retries: 5, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 };

/** The most requests the receiver had open at once (each open from arrival to its answer). */
function mostAtOnce(requests, delayMs) {
  const edges = requests.flatMap((r) => [
    [r.receivedAt, 1],
    [r.receivedAt + delayMs, -1],
  ]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let most = 0;
  for (const [, d] of edges) {
    open += d;
    most = Math.max(most, open);
  }
  return most;
}

async function status(sluice, base) {
  const r = await sluice.api('GET', `${base}/status`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

test('four lanes keep more than 6 requests open and deliver every event once', async () => {
  const { sluice } = suite;
  const rx = await suite.newReceiver();
  const DELAY = 400;
  rx.setMode({ delayMs: DELAY });
  const d = await createWebhook(sluice, rx, { lanes: 4, max_in_flight: 24, retry: FAST });
  assert.equal(d.destination.lanes, 4);
  assert.equal(d.destination.max_in_flight, 24);
  const ids = [];
  for (let i = 0; i < 40; i++) ids.push((await publish(sluice, d.tenantId, 'order.created', { n: i })).id);
  const reqs = await rx.waitFor(40, 30_000);
  const delivered = reqs.map((r) => JSON.parse(r.body).n).sort((a, b) => a - b);
  assert.deepEqual(delivered, [...Array(40).keys()], 'each event once');
  const most = mostAtOnce(reqs, DELAY);
  assert.ok(most > 6, `more than one scheduler's 6 at once over the lanes; got ${most}`);
  assert.ok(most <= 24, `never more than max_in_flight; got ${most}`);
  const s = await eventually(async () => {
    const s = await status(sluice, d.base);
    return s.queue_depth === 0 && s.deliveries.pending === 0 ? s : null;
  }, 10_000, { what: 'empty lanes' });
  assert.equal(s.lanes, 4);
  await sleep(300);
  assert.equal(rx.count, 40, 'nothing sent twice');
});

test('one lane of the same destination stays at 6 requests at once', async () => {
  const { sluice } = suite;
  const rx = await suite.newReceiver();
  const DELAY = 400;
  rx.setMode({ delayMs: DELAY });
  const d = await createWebhook(sluice, rx, { max_in_flight: 24, retry: FAST });
  assert.equal(d.destination.lanes, 1);
  for (let i = 0; i < 18; i++) await publish(sluice, d.tenantId, 'order.created', { n: i });
  const reqs = await rx.waitFor(18, 30_000);
  assert.ok(mostAtOnce(reqs, DELAY) <= 6, 'one scheduler: at most 6 at once');
});

test('lanes are checked: 1 to 16, at most max_in_flight, one for websocket', async () => {
  const { sluice } = suite;
  const rx = await suite.newReceiver();
  const d = await createWebhook(sluice, rx, { max_in_flight: 8 });
  const post = (body) => sluice.api('POST', `/v1/tenants/${d.tenantId}/destinations`, body);
  const hook = { type: 'webhook', config: { url: rx.url } };
  for (const [body, what] of [
    [{ ...hook, lanes: 0 }, 'zero lanes'],
    [{ ...hook, lanes: 17, max_in_flight: 50 }, 'seventeen lanes'],
    [{ ...hook, lanes: 4, max_in_flight: 3 }, 'fewer requests than lanes'],
    [{ type: 'websocket', config: {}, lanes: 2, max_in_flight: 2 }, 'a websocket over lanes'],
  ]) {
    const p = checkProblem(await post(body), 422, 'validation', what);
    assert.ok(JSON.stringify(p).includes('lanes'), `${what}: names the field`);
  }
  const bad = await sluice.api('PATCH', d.base, { lanes: 9 });
  checkProblem(bad, 422, 'validation', 'patch past max_in_flight');
  const ok = await sluice.api('PATCH', d.base, { lanes: 8 });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.lanes, 8);
});

/** A destination whose circuit one failing delivery opens; `count` more wait behind it. */
async function openedWithWaiting(sluice, rx, { lanes, cooldownMs, count }) {
  const d = await createWebhook(sluice, rx, {
    lanes,
    max_in_flight: lanes * 6,
    retry: FAST,
    circuit_breaker: { failure_threshold: 1, cooldown_ms: cooldownMs },
  });
  rx.setMode({ status: 503 });
  await publish(sluice, d.tenantId, 'order.created', { n: 'first' });
  await rx.waitFor(1, 10_000);
  await eventually(async () => (await status(sluice, d.base)).circuit.state === 'open', 10_000, {
    what: 'the circuit open',
  });
  // The lane that failed tells the others after its run.
  await sleep(500);
  rx.setMode({ status: 200 });
  for (let i = 0; i < count; i++) await publish(sluice, d.tenantId, 'order.created', { n: i });
  return d;
}

test('a circuit opened in one lane stops the others; a reset reaches them all', async () => {
  const { sluice } = suite;
  const rx = await suite.newReceiver();
  // Eight events over four lanes: all of them in the failing lane is a 1 in 65,536 chance.
  const d = await openedWithWaiting(sluice, rx, { lanes: 4, cooldownMs: 60_000, count: 8 });
  await sleep(1_500);
  assert.equal(rx.count, 1, 'no lane sends while the circuit is open');
  const s = await status(sluice, d.base);
  assert.equal(s.circuit.state, 'open');
  assert.equal(s.queue_depth, 9, 'the status sums the lanes');
  assert.equal(s.deliveries.pending, 9);
  // /metrics too: each lane reports its own depth (METRICS_FLUSH_SECONDS is 0 here).
  const gauge = `sluice_queue_depth{tenant_id="${d.tenantId}",destination_id="${d.destinationId}",type="webhook"} 9`;
  await eventually(async () => (await sluice.api('GET', '/metrics')).text.split('\n').includes(gauge), 10_000, {
    what: 'queue depth 9 in /metrics',
  });
  const reset = await sluice.api('POST', `${d.base}/circuit/reset`);
  assert.equal(reset.status, 200, reset.text);
  assert.equal(reset.json.circuit.state, 'closed');
  await rx.waitFor(10, 15_000);
  await eventually(async () => (await status(sluice, d.base)).queue_depth === 0, 10_000, {
    what: 'every lane drained',
  });
});

test('lowering lanes strands nothing: the lanes above drain what they hold', async () => {
  const { sluice } = suite;
  const rx = await suite.newReceiver();
  const d = await openedWithWaiting(sluice, rx, { lanes: 4, cooldownMs: 60_000, count: 8 });
  const lowered = await sluice.api('PATCH', d.base, { lanes: 1 });
  assert.equal(lowered.status, 200, lowered.text);
  assert.equal(lowered.json.lanes, 1);
  assert.equal((await status(sluice, d.base)).queue_depth, 9, 'still counted in every lane');
  // New events go to lane 0 only from now on.
  await publish(sluice, d.tenantId, 'order.created', { n: 'after' });
  await sluice.apiOk('POST', `${d.base}/circuit/reset`);
  const reqs = await rx.waitFor(11, 15_000);
  const bodies = new Set(reqs.filter((r) => r.respondedStatus === 200).map((r) => r.body));
  assert.equal(bodies.size, 10, 'the nine waiting and the new one, each delivered');
  await eventually(async () => (await status(sluice, d.base)).queue_depth === 0, 10_000, {
    what: 'every lane drained',
  });
});

test('raising lanes keeps what lane 0 holds, passes the open circuit on, and spreads what comes next', async () => {
  const { sluice } = suite;
  const rx = await suite.newReceiver();
  const d = await openedWithWaiting(sluice, rx, { lanes: 1, cooldownMs: 60_000, count: 4 });
  const raised = await sluice.api('PATCH', d.base, { lanes: 4 });
  assert.equal(raised.status, 200, raised.text);
  assert.equal((await status(sluice, d.base)).queue_depth, 5, 'lane 0 still holds its five');
  // The new lanes start with the open circuit lane 0 passed on: they do not send either.
  for (let i = 0; i < 8; i++) await publish(sluice, d.tenantId, 'order.created', { n: `new-${i}` });
  await sleep(1_500);
  assert.equal(rx.count, 1, 'no lane sends while the circuit is open');
  assert.equal((await status(sluice, d.base)).queue_depth, 13);
  await sluice.apiOk('POST', `${d.base}/circuit/reset`);
  const reqs = await rx.waitFor((r) => new Set(r.filter((x) => x.respondedStatus === 200).map((x) => x.body)).size >= 13, 15_000);
  const bodies = new Set(reqs.filter((r) => r.respondedStatus === 200).map((r) => r.body));
  assert.equal(bodies.size, 13, 'the five waiting and the eight new, each delivered');
  const s = await eventually(async () => {
    const s = await status(sluice, d.base);
    return s.queue_depth === 0 ? s : null;
  }, 10_000, { what: 'every lane drained' });
  assert.equal(s.lanes, 4);
});

test('deleting the destination purges every lane', async () => {
  const { sluice } = suite;
  const rx = await suite.newReceiver();
  const d = await openedWithWaiting(sluice, rx, { lanes: 4, cooldownMs: 1_500, count: 8 });
  const del = await sluice.api('DELETE', d.base);
  assert.equal(del.status, 204, del.text);
  // Past the cooldown, a lane still holding its deliveries would probe and send.
  await sleep(3_500);
  assert.equal(rx.count, 1, 'nothing sent after the delete');
});

/** FNV-1a, 64 bits: the lane choice of `core::lanes::lane_for`. */
function laneOf(key, lanes) {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(key, 'utf8')) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return Number(h % BigInt(lanes));
}

test('a Kafka key keeps its order over lanes, and keys in different lanes go at once', async () => {
  const { sluice } = suite;
  const kafka = await startKafkaRest({ clusterId: 'lkc-lanes' });
  try {
    const topic = uniqueId('lanes').replace(/[^a-zA-Z0-9._-]/g, '_');
    kafka.createTopic(topic, { partitions: 4 });
    // Four customers, one in each of the four lanes.
    const customers = [];
    for (let i = 0; customers.length < 4; i++) {
      const c = `c-${i}`;
      if (!customers.some((o) => laneOf(o, 4) === laneOf(c, 4))) customers.push(c);
    }
    const tenantId = uniqueId('lanes');
    await sluice.apiOk('POST', '/v1/tenants', { id: tenantId });
    const created = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
      type: 'kafka',
      config: { endpoint: kafka.url, cluster_id: 'lkc-lanes', topic, key_field: 'customer' },
      retry: FAST,
      lanes: 4,
      max_in_flight: 4,
    });
    assert.equal(created.status, 201, created.text);
    kafka.hold();
    for (let n = 0; n < 6; n++) {
      for (const customer of customers) await publish(sluice, tenantId, 'order.created', { customer, n });
    }
    // One request per lane at a time (max_in_flight 4 over 4 lanes): four held at once.
    await eventually(() => kafka.waiting >= 4, 10_000, { what: 'a request from each lane' });
    await sleep(300);
    assert.equal(kafka.waiting, 4, 'one per lane, never two of a lane');
    kafka.release();
    await eventually(() => kafka.records(topic).length >= 24, 15_000, { what: '24 records' });
    const records = kafka.records(topic);
    assert.equal(records.length, 24);
    for (const customer of customers) {
      const ns = records.filter((r) => r.value.customer === customer).map((r) => r.value.n);
      assert.deepEqual(ns, [0, 1, 2, 3, 4, 5], `${customer} in order`);
    }
  } finally {
    await kafka.close();
  }
});
