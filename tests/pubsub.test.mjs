// gcp_pubsub against the local Pub/Sub + OAuth stand-in (tests/helpers/pubsub.mjs): the
// JWT-bearer token exchange with a verified RS256 signature, the bearer token on publish,
// base64 data, attributes, batching, token reuse and renewal, and the failure cases.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { startSluice, publish, eventually, uniqueId, checkProblem } from './helpers/sluice.mjs';
import { startPubSub } from './helpers/pubsub.mjs';

const PROJECT = 'acme-events';
const FAST = { max_retries: 3, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 };

let sluice;
let ps;

before(async () => {
  ps = await startPubSub();
  sluice = await startSluice({ name: 'pubsub' });
}, { timeout: 120_000 });

after(async () => {
  if (sluice) await sluice.dispose();
  if (ps) await ps.close();
});

async function destination({ topic, account = ps.serviceAccount(PROJECT), extra = {}, config = {} }) {
  const tenantId = uniqueId('gcp');
  assert.equal((await sluice.api('POST', '/v1/tenants', { id: tenantId })).status, 201);
  const d = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'gcp_pubsub',
    config: { topic, service_account: account, endpoint: ps.url, ...config },
    retry: FAST,
    ...extra,
  });
  assert.equal(d.status, 201, d.text);
  return { tenantId, account, destination: d.json, base: `/v1/tenants/${tenantId}/destinations/${d.json.id}` };
}

async function deliveryOf(t, deliveryId, status) {
  return eventually(async () => {
    const r = await sluice.api('GET', `${t.base}/deliveries`);
    const d = r.json.data.find((x) => x.id === deliveryId);
    return d?.status === status ? d : null;
  }, 15_000, { what: `delivery ${status}` });
}

test('gcp_pubsub: one token exchange, then base64 data and attributes per event; the key is never shown', { timeout: 60_000 }, async () => {
  const topic = uniqueId('orders').replace(/[^a-zA-Z0-9-]/g, '-');
  ps.createTopic(PROJECT, topic);
  const tokensBefore = ps.stats.tokenRequests;
  const t = await destination({ topic, config: { ordering_key_from_metadata: 'customer' } });
  assert.equal(t.destination.config.service_account.private_key, '********');
  assert.equal(t.destination.config.service_account.client_email, t.account.client_email);
  const got = await sluice.api('GET', t.base);
  assert.ok(!got.text.includes('PRIVATE KEY'), 'the key is never returned');

  const pub = await publish(sluice, t.tenantId, 'order.created', { order: 1 }, { id: 'ps-evt-1', metadata: { customer: 'c-7' } });
  const [m] = await ps.waitForMessages(PROJECT, topic, 1);
  assert.deepEqual(JSON.parse(m.data), { order: 1 });
  assert.deepEqual(m.attributes, { 'sluice-event-id': 'ps-evt-1', 'sluice-topic': 'order.created', 'sluice-attempt': '1' });
  assert.equal(m.orderingKey, 'c-7');
  await deliveryOf(t, pub.deliveries[0].id, 'delivered');
  assert.equal(ps.stats.tokenRequests - tokensBefore, 1);

  // A burst: every event arrives, in fewer requests than events, with the same token.
  const publishesBefore = ps.stats.publishRequests;
  const n = 40;
  await Promise.all(Array.from({ length: n }, (_, i) => publish(sluice, t.tenantId, 'order.created', { i }, { id: `ps-burst-${i}` })));
  const all = await ps.waitForMessages(PROJECT, topic, n + 1);
  assert.deepEqual(all.slice(1).map((x) => x.attributes['sluice-event-id']).sort(), Array.from({ length: n }, (_, i) => `ps-burst-${i}`).sort());
  const requests = ps.stats.publishRequests - publishesBefore;
  assert.ok(requests < n, `${n} events in ${requests} publish requests`);
  assert.equal(ps.stats.tokenRequests - tokensBefore, 1, 'the token is reused');
  console.log(`# pubsub: ${n} events in ${requests} publish requests (${(requests / n).toFixed(2)} per event), 1 token exchange`);
});

test('gcp_pubsub: an expired token is renewed; a 503 is retried; both end delivered', { timeout: 60_000 }, async () => {
  const topic = uniqueId('renew').replace(/[^a-zA-Z0-9-]/g, '-');
  ps.createTopic(PROJECT, topic);
  const t = await destination({ topic });
  const first = await publish(sluice, t.tenantId, 'order.created', { n: 1 });
  await deliveryOf(t, first.deliveries[0].id, 'delivered');

  const tokensBefore = ps.stats.tokenRequests;
  ps.expireTokens();
  const second = await publish(sluice, t.tenantId, 'order.created', { n: 2 });
  const renewed = await deliveryOf(t, second.deliveries[0].id, 'delivered');
  assert.equal(renewed.attempts, 2, 'the 401 cost one attempt, the renewed token delivered');
  assert.equal(ps.stats.tokenRequests - tokensBefore, 1);

  ps.failNextPublish(503, 2);
  const third = await publish(sluice, t.tenantId, 'order.created', { n: 3 });
  const retried = await deliveryOf(t, third.deliveries[0].id, 'delivered');
  assert.equal(retried.attempts, 3);
  assert.deepEqual(ps.messages(PROJECT, topic).map((m) => JSON.parse(m.data).n), [1, 2, 3]);
});

