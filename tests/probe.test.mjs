// POST …/destinations/{id}/test: one test event sent at once through the destination's own
// provider and credentials, outside the queue: it reports what the service answered.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startSluice, createWebhook, uniqueId, checkProblem } from './helpers/sluice.mjs';
import { startReceiver } from './helpers/receiver.mjs';
import { startPubSub } from './helpers/pubsub.mjs';

let sluice;
let rx;
let ps;

before(async () => {
  rx = await startReceiver();
  ps = await startPubSub();
  sluice = await startSluice({ name: 'probe' });
}, { timeout: 120_000 });

after(async () => {
  if (sluice) await sluice.dispose();
  if (rx) await rx.close();
  if (ps) await ps.close();
});

test('a test send reaches the receiver signed, and records nothing', { timeout: 60_000 }, async () => {
  const w = await createWebhook(sluice, rx);
  const before = rx.requests.length;
  const r = await sluice.api('POST', `${w.base}/test`, { data: { hello: 'world' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ok, true);
  assert.equal(r.json.status_code, 200);
  assert.match(r.json.event_id, /^test_/);
  const got = rx.requests.slice(before);
  assert.equal(got.length, 1);
  assert.deepEqual(JSON.parse(got[0].body), { hello: 'world' });
  assert.ok(got[0].headers['webhook-signature'], 'signed like any delivery');
  const deliveries = await sluice.api('GET', `${w.base}/deliveries`);
  assert.equal(deliveries.json.data.length, 0, 'no delivery is recorded');

  // A failing receiver: the answer says so, and that a retry could help.
  rx.failNext(1);
  const failed = await sluice.api('POST', `${w.base}/test`);
  assert.equal(failed.json.ok, false);
  assert.equal(failed.json.transient, true);
  assert.equal(failed.json.status_code, 500);
  // Bad input is a 422 naming the field; an unknown destination a 404.
  checkProblem(await sluice.api('POST', `${w.base}/test`, { topic: 'bad topic' }), 422, 'validation');
  checkProblem(await sluice.api('POST', `/v1/tenants/${w.tenantId}/destinations/des_01J00000000000000000000000/test`), 404, 'not-found');
});

test('a test send checks credentials against the service: a revoked Pub/Sub key is refused', { timeout: 60_000 }, async () => {
  const tenantId = uniqueId('probe');
  await sluice.api('POST', '/v1/tenants', { id: tenantId });
  const account = ps.serviceAccount('acme-probe');
  ps.createTopic('acme-probe', 'orders');
  const d = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'gcp_pubsub', config: { topic: 'orders', service_account: account, endpoint: ps.url },
  });
  assert.equal(d.status, 201, d.text);
  const base = `/v1/tenants/${tenantId}/destinations/${d.json.id}`;
  const ok = await sluice.api('POST', `${base}/test`);
  assert.equal(ok.json.ok, true, ok.text);
  assert.equal(ps.messages('acme-probe', 'orders')[0].attributes['sluice-topic'], 'sluice.test');

  ps.revokeAccount(account.client_email);
  ps.expireTokens();
  // A new destination with the revoked key: no cached token, so the exchange is refused.
  const revoked = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'gcp_pubsub', config: { topic: 'orders', service_account: account, endpoint: ps.url },
  });
  const r = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations/${revoked.json.id}/test`);
  assert.equal(r.json.ok, false);
  assert.equal(r.json.transient, false);
  assert.equal(r.json.status_code, 400);
  assert.match(r.json.error, /invalid_grant/);
});

test('a websocket destination with no client connected reports it', { timeout: 30_000 }, async () => {
  const tenantId = uniqueId('probe');
  await sluice.api('POST', '/v1/tenants', { id: tenantId });
  const d = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, { type: 'websocket', config: {} });
  const r = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations/${d.json.id}/test`);
  assert.equal(r.json.ok, false);
  assert.equal(r.json.transient, true);
  assert.match(r.json.error, /no WebSocket client is connected/);
});

test('an alert channel gets a sample alert that its type formats (Slack here)', { timeout: 30_000 }, async () => {
  const tenantId = uniqueId('probe');
  await sluice.api('POST', '/v1/tenants', { id: tenantId });
  const d = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'slack', name: 'Ops', topics: ['sluice.alert.*'], config: { url: `${rx.url}/slack` },
  });
  assert.equal(d.status, 201, d.text);
  const before = rx.requests.length;
  const r = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations/${d.json.id}/test`);
  assert.equal(r.json.ok, true, r.text);
  const [got] = rx.requests.slice(before);
  assert.match(got.body, /Test alert from Sluice: Ops receives alerts/);
  assert.ok(Array.isArray(JSON.parse(got.body).blocks), 'a Slack Block Kit message');
});
