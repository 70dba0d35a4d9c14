// Inspection and manual retries: the event log with its filters, one event with every
// delivery and attempt, and retries of one delivery, one event, or a destination's failures.
// One `wrangler dev` for the file, with a manual-retry cap of 2.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startReceiver, sleep } from './helpers/receiver.mjs';
import { startSluice, createWebhook, publish, eventually, checkProblem, uniqueId } from './helpers/sluice.mjs';

let sluice;
const receivers = [];

async function newReceiver() {
  const rx = await startReceiver();
  receivers.push(rx);
  return rx;
}

before(async () => {
  sluice = await startSluice({ name: 'inspection', vars: { MAX_MANUAL_RETRIES: '2', MAX_DESTINATIONS_PER_TENANT: '3' } });
}, { timeout: 120_000 });

after(async () => {
  for (const rx of receivers) await rx.close();
  if (sluice) await sluice.dispose();
});

const FAST = { max_retries: 3, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 };

async function delivery(base, id) {
  const r = await sluice.api('GET', `${base}/deliveries?limit=100`);
  assert.equal(r.status, 200, r.text);
  return r.json.data.find((d) => d.id === id);
}

async function waitStatus(base, id, status) {
  return eventually(async () => {
    const d = await delivery(base, id);
    return d?.status === status ? d : null;
  }, 10_000, { what: `delivery ${id} ${status}` });
}

async function attempts(base, id) {
  const r = await sluice.api('GET', `${base}/deliveries/${id}/attempts`);
  assert.equal(r.status, 200, r.text);
  return r.json.data;
}

test('manual retry of one delivery: one attempt, recorded as manual with who asked; capped', { timeout: 60_000 }, async () => {
  const rx = await newReceiver();
  rx.setMode({ status: 400 });
  const w = await createWebhook(sluice, rx, { retry: FAST });
  const pub = await publish(sluice, w.tenantId, 'retry.one', { n: 1 });
  const id = pub.deliveries[0].id;
  await waitStatus(w.base, id, 'failed');

  // Still failing: the manual attempt is one attempt, failed again, not rescheduled.
  rx.setMode({ status: 503 });
  const first = await sluice.api('POST', `${w.base}/deliveries/${id}/retry`);
  assert.equal(first.status, 202, first.text);
  assert.equal(first.json.status, 'pending');
  assert.equal(first.json.manual_retries, 1);
  const failedAgain = await waitStatus(w.base, id, 'failed');
  assert.match(failedAgain.last_error, /^manual retry failed: HTTP 503/);
  await sleep(500);
  assert.equal(rx.count, 2, 'one automatic attempt (400, final) and one manual attempt, no rescheduling');

  rx.setMode({ status: 200 });
  const second = await sluice.api('POST', `${w.base}/deliveries/${id}/retry`);
  assert.equal(second.status, 202, second.text);
  await waitStatus(w.base, id, 'delivered');
  const history = await attempts(w.base, id);
  assert.deepEqual(history.map((a) => [a.attempt, a.trigger, a.outcome, a.requested_by]), [
    [1, 'scheduled', 'failed', null],
    [2, 'manual', 'failed', 'admin'],
    [3, 'manual', 'delivered', 'admin'],
  ]);

  // The cap (2 here) is enforced, and an unknown delivery is 404.
  checkProblem(await sluice.api('POST', `${w.base}/deliveries/${id}/retry`), 409, 'conflict', 'third manual retry');
  checkProblem(await sluice.api('POST', `${w.base}/deliveries/dlv_01jc0000000000000000000000/retry`), 404, 'not-found', 'unknown delivery');
});

test('a pending delivery cannot be retried by hand; a disabled destination refuses retries', { timeout: 60_000 }, async () => {
  const rx = await newReceiver();
  rx.setMode({ status: 500 });
  const w = await createWebhook(sluice, rx, {
    retry: { max_retries: 20, backoff: { type: 'fixed', interval_ms: 5000 }, jitter: 0 },
  });
  const pub = await publish(sluice, w.tenantId, 'retry.pending', { n: 1 });
  await rx.waitFor(1, 10_000);
  checkProblem(await sluice.api('POST', `${w.base}/deliveries/${pub.deliveries[0].id}/retry`), 409, 'conflict', 'pending');
  await sluice.api('POST', `${w.base}/disable`);
  checkProblem(await sluice.api('POST', `${w.base}/retry`, {}), 409, 'conflict', 'disabled destination');
});