test('gcp_pubsub: a missing topic or a deleted key fails at once', { timeout: 60_000 }, async () => {
  const missing = await destination({ topic: 'no-such-topic' });
  const a = await publish(sluice, missing.tenantId, 'order.created', { n: 1 });
  const failed = await deliveryOf(missing, a.deliveries[0].id, 'failed');
  assert.equal(failed.attempts, 1);
  assert.match(failed.last_error, /NOT_FOUND/);

  const topic = uniqueId('revoked').replace(/[^a-zA-Z0-9-]/g, '-');
  ps.createTopic(PROJECT, topic);
  const revoked = await destination({ topic });
  ps.revokeAccount(revoked.account.client_email);
  const b = await publish(sluice, revoked.tenantId, 'order.created', { n: 1 });
  const refused = await deliveryOf(revoked, b.deliveries[0].id, 'failed');
  assert.equal(refused.attempts, 1);
  assert.match(refused.last_error, /token exchange failed: HTTP 400 invalid_grant/);
  assert.equal(ps.messages(PROJECT, topic).length, 0);
});

test('gcp_pubsub: a PKCS#1 key (BEGIN RSA PRIVATE KEY) is accepted and signs as the PKCS#8 one does', { timeout: 60_000 }, async () => {
  const topic = uniqueId('pkcs1').replace(/[^a-zA-Z0-9-]/g, '-');
  ps.createTopic(PROJECT, topic);
  const account = ps.serviceAccount(PROJECT);
  account.private_key = crypto.createPrivateKey(account.private_key).export({ type: 'pkcs1', format: 'pem' });
  assert.match(account.private_key, /BEGIN RSA PRIVATE KEY/);
  const t = await destination({ topic, account });
  const pub = await publish(sluice, t.tenantId, 'order.created', { order: 1 });
  const [m] = await ps.waitForMessages(PROJECT, topic, 1);
  assert.deepEqual(JSON.parse(m.data), { order: 1 });
  await deliveryOf(t, pub.deliveries[0].id, 'delivered');
});

test('gcp_pubsub: a well-formed key the runtime cannot sign with is refused at create and on update, not at the first delivery', { timeout: 30_000 }, async () => {
  const tenantId = uniqueId('gcp');
  await sluice.api('POST', '/v1/tenants', { id: tenantId });
  const good = ps.serviceAccount(PROJECT);
  // The same key with its private exponent changed: its DER is as valid as before, its
  // numbers no longer agree, and WebCrypto (BoringSSL's RSA key check) refuses to import it.
  const jwk = crypto.createPrivateKey(good.private_key).export({ format: 'jwk' });
  const d = Buffer.from(jwk.d, 'base64url');
  d[d.length - 1] ^= 0x02;
  jwk.d = d.toString('base64url');
  const broken = crypto.createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' });
  assert.match(broken, /BEGIN PRIVATE KEY/);
  const body = (account) => ({ type: 'gcp_pubsub', config: { topic: 'orders', service_account: account, endpoint: ps.url } });
  const r = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, body({ ...good, private_key: broken }));
  const p = checkProblem(r, 422, 'validation');
  const err = p.errors.find((e) => e.field === 'config.service_account.private_key');
  assert.ok(err, r.text);
  assert.match(err.message, /cannot sign with this key/);
  assert.ok(!r.text.includes(jwk.d.slice(0, 40)), 'the key is not echoed');

  const created = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, body(good));
  assert.equal(created.status, 201, created.text);
  const path = `/v1/tenants/${tenantId}/destinations/${created.json.id}`;
  const patched = await sluice.api('PATCH', path, { config: { service_account: { ...good, private_key: broken } } });
  const q = checkProblem(patched, 422, 'validation');
  assert.ok(q.errors.some((e) => e.field === 'config.service_account.private_key'), patched.text);
  // Unchanged config: the stored (good) key is not checked again, and nothing was replaced.
  const renamed = await sluice.api('PATCH', path, { name: 'renamed' });
  assert.equal(renamed.status, 200, renamed.text);
});

test('gcp_pubsub: a key that is not an RSA private key is refused at create, naming the field', { timeout: 30_000 }, async () => {
  const tenantId = uniqueId('gcp');
  await sluice.api('POST', '/v1/tenants', { id: tenantId });
  const account = { ...ps.serviceAccount(PROJECT), private_key: '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n' };
  const r = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'gcp_pubsub',
    config: { topic: 'orders', service_account: account, endpoint: ps.url },
  });
  const p = checkProblem(r, 422, 'validation');
  assert.ok(p.errors.some((e) => e.field === 'config.service_account.private_key'), r.text);
  assert.ok(!r.text.includes('bm90IGEga2V5'), 'the key is not echoed');
});
