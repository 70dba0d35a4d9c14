// API surface: authentication, tenant isolation, and bad input → 4xx problem+json (never 5xx).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { startReceiver } from './helpers/receiver.mjs';
import { startSluice, createWebhook, checkProblem, uniqueId } from './helpers/sluice.mjs';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let sluice;

before(async () => {
  // The production setting: publishing needs the topic in the catalogue.
  sluice = await startSluice({ name: 'api', vars: { ALLOW_UNKNOWN_TOPICS: 'false' } });
}, { timeout: 120_000 });

after(async () => {
  if (sluice) await sluice.dispose();
});

// A destination URL that is never called in this file.
const DUMMY = { url: 'http://127.0.0.1:9/hook' };

async function newTenant() {
  const id = uniqueId('t');
  const r = await sluice.api('POST', '/v1/tenants', { id });
  assert.equal(r.status, 201, r.text);
  return id;
}

test('the API document is served from the static assets, the committed one, behind auth', { timeout: 60_000 }, async () => {
  const committed = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'src', 'api', 'openapi.json'), 'utf8'));
  const r = await sluice.api('GET', '/v1/openapi.json');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(JSON.parse(r.text), committed);
  // A tenant token reads it too (Access::Anyone).
  const tenant = await newTenant();
  const token = await sluice.apiOk('POST', `/v1/tenants/${tenant}/portal`, { subject: 'docs:reader', ttl_seconds: 600 }, 201);
  const asTenant = await sluice.api('GET', '/v1/openapi.json', undefined, { key: token.json.token });
  assert.equal(asTenant.status, 200, asTenant.text);
});

// 7 ------------------------------------------------------------------------------------------
test('auth: missing or wrong admin key → 401 problem+json; /healthz is public', { timeout: 60_000 }, async () => {
  const tenantId = await newTenant();
  const routes = [
    ['GET', '/v1/tenants'],
    ['POST', '/v1/tenants', { id: uniqueId('noauth') }],
    ['GET', `/v1/tenants/${tenantId}`],
    ['PATCH', `/v1/tenants/${tenantId}`, { name: 'x' }],
    ['DELETE', `/v1/tenants/${tenantId}`],
    ['GET', `/v1/tenants/${tenantId}/destinations`],
    ['POST', `/v1/tenants/${tenantId}/destinations`, { type: 'webhook', config: DUMMY }],
    ['POST', '/v1/publish', { tenant_id: tenantId, topic: 'a.b', data: {} }],
    ['GET', '/v1/openapi.json'],
  ];
  for (const [method, path, body] of routes) {
    const none = await sluice.api(method, path, body, { key: null });
    checkProblem(none, 401, 'unauthorized', `${method} ${path} without key`);
    const wrong = await sluice.api(method, path, body, { key: 'not-the-admin-key' });
    checkProblem(wrong, 401, 'unauthorized', `${method} ${path} with a wrong key`);
  }
  // Not a Bearer credential at all.
  const basic = await sluice.api('GET', '/v1/tenants', undefined, {
    key: null,
    headers: { authorization: 'Basic ' + Buffer.from('admin:sluice-dev-admin-key').toString('base64') },
  });
  checkProblem(basic, 401, 'unauthorized', 'Basic credentials');

  // Nothing was changed by the rejected calls.
  const still = await sluice.api('GET', `/v1/tenants/${tenantId}`);
  assert.equal(still.status, 200, still.text);
  assert.equal(still.json.name, null);
  const dests = await sluice.api('GET', `/v1/tenants/${tenantId}/destinations`);
  assert.equal(dests.status, 200, dests.text);
  assert.deepEqual(dests.json.data, []);

  const health = await sluice.api('GET', '/healthz', undefined, { key: null });
  assert.equal(health.status, 200, health.text);
  assert.equal(health.json?.status, 'ok');
  const ok = await sluice.api('GET', '/v1/tenants');
  assert.equal(ok.status, 200, ok.text);
});

