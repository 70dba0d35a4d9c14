// Publishing from the per-isolate routing cache (core::routing_cache): once a tenant's
// destinations are cached, a publish reads nothing from D1. Every change made through the API
// forgets the cached view in that isolate (others see it within ROUTING_CACHE_SECONDS), so the
// very next publish sees it: a new destination gets it, a disabled one records it as skipped,
// a deleted one gets nothing, and a tenant deleted and created again under the same id routes
// by its new destinations.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { sluiceSuite, createWebhook, publish, uniqueId } from './helpers/sluice.mjs';

const suite = sluiceSuite('routing');
const newReceiver = () => suite.newReceiver();

const byDestination = (pub) => Object.fromEntries(pub.deliveries.map((d) => [d.destination_id, d.status]));

async function arrives(rx, id) {
  await rx.waitFor((reqs) => reqs.some((r) => r.headers['webhook-id'] === id), 10_000);
}

test('every destination change is seen by the next publish of a warm tenant', { timeout: 90_000 }, async () => {
  const [rxA, rxB] = [await newReceiver(), await newReceiver()];
  const a = await createWebhook(suite.sluice, rxA);
  const tenant = a.tenantId;

  // Cold, then warm: both go to A alone.
  for (const id of ['warm-1', 'warm-2']) {
    const p = await publish(suite.sluice, tenant, 'order.created', { id }, { id });
    assert.deepEqual(byDestination(p), { [a.destinationId]: 'pending' });
    await arrives(rxA, id);
  }

  // A destination created now gets the very next event.
  const b = await createWebhook(suite.sluice, rxB, { tenantId: tenant, existingTenant: true });
  const p3 = await publish(suite.sluice, tenant, 'order.created', { n: 3 }, { id: 'after-create' });
  assert.deepEqual(byDestination(p3), { [a.destinationId]: 'pending', [b.destinationId]: 'pending' });
  await arrives(rxA, 'after-create');
  await arrives(rxB, 'after-create');

  // Disabled: recorded as skipped at once, not sent.
  assert.equal((await suite.sluice.api('POST', `${a.base}/disable`)).status, 200);
  const p4 = await publish(suite.sluice, tenant, 'order.created', { n: 4 }, { id: 'after-disable' });
  assert.deepEqual(byDestination(p4), { [a.destinationId]: 'skipped', [b.destinationId]: 'pending' });

  // Subscribed elsewhere by a PATCH: no delivery for this topic any more.
  const patched = await suite.sluice.api('PATCH', b.base, { topics: ['invoice.*'] });
  assert.equal(patched.status, 200, patched.text);
  const p5 = await publish(suite.sluice, tenant, 'order.created', { n: 5 }, { id: 'after-patch' });
  assert.deepEqual(byDestination(p5), { [a.destinationId]: 'skipped' });

  // Deleted: no delivery at all (B was the one subscribed to invoice.*).
  const p6a = await publish(suite.sluice, tenant, 'invoice.paid', { n: 6 }, { id: 'before-delete' });
  assert.deepEqual(byDestination(p6a), { [a.destinationId]: 'skipped', [b.destinationId]: 'pending' });
  assert.equal((await suite.sluice.api('DELETE', b.base)).status, 204);
  const p6 = await publish(suite.sluice, tenant, 'invoice.paid', { n: 6 }, { id: 'after-delete' });
  assert.deepEqual(byDestination(p6), { [a.destinationId]: 'skipped' });

  // A repeated id through the warm path is still a duplicate with the first deliveries (the
  // event log keeps B's, though B is gone, until retention drops them).
  const again = await publish(suite.sluice, tenant, 'order.created', { n: 3 }, { id: 'after-create' });
  assert.equal(again.duplicate, true);
  assert.deepEqual(again.deliveries.map((d) => d.id).sort(), p3.deliveries.map((d) => d.id).sort());
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(rxB.requests.filter((r) => r.headers['webhook-id'] === 'after-create').length, 1);
  assert.equal(rxB.requests.filter((r) => r.headers['webhook-id'] === 'after-patch').length, 0);
});

test('a tenant deleted and created again routes by its new destinations', { timeout: 90_000 }, async () => {
  const [rxOld, rxNew] = [await newReceiver(), await newReceiver()];
  const old = await createWebhook(suite.sluice, rxOld, { tenantId: uniqueId('again') });
  const tenant = old.tenantId;
  await publish(suite.sluice, tenant, 'order.created', { n: 1 }, { id: 'old-1' });
  await publish(suite.sluice, tenant, 'order.created', { n: 2 }, { id: 'old-2' });
  await arrives(rxOld, 'old-2');

  assert.equal((await suite.sluice.api('DELETE', `/v1/tenants/${tenant}`)).status, 204);
  const gone = await suite.sluice.api('POST', '/v1/publish', { tenant_id: tenant, topic: 'order.created', data: {} });
  assert.equal(gone.status, 404, gone.text);

  const fresh = await createWebhook(suite.sluice, rxNew, { tenantId: tenant });
  const p = await publish(suite.sluice, tenant, 'order.created', { n: 3 }, { id: 'new-1' });
  assert.deepEqual(byDestination(p), { [fresh.destinationId]: 'pending' });
  await arrives(rxNew, 'new-1');
  assert.equal(rxOld.requests.filter((r) => r.headers['webhook-id'] === 'new-1').length, 0);
});
