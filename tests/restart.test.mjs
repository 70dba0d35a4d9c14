// Durability: deliveries pending when the runtime is killed are delivered after a restart over
// the same persisted state.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startReceiver, sleep } from './helpers/receiver.mjs';
import { startSluice, createWebhook, publish, eventually } from './helpers/sluice.mjs';

let sluice;
let rx;

before(async () => {
  sluice = await startSluice({ name: 'restart' });
}, { timeout: 120_000 });

after(async () => {
  if (rx) await rx.close();
  if (sluice) await sluice.dispose();
});

// 9 ------------------------------------------------------------------------------------------
test('restart: every accepted event arrives after a kill and restart', { timeout: 60_000 }, async () => {
  rx = await startReceiver();
  const w = await createWebhook(sluice, rx, {
    retry: { max_retries: 20, backoff: { type: 'schedule', intervals_ms: [500, 1000, 2000] }, jitter: 0 },
    // keep the circuit out of the way: connection refusals must not open it for long
    circuit_breaker: { failure_threshold: 1000, cooldown_ms: 1000 },
    timeout_ms: 2000,
  });
  await rx.refuse(); // connections refused from now on

  const ids = [];
  for (let i = 0; i < 5; i++) {
    const pub = await publish(sluice, w.tenantId, 'restart.test', { i });
    assert.equal(pub.deliveries.length, 1);
    ids.push(pub.id);
  }
  // Let attempts fail against the closed port: every delivery pending with >= 1 failed attempt.
  await eventually(async () => {
    const r = await sluice.api('GET', `${w.base}/deliveries?limit=100`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.data.length, ids.length, r.text);
    for (const d of r.json.data) {
      assert.equal(d.status, 'pending', JSON.stringify(d));
      assert.ok(d.attempts >= 1, JSON.stringify(d));
    }
    return true;
  }, 10_000, { what: 'every delivery attempted and still pending' });
  assert.equal(rx.count, 0);

  await sluice.stop({ signal: 'SIGKILL' });
  await sluice.start(); // same persist dir
  await rx.restore();

  await rx.waitFor(
    (reqs) => ids.every((id) => reqs.some((r) => r.headers['webhook-id'] === id && r.respondedStatus === 200)),
    40_000,
  );
  const got = new Set(rx.requests.map((r) => r.headers['webhook-id']));
  for (const id of ids) assert.ok(got.has(id), `event ${id} arrived`);
  console.log(`restart: ${ids.length} events, ${rx.count} requests after restart`);

  // The API agrees, after the restart.
  await eventually(async () => {
    const r = await sluice.api('GET', `${w.base}/deliveries?limit=100`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.data.length, ids.length, r.text);
    for (const d of r.json.data) assert.equal(d.status, 'delivered', JSON.stringify(d));
    return true;
  }, 5000, { what: 'all deliveries delivered in the API' });
});