test("auth: one tenant's destination under another tenant's path → 404", { timeout: 60_000 }, async () => {
  const a = await createWebhook(sluice, null, { url: DUMMY.url });
  const other = await newTenant();
  const foreign = `/v1/tenants/${other}/destinations/${a.destinationId}`;
  const calls = [
    ['GET', foreign],
    ['PATCH', foreign, { name: 'stolen' }],
    ['GET', `${foreign}/status`],
    ['GET', `${foreign}/deliveries`],
    ['POST', `${foreign}/disable`],
    ['POST', `${foreign}/signing-secret/rotate`],
    ['POST', `${foreign}/circuit/reset`],
    ['DELETE', foreign],
  ];
  for (const [method, path, body] of calls) {
    const r = await sluice.api(method, path, body);
    checkProblem(r, 404, 'not-found', `${method} ${path}`);
  }
  const list = await sluice.api('GET', `/v1/tenants/${other}/destinations`);
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(list.json.data, [], "other tenant's list doesn't show it");

  // The owner still sees it, untouched.
  const own = await sluice.api('GET', a.base);
  assert.equal(own.status, 200, own.text);
  assert.equal(own.json.id, a.destinationId);
  assert.equal(own.json.enabled, true);
  assert.notEqual(own.json.name, 'stolen');
});

// 8 ------------------------------------------------------------------------------------------
const is4xx = (s) => s >= 400 && s < 500;

