// Batch publish (`POST /v1/publish/batch`): up to 100 events in one request, each accepted or
// refused on its own, in order; idempotent per event as a single publish is (also within the
// batch); events without an id are found by the id Sluice gave them, and sending that id back
// is a repeat.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { sluiceSuite, createWebhook, publish, checkProblem, uniqueId } from './helpers/sluice.mjs';

const suite = sluiceSuite('batch');

test('a batch answers each event on its own, in order, and delivers the accepted ones', { timeout: 60_000 }, async () => {
  const { sluice } = suite;
  const rx = await suite.newReceiver();
  const w = await createWebhook(sluice, rx, { signing: { scheme: 'none' } });
  const given = uniqueId('order');
  const nobody = uniqueId('nobody');
  const events = [
    { tenant_id: w.tenantId, topic: 'order.created', id: given, data: { n: 0 } },
    { tenant_id: w.tenantId, topic: 'order.created', data: { n: 1 } },
    { tenant_id: w.tenantId, data: { n: 2 } }, // no topic
    { tenant_id: nobody, topic: 'order.created', data: { n: 3 } },
    { tenant_id: w.tenantId, topic: 'order.created', id: given, data: { n: 4 } }, // same id again
    { tenant_id: w.tenantId, topic: 'sluice.alert', data: { n: 5 } }, // reserved topic
    { tenant_id: w.tenantId, topic: 'order.created', data: { n: 6 }, colour: 'red' }, // unknown field
    { tenant_id: nobody, topic: 'order.created', data: { n: 7 } }, // unknown again
  ];
  const r = await sluice.api('POST', '/v1/publish/batch', { events });
  assert.equal(r.status, 200, r.text);
  const { results } = r.json;
  assert.deepEqual(results.map((x) => x.status), [202, 202, 422, 404, 202, 422, 422, 404]);
  assert.equal(r.json.accepted, 3);
  assert.equal(r.json.refused, 5);
  assert.equal(results[0].id, given);
  assert.equal(results[0].duplicate, false);
  assert.equal(results[4].id, given);
  assert.equal(results[4].duplicate, true, 'the second of two equal ids in one batch is a repeat');
  assert.deepEqual(results[4].deliveries.map((d) => d.id), results[0].deliveries.map((d) => d.id));
  assert.match(results[1].id, /^evt_[0-9a-z]{26}$/i);
  assert.equal(results[2].error.type, '/problems/validation');
  assert.ok(results[2].error.errors.some((e) => e.field === 'topic'), JSON.stringify(results[2].error));
  assert.equal(results[3].error.type, '/problems/not-found');
  assert.ok(results[6].error.errors.some((e) => e.field === 'colour'), JSON.stringify(results[6].error));

  // The two accepted events arrive, once each.
  await rx.waitFor((reqs) => reqs.length >= 2, 15_000);
  const bodies = rx.requests.map((q) => JSON.parse(q.body).n).sort();
  assert.deepEqual(bodies, [0, 1]);

  // The event without an id is found by the id Sluice gave it (it has no index entry).
  const generated = results[1].id;
  const got = await sluice.api('GET', `/v1/tenants/${w.tenantId}/events/${generated}`);
  assert.equal(got.status, 200, got.text);
  assert.equal(got.json.id, generated);
  // Sending that id back is a repeat: nothing new is stored or sent.
  const again = await publish(sluice, w.tenantId, 'order.created', { n: 1 }, { id: generated });
  assert.equal(again.duplicate, true);
  assert.deepEqual(again.deliveries.map((d) => d.id), results[1].deliveries.map((d) => d.id));
  // An event retry finds it too (nothing failed, so nothing is sent); an id of the same form
  // that was never published is not found.
  const retry = await sluice.api('POST', `/v1/tenants/${w.tenantId}/events/${generated}/retry`);
  assert.equal(retry.status, 202, retry.text);
  const never = `evt_${generated.slice(4, 14)}${'0'.repeat(16)}`;
  checkProblem(await sluice.api('GET', `/v1/tenants/${w.tenantId}/events/${never}`), 404, 'not-found');
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(rx.requests.length, 2);
});