test('retry an event: every failed delivery of it, across destinations', { timeout: 60_000 }, async () => {
  const rx1 = await newReceiver();
  const rx2 = await newReceiver();
  rx1.setMode({ status: 404 });
  rx2.setMode({ status: 410 });
  const w = await createWebhook(sluice, rx1, { retry: FAST });
  const second = await sluice.api('POST', `/v1/tenants/${w.tenantId}/destinations`, {
    type: 'webhook', config: { url: rx2.url }, retry: FAST,
  });
  assert.equal(second.status, 201, second.text);
  const pub = await publish(sluice, w.tenantId, 'retry.event', { n: 1 }, { id: uniqueId('evt') });
  assert.equal(pub.deliveries.length, 2);
  const base2 = `/v1/tenants/${w.tenantId}/destinations/${second.json.id}`;
  await waitStatus(w.base, pub.deliveries.find((d) => d.destination_id === w.destinationId).id, 'failed');
  await waitStatus(base2, pub.deliveries.find((d) => d.destination_id === second.json.id).id, 'failed');

  rx1.setMode({ status: 200 });
  rx2.setMode({ status: 200 });
  const r = await sluice.api('POST', `/v1/tenants/${w.tenantId}/events/${pub.id}/retry`);
  assert.equal(r.status, 202, r.text);
  assert.equal(r.json.count, 2);
  assert.deepEqual([...r.json.deliveries].sort(), pub.deliveries.map((d) => d.id).sort());
  await rx1.waitFor((reqs) => reqs.some((q) => q.respondedStatus === 200), 10_000);
  await rx2.waitFor((reqs) => reqs.some((q) => q.respondedStatus === 200), 10_000);
  checkProblem(await sluice.api('POST', `/v1/tenants/${w.tenantId}/events/no-such-event/retry`), 404, 'not-found', 'unknown event');
});

test("bulk retry of a destination's failures in a time range", { timeout: 60_000 }, async () => {
  const rx = await newReceiver();
  rx.setMode({ status: 400 });
  const w = await createWebhook(sluice, rx, { retry: FAST });
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await publish(sluice, w.tenantId, 'retry.bulk', { i })).deliveries[0].id);
  for (const id of ids) await waitStatus(w.base, id, 'failed');

  const future = await sluice.api('POST', `${w.base}/retry`, { since: new Date(Date.now() + 60_000).toISOString() });
  checkProblem(future, 422, 'validation', 'since after until');
  const none = await sluice.api('POST', `${w.base}/retry`, { until: '2020-01-01T00:00:00Z' });
  assert.equal(none.status, 202, none.text);
  assert.equal(none.json.count, 0);

  rx.setMode({ status: 200 });
  const bulk = await sluice.api('POST', `${w.base}/retry`); // no body: every failure
  assert.equal(bulk.status, 202, bulk.text);
  assert.match(bulk.json.job_id, /^rtj_/);
  assert.equal(bulk.json.count, 3);
  assert.equal(bulk.json.more, false);
  for (const id of ids) await waitStatus(w.base, id, 'delivered');
  checkProblem(await sluice.api('POST', `${w.base}/retry`, { since: 'yesterday' }), 422, 'validation', 'bad since');
});