test('bad input → 4xx problem+json, never 5xx', { timeout: 60_000 }, async () => {
  const tenantId = await newTenant();
  const dests = `/v1/tenants/${tenantId}/destinations`;
  const dest = (extra = {}, config = {}) => ({ type: 'webhook', config: { ...DUMMY, ...config }, ...extra });

  // malformed JSON
  for (const [path, raw] of [
    ['/v1/tenants', '{"id": '],
    [dests, '{"type":"webhook",'],
    ['/v1/publish', 'not json at all'],
    ['/v1/publish', '{"tenant_id":"x","topic":"a.b","data":{}} trailing'],
  ]) {
    const r = await sluice.api('POST', path, undefined, { rawBody: raw });
    checkProblem(r, 400, 'malformed-json', `POST ${path} ${JSON.stringify(raw)}`);
  }
  const patchBad = await sluice.api('PATCH', `/v1/tenants/${tenantId}`, undefined, { rawBody: '{name:' });
  checkProblem(patchBad, 400, 'malformed-json', 'PATCH tenant malformed');

  // wrong types (400 or 422 both fine; never 5xx)
  const wrongTypes = [
    ['/v1/tenants', { id: 123 }],
    ['/v1/tenants', { name: ['x'] }],
    ['/v1/tenants', { metadata: { k: 1 } }],
    ['/v1/tenants', [1, 2, 3]],
    ['/v1/publish', ''],
    [dests, dest({ timeout_ms: 'soon' })],
    [dests, dest({ topics: 'order.*' })],
    [dests, dest({ enabled: 'yes' })],
    [dests, { type: 'webhook', config: { url: 42 } }],
    [dests, dest({ retry: { max_retries: 'five' } })],
    [dests, dest({ retry: { max_retries: -1 } })],
    [dests, dest({ circuit_breaker: { failure_threshold: 0.5, cooldown_ms: 1000 } })],
    [dests, { type: 'carrier-pigeon', config: DUMMY }],
    ['/v1/publish', { tenant_id: tenantId, topic: 7, data: {} }],
    ['/v1/publish', { tenant_id: tenantId, topic: 'a.b', data: {}, metadata: { k: 1 } }],
    ['/v1/publish', { tenant_id: tenantId, topic: 'a.b', data: {}, id: 99 }],
  ];
  for (const [path, body] of wrongTypes) {
    const r = await sluice.api('POST', path, body);
    checkProblem(r, (s) => s === 400 || s === 422, undefined, `POST ${path} ${JSON.stringify(body)}`);
  }

  // an object's fields sent as an array → 422, nothing created (serde alone would read a
  // struct from an array, field by field: this one as the tenant `positional`)
  const positional = uniqueId('pos');
  checkProblem(await sluice.api('POST', '/v1/tenants', [positional, null, {}, null]), 422, 'validation', 'tenant as an array');
  checkProblem(await sluice.api('GET', `/v1/tenants/${positional}`), 404, 'not-found', 'no tenant from an array');
  checkProblem(await sluice.api('POST', dests, { type: 'webhook', config: [DUMMY.url] }), 422, 'validation', 'config as an array');

  // unknown fields → 422 validation naming the field
  const unknown = [
    ['/v1/tenants', { id: uniqueId('u'), bogus_field: 1 }, 'bogus_field'],
    [dests, dest({ colour: 'red' }), 'colour'],
    [dests, dest({}, { verb: 'PUT' }), 'verb'],
    ['/v1/publish', { tenant_id: tenantId, topic: 'a.b', data: {}, priority: 'high' }, 'priority'],
  ];
  for (const [path, body, field] of unknown) {
    const r = await sluice.api('POST', path, body);
    const p = checkProblem(r, 422, 'validation', `unknown field ${field}`);
    assert.ok(Array.isArray(p.errors) && p.errors.length > 0, `errors[] present: ${r.text}`);
    assert.ok(
      p.errors.some((e) => typeof e.field === 'string' && e.field.includes(field)),
      `errors[].field names ${field}: ${r.text}`,
    );
  }
  const patchUnknown = await sluice.api('PATCH', `/v1/tenants/${tenantId}`, { nickname: 'x' });
  const pp = checkProblem(patchUnknown, 422, 'validation', 'PATCH unknown field');
  assert.ok(pp.errors?.some((e) => e.field?.includes('nickname')), patchUnknown.text);

  // body larger than 262144 bytes → 413
  const big = { tenant_id: tenantId, topic: 'big.event', data: { blob: 'x'.repeat(262144) } };
  const r413 = await sluice.api('POST', '/v1/publish', big);
  checkProblem(r413, 413, 'payload-too-large', 'publish > 262144 bytes');
  const r413b = await sluice.api('POST', dests, dest({ name: 'y'.repeat(300_000) }));
  checkProblem(r413b, 413, 'payload-too-large', 'destination create > 262144 bytes');

  // bad URLs
  for (const url of ['ftp://example.com/hook', 'notaurl', 'http://', 'http://:80/x', 'javascript:alert(1)', 'file:///etc/passwd', '']) {
    const r = await sluice.api('POST', dests, { type: 'webhook', config: { url } });
    const p = checkProblem(r, 422, 'validation', `url ${JSON.stringify(url)}`);
    assert.ok(p.errors?.some((e) => e.field === 'config.url'), `errors[].field config.url for ${url}: ${r.text}`);
  }

  // bad topic patterns
  for (const topics of [[''], ['or*der'], ['order.*.created'], ['*.order'], ['order.**']]) {
    const r = await sluice.api('POST', dests, dest({ topics }));
    const p = checkProblem(r, 422, 'validation', `topics ${JSON.stringify(topics)}`);
    assert.ok(p.errors?.some((e) => e.field?.startsWith('topics')), `errors[].field topics: ${r.text}`);
  }

  // timeouts out of range (negative, too small, too large)
  for (const timeout_ms of [-5, 0, 99, 60001]) {
    const r = await sluice.api('POST', dests, dest({ timeout_ms }));
    const p = checkProblem(r, (s) => s === 400 || s === 422, undefined, `timeout_ms ${timeout_ms}`);
    if (r.status === 422) {
      assert.ok(p.errors?.some((e) => e.field === 'timeout_ms'), `errors[].field timeout_ms: ${r.text}`);
    }
  }
  // jitter out of range
  const jit = await sluice.api('POST', dests, dest({ retry: { max_retries: 1, backoff: { type: 'fixed', interval_ms: 1000 }, jitter: 1.5 } }));
  checkProblem(jit, (s) => s === 400 || s === 422, undefined, 'jitter 1.5');

  // publish with a missing topic / tenant / data
  for (const body of [
    { tenant_id: tenantId, data: {} },
    { topic: 'a.b', data: {} },
    { tenant_id: tenantId, topic: '', data: {} },
  ]) {
    const r = await sluice.api('POST', '/v1/publish', body);
    checkProblem(r, (s) => s === 400 || s === 422, undefined, `publish ${JSON.stringify(body)}`);
  }
  const noTopic = await sluice.api('POST', '/v1/publish', { tenant_id: tenantId, data: {} });
  checkProblem(noTopic, 422, 'validation', 'publish without topic');
  // the error names the missing field
  assert.ok(noTopic.json.errors?.some((e) => e.field === 'topic'), noTopic.text);

  // unknown tenant → 404
  const ghost = uniqueId('ghost');
  checkProblem(await sluice.api('POST', '/v1/publish', { tenant_id: ghost, topic: 'a.b', data: {} }), 404, 'not-found', 'publish to unknown tenant');
  checkProblem(await sluice.api('GET', `/v1/tenants/${ghost}`), 404, 'not-found', 'GET unknown tenant');
  checkProblem(await sluice.api('GET', `/v1/tenants/${ghost}/destinations`), 404, 'not-found', 'list destinations of unknown tenant');
  checkProblem(await sluice.api('POST', `/v1/tenants/${ghost}/destinations`, dest()), 404, 'not-found', 'create destination under unknown tenant');
  checkProblem(await sluice.api('GET', `${dests}/des_doesnotexist`), 404, 'not-found', 'unknown destination');

  // nothing above created a destination
  const list = await sluice.api('GET', dests);
  assert.equal(list.status, 200, list.text);
  assert.deepEqual(list.json.data, []);
  // and valid input still works afterwards
  const good = await sluice.api('POST', dests, dest({ topics: ['order.*', 'invoice.paid', '*'], timeout_ms: 100 }));
  assert.equal(good.status, 201, good.text);
});