test('a batch of 100 events to three tenants is accepted whole and each is listed', { timeout: 90_000 }, async () => {
  const { sluice } = suite;
  const rx = await suite.newReceiver();
  const tenants = [];
  for (let i = 0; i < 3; i += 1) tenants.push((await createWebhook(sluice, rx, { signing: { scheme: 'none' } })).tenantId);
  const events = Array.from({ length: 100 }, (_, i) => ({
    tenant_id: tenants[i % 3],
    topic: 'order.created',
    ...(i % 2 ? { id: `bulk-${i}` } : {}),
    data: { i },
  }));
  const r = await sluice.api('POST', '/v1/publish/batch', { events });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.accepted, 100, r.text.slice(0, 500));
  await rx.waitFor((reqs) => reqs.length >= 100, 60_000);
  const seen = new Set(rx.requests.map((q) => JSON.parse(q.body).i));
  assert.equal(seen.size, 100);
  for (const t of tenants) {
    const list = await sluice.api('GET', `/v1/tenants/${t}/events?limit=100`);
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.data.length, events.filter((e) => e.tenant_id === t).length);
  }
  // The whole batch again: every event a repeat, nothing sent twice.
  const again = await sluice.api('POST', '/v1/publish/batch', { events: events.filter((e) => e.id) });
  assert.equal(again.status, 200, again.text);
  assert.ok(again.json.results.every((x) => x.status === 202 && x.duplicate), again.text.slice(0, 500));
});

// Concurrent single publishes to one shard, some repeating each other's ids at the same time:
// each is answered on its own, a repeat among them is a repeat of exactly one of them, each
// event is stored and delivered once.
test('concurrent publishes to one shard are each answered, stored and delivered once', { timeout: 90_000 }, async () => {
  const { sluice } = suite;
  const rx = await suite.newReceiver();
  const w = await createWebhook(sluice, rx, { signing: { scheme: 'none' } });
  const ids = Array.from({ length: 20 }, (_, i) => uniqueId(`c${i}`));
  const bodies = [
    ...ids.map((id, i) => ({ id, data: { i } })),
    ...ids.map((id, i) => ({ id, data: { i } })), // each id twice, at the same time
    ...Array.from({ length: 20 }, (_, i) => ({ data: { i: 100 + i } })),
  ];
  const answers = await Promise.all(bodies.map((b) => sluice.api('POST', '/v1/publish',
    { tenant_id: w.tenantId, topic: 'order.created', ...b })));
  for (const a of answers) assert.equal(a.status, 202, a.text);
  for (const id of ids) {
    const two = answers.filter((a) => a.json.id === id);
    assert.equal(two.length, 2);
    assert.deepEqual(two.map((a) => a.json.duplicate).sort(), [false, true], JSON.stringify(two.map((a) => a.json)));
    assert.deepEqual(two[0].json.deliveries.map((d) => d.id), two[1].json.deliveries.map((d) => d.id));
  }
  const generated = answers.slice(40).map((a) => a.json.id);
  assert.equal(new Set(generated).size, 20);
  await rx.waitFor((reqs) => reqs.length >= 40, 60_000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const seen = rx.requests.map((q) => JSON.parse(q.body).i).sort((x, y) => x - y);
  assert.deepEqual(seen, [...Array.from({ length: 20 }, (_, i) => i), ...Array.from({ length: 20 }, (_, i) => 100 + i)]);
  for (const id of [ids[0], generated[0]]) {
    const got = await sluice.api('GET', `/v1/tenants/${w.tenantId}/events/${id}`);
    assert.equal(got.status, 200, got.text);
  }
});

test('a batch that is not one is refused whole with a problem', { timeout: 30_000 }, async () => {
  const { sluice } = suite;
  const one = { tenant_id: 'acme', topic: 'order.created', data: {} };
  for (const [body, status, slug] of [
    [{ events: [] }, 422, 'validation'],
    [{ events: Array.from({ length: 101 }, () => one) }, 422, 'validation'],
    [{}, 422, 'validation'],
    [{ events: one }, 422, 'validation'],
    [[one], 422, 'validation'],
  ]) {
    const r = await sluice.api('POST', '/v1/publish/batch', body);
    checkProblem(r, status, slug, JSON.stringify(body).slice(0, 80));
  }
  const malformed = await sluice.api('POST', '/v1/publish/batch', undefined, { rawBody: '{"events": [', headers: { 'content-type': 'application/json' } });
  checkProblem(malformed, 400, 'malformed-json');
  const noKey = await sluice.api('POST', '/v1/publish/batch', { events: [one] }, { key: null });
  checkProblem(noKey, 401, 'unauthorized');
});
