// Retention: the daily cron purges finished history older than RETENTION_DAYS and keeps
// anything still pending. RETENTION_DAYS is 0 here, so "older" means "before the run".

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startReceiver } from './helpers/receiver.mjs';
import { startSluice, createWebhook, publish, eventually } from './helpers/sluice.mjs';

let sluice;
let ok;
let down;

before(async () => {
  sluice = await startSluice({ name: 'retention', vars: { RETENTION_DAYS: '0' }, extraArgs: ['--test-scheduled'] });
  ok = await startReceiver();
  down = await startReceiver();
  down.setMode({ status: 503 });
}, { timeout: 120_000 });

after(async () => {
  await ok?.close();
  await down?.close();
  if (sluice) await sluice.dispose();
});

test('the retention cron purges finished events, deliveries and attempts, never pending ones', { timeout: 60_000 }, async () => {
  const fine = await createWebhook(sluice, ok, { retry: { max_retries: 0, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 } });
  const failing = await sluice.api('POST', `/v1/tenants/${fine.tenantId}/destinations`, {
    type: 'webhook', topics: ['slow.*'], config: { url: down.url },
    retry: { max_retries: 50, backoff: { type: 'fixed', interval_ms: 60_000 }, jitter: 0 },
  });
  assert.equal(failing.status, 201, failing.text);
  await publish(sluice, fine.tenantId, 'done.one', { n: 1 }, { id: 'finished-1' });
  await publish(sluice, fine.tenantId, 'slow.one', { n: 2 }, { id: 'pending-1' });
  await ok.waitFor(1, 10_000);
  await down.waitFor(1, 10_000);
  const events = async () => (await sluice.api('GET', `/v1/tenants/${fine.tenantId}/events?limit=100`)).json.data.map((e) => e.id).sort();
  await eventually(async () => {
    const e = await sluice.api('GET', `/v1/tenants/${fine.tenantId}/events/finished-1`);
    return e.json?.deliveries?.[0]?.status === 'delivered' && e.json.deliveries[0].history.length === 1;
  }, 10_000, { what: 'finished-1 delivered and recorded' });
  assert.deepEqual(await events(), ['finished-1', 'pending-1']);

  const run = await fetch(`${sluice.url}/__scheduled?cron=${encodeURIComponent('17 3 * * *')}`);
  assert.equal(run.status, 200, await run.text());

  await eventually(async () => JSON.stringify(await events()) === JSON.stringify(['pending-1']), 10_000, { what: 'finished history purged' });
  const kept = await sluice.api('GET', `/v1/tenants/${fine.tenantId}/events/pending-1`);
  assert.equal(kept.status, 200);
  assert.equal(kept.json.deliveries[0].status, 'pending');
  assert.equal(kept.json.deliveries[0].history.length, 1, 'a pending delivery keeps its attempts');
  const gone = await sluice.api('GET', `/v1/tenants/${fine.tenantId}/events/finished-1`);
  assert.equal(gone.status, 404);
});