test('event log: filters, order, pagination, and the event page with every attempt', { timeout: 60_000 }, async () => {
  const ok = await newReceiver();
  const bad = await newReceiver();
  bad.setMode({ status: 422 });
  const w = await createWebhook(sluice, ok, { topics: ['order.*'], retry: FAST });
  const failing = await sluice.api('POST', `/v1/tenants/${w.tenantId}/destinations`, {
    type: 'webhook', topics: ['invoice.*'], config: { url: bad.url }, retry: FAST,
  });
  const t0 = new Date(Date.now() - 1000).toISOString();
  const published = [];
  for (let i = 0; i < 4; i++) {
    published.push(await publish(sluice, w.tenantId, 'order.created', { order: { id: `ord_${i}`, items: [{ sku: `sku-${i}` }] } }, { id: `order-${i}`, metadata: { region: 'eu' } }));
  }
  published.push(await publish(sluice, w.tenantId, 'invoice.paid', { invoice: 'inv_9', note: 'needle in a haystack' }, { id: 'invoice-9' }));
  await ok.waitFor(4, 10_000);
  await eventually(async () => (await sluice.api('GET', `/v1/tenants/${w.tenantId}/events?status=failed`)).json.data.length === 1, 10_000, { what: 'the invoice delivery failed' });

  const list = async (q) => {
    const r = await sluice.api('GET', `/v1/tenants/${w.tenantId}/events${q}`);
    assert.equal(r.status, 200, `${q}: ${r.text}`);
    return r.json;
  };
  const ids = (page) => page.data.map((e) => e.id);

  assert.deepEqual(ids(await list('')), ['invoice-9', 'order-3', 'order-2', 'order-1', 'order-0'], 'newest first');
  assert.deepEqual(ids(await list('?order=asc&topic=order.created')), ['order-0', 'order-1', 'order-2', 'order-3']);
  assert.deepEqual(ids(await list('?status=failed')), ['invoice-9']);
  assert.deepEqual(ids(await list(`?destination_id=${failing.json.id}`)), ['invoice-9']);
  assert.deepEqual(ids(await list('?contains=needle')), ['invoice-9']);
  assert.deepEqual(ids(await list('?path=order.items[0].sku&value=sku-2')), ['order-2']);
  assert.deepEqual(ids(await list(`?since=${encodeURIComponent(t0)}&until=${encodeURIComponent(new Date(Date.now() + 1000).toISOString())}&topic=invoice.paid`)), ['invoice-9']);
  const summary = (await list('?topic=order.created&limit=1')).data[0];
  assert.deepEqual(summary.deliveries, { delivered: 1 });
  assert.deepEqual(summary.metadata, { region: 'eu' });
  assert.equal(summary.data, undefined, 'lists leave the payload out');

  // Cursor pagination walks every event exactly once, in order.
  const seen = [];
  let cursor = null;
  do {
    const page = await list(`?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    seen.push(...ids(page));
    cursor = page.next_cursor;
  } while (cursor);
  assert.deepEqual(seen, ['invoice-9', 'order-3', 'order-2', 'order-1', 'order-0']);

  // Bad parameters are named.
  for (const [q, field] of [['?status=lost', 'status'], ['?order=up', 'order'], ['?path=a..b&value=1', 'path'], ['?path=a', 'path'], ['?since=now', 'since'], ['?destination_id=x', 'destination_id'], ['?cursor=zz', 'cursor']]) {
    const r = await sluice.api('GET', `/v1/tenants/${w.tenantId}/events${q}`);
    checkProblem(r, 422, 'validation', q);
    assert.equal(r.json.errors[0].field, field, q);
  }

  // The event page: payload, metadata, and per destination the delivery with its attempts.
  const page = await sluice.api('GET', `/v1/tenants/${w.tenantId}/events/invoice-9`);
  assert.equal(page.status, 200, page.text);
  assert.deepEqual(page.json.data, { invoice: 'inv_9', note: 'needle in a haystack' });
  assert.equal(page.json.topic, 'invoice.paid');
  assert.equal(page.json.deliveries.length, 1);
  const [d] = page.json.deliveries;
  assert.equal(d.destination_id, failing.json.id);
  assert.equal(d.status, 'failed');
  assert.equal(d.history.length, 1);
  assert.equal(d.history[0].status_code, 422);
  assert.equal(d.history[0].outcome, 'failed');
  checkProblem(await sluice.api('GET', `/v1/tenants/${w.tenantId}/events/nope`), 404, 'not-found', 'unknown event');
  checkProblem(await sluice.api('GET', `/v1/tenants/${uniqueId('ghost')}/events`), 404, 'not-found', 'unknown tenant');
});

test('auto-disable: after N consecutive failures the destination is disabled with a reason; its queue is kept; enable resumes', { timeout: 60_000 }, async () => {
  const rx = await newReceiver();
  rx.setMode({ status: 500 });
  const w = await createWebhook(sluice, rx, {
    retry: { max_retries: 50, backoff: { type: 'fixed', interval_ms: 50 }, jitter: 0 },
    circuit_breaker: { failure_threshold: 1000, cooldown_ms: 1000 },
    disable_after_failures: 4,
  });
  const first = await publish(sluice, w.tenantId, 'auto.disable', { n: 1 });
  const disabled = await eventually(async () => {
    const r = await sluice.api('GET', w.base);
    return r.json.enabled === false ? r.json : null;
  }, 10_000, { what: 'destination auto-disabled' });
  assert.match(disabled.disabled_reason, /after 4 consecutive failed attempts/);
  await sleep(500);
  assert.equal(rx.count, 4, 'exactly 4 attempts, then nothing');

  const status = await sluice.api('GET', `${w.base}/status`);
  assert.equal(status.json.enabled, false);
  assert.equal(status.json.queue_depth, 1, 'the queued delivery is kept');
  const skipped = await publish(sluice, w.tenantId, 'auto.disable', { n: 2 });
  assert.equal(skipped.deliveries[0].status, 'skipped');

  rx.setMode({ status: 200 });
  const on = await sluice.api('POST', `${w.base}/enable`);
  assert.equal(on.status, 200, on.text);
  await waitStatus(w.base, first.deliveries[0].id, 'delivered');
  assert.equal(rx.requests.filter((r) => r.respondedStatus === 200).length, 1, 'only the queued event; the skipped one stays skipped');
});

test('rate limit: a burst of 100 events is paced at the configured rate; status shows it', { timeout: 60_000 }, async () => {
  const rx = await newReceiver();
  const RATE = 25;
  const w = await createWebhook(sluice, rx, { retry: FAST, rate_limit: { per_second: RATE } });
  const status0 = await sluice.api('GET', `${w.base}/status`);
  assert.equal(status0.json.rate_limit.per_second, RATE, status0.text);

  await Promise.all(Array.from({ length: 100 }, (_, i) => publish(sluice, w.tenantId, 'rate.test', { i })));
  await rx.waitFor(100, 30_000);
  const times = rx.requests.map((r) => r.receivedAt).sort((a, b) => a - b);
  const span = times[99] - times[0];
  // A full bucket lets one second's worth through at once; the other 75 follow at 25/s.
  assert.ok(span >= 2_700, `100 deliveries at ${RATE}/s took only ${span} ms`);
  let worst = 0;
  for (let i = 0; i < times.length; i++) {
    let j = i;
    while (j < times.length && times[j] - times[i] < 1000) j++;
    worst = Math.max(worst, j - i);
  }
  // One second's burst plus what refills in that second, with slack for timer jitter.
  assert.ok(worst <= 2 * RATE + 5, `${worst} deliveries within one second`);
  console.log(`rate limit: 100 deliveries at ${RATE}/s spanned ${span} ms; busiest second ${worst}`);
});

test('payload filters: matching events are delivered, the others recorded as filtered; bad filters named; filters/test', { timeout: 60_000 }, async () => {
  const rx = await newReceiver();
  const w = await createWebhook(sluice, rx, { retry: FAST });
  const filter = { data: { amount: { $gte: 100 }, currency: { $in: ['EUR', 'USD'] } }, metadata: { region: 'eu' } };
  const patched = await sluice.api('PATCH', w.base, { filter });
  assert.equal(patched.status, 200, patched.text);
  assert.deepEqual(patched.json.filter, filter);

  const big = await publish(sluice, w.tenantId, 'order.paid', { amount: 250, currency: 'EUR' }, { metadata: { region: 'eu' } });
  const small = await publish(sluice, w.tenantId, 'order.paid', { amount: 5, currency: 'EUR' }, { metadata: { region: 'eu' } });
  const elsewhere = await publish(sluice, w.tenantId, 'order.paid', { amount: 500, currency: 'USD' }, { metadata: { region: 'us' } });
  assert.equal(big.deliveries[0].status, 'pending');
  assert.equal(small.deliveries[0].status, 'filtered');
  assert.equal(elsewhere.deliveries[0].status, 'filtered');
  await rx.waitFor(1, 10_000);
  await sleep(500);
  assert.equal(rx.count, 1, 'only the matching event was sent');
  assert.deepEqual(JSON.parse(rx.requests[0].body), { amount: 250, currency: 'EUR' });
  // Counted per destination in its status (the scheduler counts the delivery, the log shard
  // the filtered events: each adds its counts on its own, so wait for both).
  const counted = await eventually(async () => {
    const r = await sluice.api('GET', `${w.base}/status`);
    return r.json.deliveries?.delivered === 1 && r.json.deliveries?.filtered === 2 ? r.json : null;
  }, 10_000, { what: 'the delivered and filtered counts' });
  assert.deepEqual(counted.deliveries, { pending: 0, delivered: 1, failed: 0, skipped: 0, filtered: 2 });
  const filtered = await sluice.api('GET', `${w.base}/deliveries?status=filtered`);
  assert.deepEqual(filtered.json.data.map((d) => d.event_id).sort(), [small.id, elsewhere.id].sort(), 'filtered-out events are visible');

  // Invalid filters are refused naming the path and the operator.
  const bad = await sluice.api('PATCH', w.base, { filter: { data: { amount: { $gte: {} } } } });
  checkProblem(bad, 422, 'validation', 'bad filter');
  assert.equal(bad.json.errors[0].field, 'filter.data.amount.$gte', bad.text);
  const unknownOp = await sluice.api('POST', `/v1/tenants/${w.tenantId}/destinations`, { type: 'webhook', config: { url: rx.url }, filter: { data: { a: { $like: 'x' } } } });
  checkProblem(unknownOp, 422, 'validation', 'unknown operator');
  assert.match(unknownOp.json.errors[0].field, /^filter\.data\.a/);

  // The test endpoint evaluates without a destination.
  const yes = await sluice.api('POST', '/v1/filters/test', { filter, event: { data: { amount: 100, currency: 'USD' }, metadata: { region: 'eu' }, topic: 'x' } });
  assert.equal(yes.status, 200, yes.text);
  assert.equal(yes.json.matches, true);
  const no = await sluice.api('POST', '/v1/filters/test', { filter, event: { data: { amount: '100' } } });
  assert.equal(no.json.matches, false, 'a string is not a number');
  const regex = await sluice.api('POST', '/v1/filters/test', { filter: { topic: { $regex: '^order\\.(paid|refunded)$' } }, event: { topic: 'order.refunded' } });
  assert.equal(regex.json.matches, true);
  checkProblem(await sluice.api('POST', '/v1/filters/test', { filter: { data: { $regex: '(' } }, event: {} }), 422, 'validation', 'bad regex');

  // A new filter replaces the old one whole (no merge of the two expressions).
  const replaced = await sluice.api('PATCH', w.base, { filter: { topic: 'order.refunded' } });
  assert.deepEqual(replaced.json.filter, { topic: 'order.refunded' });

  // Removing the filter delivers everything again.
  const cleared = await sluice.api('PATCH', w.base, { filter: null });
  assert.equal(cleared.json.filter, null);
  const after = await publish(sluice, w.tenantId, 'order.paid', { amount: 1 });
  assert.equal(after.deliveries[0].status, 'pending');
});

test('filters are Hookdeck filters of the whole event {id, topic, time, metadata, data}', { timeout: 60_000 }, async () => {
  const check = async (filter, event, expected) => {
    const r = await sluice.api('POST', '/v1/filters/test', { filter, event });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.matches, expected, `${JSON.stringify(filter)} on ${JSON.stringify(event)}`);
  };
  const event = { id: 'evt_1', topic: 'order.paid', time: '2026-12-06T10:00:00.000Z', data: { tags: ['gift', 'eu', 'vip'], inventory: 0, old_inventory: 10, title: 'some-text' } };
  await check({ data: { tags: ['gift', 'vip'] } }, event, true);
  await check({ data: { tags: ['gift', 'nope'] } }, event, false);
  await check({ data: { inventory: { $lte: { $ref: 'data.old_inventory' } } } }, event, true);
  await check({ data: { title: { $in: 'text' }, inventory: { $or: [0, 5] } } }, event, true);
  await check({ data: { title: { $startsWith: ['x', 'some'] } } }, event, true);
  await check({ data: { title: { $not: 'some-text' } } }, event, false);
  await check({ id: 'evt_1', time: { $gte: '2026-12-01' } }, event, true);
  // Published events are filtered on the same document: their id and publish time included.
  const rx = await newReceiver();
  const w = await createWebhook(sluice, rx, { retry: FAST });
  assert.equal((await sluice.api('PATCH', w.base, { filter: { id: { $startsWith: 'keep-' }, time: { $startsWith: '20' } } })).status, 200);
  const kept = await publish(sluice, w.tenantId, 'order.paid', { n: 1 }, { id: 'keep-1' });
  const dropped = await publish(sluice, w.tenantId, 'order.paid', { n: 2 }, { id: 'drop-1' });
  assert.equal(kept.deliveries[0].status, 'pending');
  assert.equal(dropped.deliveries[0].status, 'filtered');
});

test('caps: $regex per filter (422 naming the field) and destinations per tenant (409)', { timeout: 60_000 }, async () => {
  // Nine regexes: the ninth is over the cap of eight, and named.
  const data = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`f${i}`, { $regex: `^${i}` }]));
  const tooMany = await sluice.api('POST', '/v1/filters/test', { filter: { data }, event: {} });
  const p = checkProblem(tooMany, 422, 'validation', 'too many regexes');
  assert.equal(p.errors.length, 1, tooMany.text);
  assert.equal(p.errors[0].field, 'filter.data.f8.$regex', tooMany.text);
  assert.match(p.errors[0].message, /at most 8 \$regex/);
  delete data.f8;
  const eight = await sluice.api('POST', '/v1/filters/test', { filter: { data }, event: {} });
  assert.equal(eight.status, 200, eight.text);
  // The same budget on a destination's filter.
  const rx = await newReceiver();
  const w = await createWebhook(sluice, rx);
  const bad = await sluice.api('PATCH', w.base, { filter: { data: { ...data, f8: { $regex: 'x' } } } });
  checkProblem(bad, 422, 'validation', 'too many regexes on a destination');
  assert.equal(bad.json.errors[0].field, 'filter.data.f8.$regex', bad.text);

  // MAX_DESTINATIONS_PER_TENANT is 3 here: the tenant has one, two more fit, the fourth is refused.
  const base = `/v1/tenants/${w.tenantId}/destinations`;
  for (let i = 0; i < 2; i++) {
    const r = await sluice.api('POST', base, { type: 'webhook', config: { url: rx.url } });
    assert.equal(r.status, 201, r.text);
  }
  const over = await sluice.api('POST', base, { type: 'webhook', config: { url: rx.url } });
  const c = checkProblem(over, 409, 'conflict', 'over the destinations cap');
  assert.match(c.detail, /3 destinations.*MAX_DESTINATIONS_PER_TENANT/);
  const listed = await sluice.api('GET', base);
  assert.equal(listed.json.data.length, 3, 'nothing was stored past the cap');
  // Deleting one makes room again.
  assert.equal((await sluice.api('DELETE', `${base}/${listed.json.data[0].id}`)).status, 204);
  assert.equal((await sluice.api('POST', base, { type: 'webhook', config: { url: rx.url } })).status, 201);
});

test('max_in_flight: a slow receiver is served several requests at once', { timeout: 60_000 }, async () => {
  const N = 12;
  // The most requests the receiver held at once: each is held 300 ms before its answer.
  const mostAtOnce = (reqs) => Math.max(...reqs.map((a) => reqs.filter((b) => b.receivedAt >= a.receivedAt && b.receivedAt < a.receivedAt + 250).length));
  const run = async (inFlight) => {
    const rx = await newReceiver();
    rx.setMode({ status: 200, delayMs: 300 });
    const w = await createWebhook(sluice, rx, { retry: FAST, max_in_flight: inFlight });
    assert.equal(w.destination.max_in_flight, inFlight);
    assert.equal((await sluice.api('GET', `${w.base}/status`)).json.max_in_flight, inFlight);
    await Promise.all(Array.from({ length: N }, (_, i) => publish(sluice, w.tenantId, 'inflight.test', { i })));
    await rx.waitFor((reqs) => reqs.filter((r) => r.respondedStatus === 200).length >= N, 30_000);
    const reqs = rx.requests.filter((r) => r.respondedStatus === 200);
    const span = Math.max(...reqs.map((r) => r.receivedAt)) - Math.min(...reqs.map((r) => r.receivedAt)) + 300;
    return { atOnce: mostAtOnce(reqs), span };
  };
  const serial = await run(1);
  const parallel = await run(4);
  // Production keeps 6 connections per invocation: more than 6 is never in flight.
  const capped = await run(12);
  console.log(`max_in_flight: ${N} deliveries to a 300 ms receiver: at most ${serial.atOnce} at once over ${serial.span} ms with 1, ${parallel.atOnce} at once over ${parallel.span} ms with 4, ${capped.atOnce} with 12`);
  // Counted at the receiver, not timed: the limit holds whatever the machine's load.
  assert.equal(serial.atOnce, 1, 'one at a time');
  assert.ok(parallel.atOnce >= 2 && parallel.atOnce <= 4, `several at once, never more than 4 (${parallel.atOnce})`);
  assert.ok(capped.atOnce >= 2 && capped.atOnce <= 6, `never more than 6 at once (${capped.atOnce})`);
});