test('lists are cursor-paginated', { timeout: 60_000 }, async () => {
  const tenantId = uniqueId('page');
  assert.equal((await sluice.api('POST', '/v1/tenants', { id: tenantId })).status, 201);
  const created = [];
  for (let i = 0; i < 5; i++) {
    const r = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
      type: 'webhook', name: `d${i}`, config: { url: `https://example.com/${i}` },
    });
    assert.equal(r.status, 201, r.text);
    created.push(r.json.id);
  }
  const seen = [];
  let cursor = null;
  let pages = 0;
  do {
    const q = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
    const r = await sluice.api('GET', `/v1/tenants/${tenantId}/destinations${q}`);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.json.data.length <= 2);
    seen.push(...r.json.data.map((d) => d.id));
    cursor = r.json.next_cursor;
    pages++;
  } while (cursor && pages < 10);
  assert.equal(pages, 3);
  assert.deepEqual(seen, created, 'every destination once, in creation order');
  for (const bad of ['0', '101', 'x']) {
    const r = await sluice.api('GET', `/v1/tenants/${tenantId}/destinations?limit=${bad}`);
    checkProblem(r, 422, 'validation', `limit=${bad}`);
    assert.equal(r.json.errors[0].field, 'limit');
  }
});

test('topic catalogue: create, list, get, delete; publishing needs a known topic', { timeout: 60_000 }, async () => {
  const rx = await startReceiver();
  try {
    const w = await createWebhook(sluice, rx, { topics: ['billing.*'] });
    const topic = `billing.${uniqueId('paid').replace(/[^a-z0-9]/gi, '')}`;

    const unknown = await sluice.api('POST', '/v1/publish', { tenant_id: w.tenantId, topic, data: {} });
    checkProblem(unknown, 422, 'validation', 'publish to an unknown topic');
    assert.equal(unknown.json.errors[0].field, 'topic');
    assert.match(unknown.json.errors[0].message, /POST \/v1\/topics/);

    const created = await sluice.api('POST', '/v1/topics', { name: topic, description: 'An invoice was paid' });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.json.name, topic);
    checkProblem(await sluice.api('POST', '/v1/topics', { name: topic }), 409, 'conflict', 'duplicate topic');
    for (const bad of [{ name: 'bad topic' }, { name: 'a..b' }, { name: 'ok.x', extra: 1 }, {}]) {
      checkProblem(await sluice.api('POST', '/v1/topics', bad), 422, 'validation', JSON.stringify(bad));
    }
    const got = await sluice.api('GET', `/v1/topics/${topic}`);
    assert.equal(got.json.description, 'An invoice was paid');
    const listed = await sluice.api('GET', '/v1/topics?limit=100');
    assert.ok(listed.json.data.some((t) => t.name === topic), listed.text);

    const pub = await sluice.api('POST', '/v1/publish', { tenant_id: w.tenantId, topic, data: { ok: true } });
    assert.equal(pub.status, 202, pub.text);
    assert.equal(pub.json.deliveries.length, 1, 'the billing.* subscriber matches');
    await rx.waitFor(1, 10_000);

    assert.equal((await sluice.api('DELETE', `/v1/topics/${topic}`)).status, 204);
    checkProblem(await sluice.api('GET', `/v1/topics/${topic}`), 404, 'not-found', 'deleted topic');
    checkProblem(await sluice.api('DELETE', `/v1/topics/${topic}`), 404, 'not-found', 'deleted twice');
    checkProblem(await sluice.api('POST', '/v1/publish', { tenant_id: w.tenantId, topic, data: {} }), 422, 'validation', 'publish after delete');
  } finally {
    await rx.close();
  }
});

test('path parameters are percent-decoded: /v1/topics/a%3Ab is the topic a:b', { timeout: 60_000 }, async () => {
  const name = `enc:${uniqueId('t').replace(/[^a-z0-9]/gi, '')}`;
  assert.equal((await sluice.api('POST', '/v1/topics', { name, description: 'colon' })).status, 201);
  const plain = await sluice.api('GET', `/v1/topics/${name}`);
  assert.equal(plain.status, 200, plain.text);
  const encoded = await sluice.api('GET', `/v1/topics/${encodeURIComponent(name)}`);
  assert.equal(encoded.status, 200, encoded.text);
  assert.equal(encoded.json.name, name);
  assert.equal((await sluice.api('DELETE', `/v1/topics/${name.replace(':', '%3a')}`)).status, 204);
  checkProblem(await sluice.api('GET', `/v1/topics/${encodeURIComponent(name)}`), 404, 'not-found', 'deleted through the encoded path');
  // Decoded once only: %253A is the literal text "%3A", not a colon.
  checkProblem(await sluice.api('GET', `/v1/topics/${name.replace(':', '%253A')}`), 404, 'not-found', 'double-encoded');
});

test('an event reaches exactly the destinations subscribed to its topic', { timeout: 60_000 }, async () => {
  const tenantId = uniqueId('subs');
  assert.equal((await sluice.api('POST', '/v1/tenants', { id: tenantId })).status, 201);
  for (const name of ['shop.order.created', 'shop.order.refunded', 'shop.user.created']) {
    const r = await sluice.api('POST', '/v1/topics', { name });
    assert.ok(r.status === 201 || r.status === 409, r.text);
  }
  const subs = { exact: ['shop.order.created'], prefix: ['shop.order.*'], all: ['*'], users: ['shop.user.*'], two: ['shop.user.created', 'shop.order.refunded'] };
  const ids = {};
  for (const [name, topics] of Object.entries(subs)) {
    const r = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, { type: 'webhook', name, topics, config: { url: 'https://example.com/hook' } });
    assert.equal(r.status, 201, r.text);
    ids[r.json.id] = name;
  }
  const reached = async (topic) => {
    const r = await sluice.api('POST', '/v1/publish', { tenant_id: tenantId, topic, data: {} });
    assert.equal(r.status, 202, r.text);
    return r.json.deliveries.map((d) => ids[d.destination_id]).sort();
  };
  assert.deepEqual(await reached('shop.order.created'), ['all', 'exact', 'prefix']);
  assert.deepEqual(await reached('shop.order.refunded'), ['all', 'prefix', 'two']);
  assert.deepEqual(await reached('shop.user.created'), ['all', 'two', 'users']);

  // Changing a subscription through the API changes what it receives.
  const exactId = Object.keys(ids).find((k) => ids[k] === 'exact');
  const patched = await sluice.api('PATCH', `/v1/tenants/${tenantId}/destinations/${exactId}`, { topics: ['shop.user.created'] });
  assert.equal(patched.status, 200, patched.text);
  assert.deepEqual(await reached('shop.order.created'), ['all', 'prefix']);
  assert.deepEqual(await reached('shop.user.created'), ['all', 'exact', 'two', 'users']);
});

test('GET /v1/destination-types lists every type with a JSON Schema of its config, secrets marked', { timeout: 60_000 }, async () => {
  const r = await sluice.api('GET', '/v1/destination-types');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.data.map((t) => t.type), ['webhook', 'aws_sqs', 'aws_eventbridge', 'aws_s3', 'gcp_pubsub', 'kafka', 'rabbitmq', 'websocket', 'slack', 'discord', 'pagerduty', 'email']);
  const sqs = r.json.data.find((t) => t.type === 'aws_sqs');
  assert.deepEqual(sqs.config_schema.required, ['queue_url', 'region', 'access_key_id', 'secret_access_key']);
  assert.equal(sqs.config_schema.properties.secret_access_key['x-secret'], true);
  assert.ok(sqs.secrets.includes('secret_access_key'));
  checkProblem(await sluice.api('GET', '/v1/destination-types', undefined, { key: null }), 401, 'unauthorized', 'no key');
});
