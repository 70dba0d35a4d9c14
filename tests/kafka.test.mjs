// The `kafka` destination type against a local stand-in of the Confluent REST Proxy
// (tests/helpers/kafka_rest.mjs: it checks content types, basic auth, the v2 and v3 body
// shapes and base64 header values, and keeps the records it accepted per topic).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';

import { startSluice, publish, eventually, uniqueId } from './helpers/sluice.mjs';
import { startKafkaRest } from './helpers/kafka_rest.mjs';

const CLUSTER = 'lkc-sluice1';
const AUTH = { username: 'API_KEY_1', password: 'kafka-secret-marker' };
const FAST = { max_retries: 3, backoff: { type: 'fixed', interval_ms: 200 }, jitter: 0 };

let sluice;
let kafka;

before(async () => {
  kafka = await startKafkaRest({ clusterId: CLUSTER, auth: AUTH });
  sluice = await startSluice({ name: 'kafka' });
}, { timeout: 120_000 });

after(async () => {
  if (sluice) await sluice.dispose();
  if (kafka) await kafka.close();
});

const newTopic = (prefix = 'orders') => {
  const name = uniqueId(prefix).replace(/[^a-zA-Z0-9._-]/g, '_');
  kafka.createTopic(name, { partitions: 3 });
  return name;
};

async function destination(config, extra = {}) {
  const tenantId = uniqueId('kafka');
  assert.equal((await sluice.api('POST', '/v1/tenants', { id: tenantId })).status, 201);
  const body = {
    type: 'kafka',
    config: { endpoint: kafka.url, auth: { type: 'basic', ...AUTH }, ...config },
    retry: FAST,
    ...extra,
  };
  const d = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, body);
  assert.equal(d.status, 201, d.text);
  assert.ok(!d.text.includes(AUTH.password), 'the password is never returned');
  return { tenantId, base: `/v1/tenants/${tenantId}/destinations/${d.json.id}`, destination: d.json };
}

async function deliveryWhen(t, deliveryId, status, timeoutMs = 15_000) {
  let seen;
  try {
    return await eventually(async () => {
      const r = await sluice.api('GET', `${t.base}/deliveries?limit=100`);
      seen = r.json.data.find((x) => x.id === deliveryId);
      return seen?.status === status ? seen : null;
    }, timeoutMs, { what: `delivery ${deliveryId} ${status}` });
  } catch (e) {
    // Say where it stopped: the delivery as last seen, the scheduler's view, the proxy's.
    const s = await sluice.api('GET', `${t.base}/status`);
    const topic = t.destination.config.topic;
    throw new Error(`${e.message}\nlast seen: ${JSON.stringify(seen)}\nstatus: ${s.text}\nrequests at the proxy: ${JSON.stringify(requestsFor(topic))}`);
  }
}

const requestsFor = (topic) => kafka.produceRequests.filter((r) => r.topic === topic);

test('kafka v3: one record per event, key = event id, value = data, sluice headers', { timeout: 60_000 }, async () => {
  const topic = newTopic();
  const t = await destination({ cluster_id: CLUSTER, topic });
  assert.equal(t.destination.config.auth.password, '********');
  assert.equal(t.destination.config.auth.username, AUTH.username);
  assert.equal(t.destination.config.api_version, 'v3');
  const pub = await publish(sluice, t.tenantId, 'order.created', { order: 1, lines: [{ sku: 'a' }] }, { id: 'kafka-evt-1' });
  await deliveryWhen(t, pub.deliveries[0].id, 'delivered');
  const [r] = kafka.records(topic);
  assert.equal(r.api, 'v3');
  assert.equal(r.key, 'kafka-evt-1');
  assert.deepEqual(r.value, { order: 1, lines: [{ sku: 'a' }] });
  assert.deepEqual(r.headers, { 'sluice-event-id': 'kafka-evt-1', 'sluice-topic': 'order.created', 'sluice-attempt': '1' });
  assert.deepEqual(requestsFor(topic).map((x) => x.status), [200]);
});

test('kafka: the record key from a payload field, the event id when the field is missing', { timeout: 60_000 }, async () => {
  const topic = newTopic();
  const t = await destination({ cluster_id: CLUSTER, topic, key_field: 'customer.id' });
  const a = await publish(sluice, t.tenantId, 'order.created', { customer: { id: 'c-42' }, n: 1 }, { id: 'key-evt-1' });
  const b = await publish(sluice, t.tenantId, 'order.created', { n: 2 }, { id: 'key-evt-2' });
  await deliveryWhen(t, a.deliveries[0].id, 'delivered');
  await deliveryWhen(t, b.deliveries[0].id, 'delivered');
  const byN = Object.fromEntries(kafka.records(topic).map((r) => [r.value.n, r]));
  assert.equal(byN[1].key, 'c-42');
  assert.equal(byN[1].headers['sluice-event-id'], 'key-evt-1');
  assert.equal(byN[2].key, 'key-evt-2');
});

test('kafka v2: a burst of 25 events goes in fewer requests than events', { timeout: 60_000 }, async () => {
  const topic = newTopic();
  const t = await destination({ api_version: 'v2', topic, key_field: 'customer' });
  // Keep the first request's answer back, so that the burst queues up behind it.
  kafka.hold();
  try {
    await publish(sluice, t.tenantId, 'order.created', { i: 0, customer: 'c-0' }, { id: 'v2-burst-0' });
    await eventually(() => kafka.waiting === 1, 10_000, { what: 'the first request in flight' });
    await Promise.all(Array.from({ length: 24 }, (_, k) => publish(sluice, t.tenantId, 'order.created', { i: k + 1, customer: `c-${k + 1}` }, { id: `v2-burst-${k + 1}` })));
  } finally {
    kafka.release();
  }
  await eventually(() => kafka.records(topic).length === 25, 15_000, { what: '25 records' });
  const records = kafka.records(topic);
  assert.deepEqual(records.map((r) => r.value.i).sort((x, y) => x - y), Array.from({ length: 25 }, (_, i) => i));
  for (const r of records) {
    assert.equal(r.api, 'v2');
    assert.equal(r.key, `c-${r.value.i}`);
  }
  const requests = requestsFor(topic);
  assert.ok(requests.length < 25, `${requests.length} requests for 25 events`);
  console.log(`v2 burst: 25 events in ${requests.length} requests (${requests.map((r) => r.records).join(" + ")} records)`);
  assert.ok(requests.some((r) => r.records > 1), JSON.stringify(requests));
  assert.equal(requests.reduce((n, r) => n + r.records, 0), 25);
  const all = await sluice.api('GET', `${t.base}/deliveries?status=delivered&limit=100`);
  assert.equal(all.json.data.length, 25);
});

test('kafka v2: a record answered with error_code 2 is retried alone; the rest of its batch is delivered', { timeout: 60_000 }, async () => {
  const topic = newTopic();
  const t = await destination({ api_version: 'v2', topic });
  kafka.failRecords((r) => r.value.n === 2, 2, 1);
  kafka.hold();
  const pubs = [];
  try {
    pubs.push(await publish(sluice, t.tenantId, 'order.created', { n: 0 }));
    await eventually(() => kafka.waiting === 1, 10_000, { what: 'the first request in flight' });
    for (const n of [1, 2, 3, 4]) pubs.push(await publish(sluice, t.tenantId, 'order.created', { n }));
    // A publish answers once the event is durable; its hand-off to the scheduler may still be
    // on the way. Release only when all five are queued, so that the four go as one batch.
    await eventually(async () => (await sluice.api('GET', `${t.base}/status`)).json.queue_depth === 5, 10_000, {
      what: 'five deliveries queued',
    });
  } finally {
    kafka.release();
  }
  const failing = await deliveryWhen(t, pubs[2].deliveries[0].id, 'delivered');
  assert.equal(failing.attempts, 2, JSON.stringify(failing));
  for (const n of [0, 1, 3, 4]) {
    const d = await deliveryWhen(t, pubs[n].deliveries[0].id, 'delivered');
    assert.equal(d.attempts, 1, `n=${n}: ${JSON.stringify(d)}`);
  }
  const requests = requestsFor(topic);
  assert.deepEqual(requests.map((r) => r.records), [1, 4, 1], 'the batch of four, then the retry alone');
  assert.deepEqual(kafka.records(topic).map((r) => r.value.n), [0, 1, 3, 4, 2]);
  const attempts = await sluice.api('GET', `${t.base}/deliveries/${pubs[2].deliveries[0].id}/attempts`);
  const first = attempts.json.data.find((a) => a.attempt === 1);
  assert.equal(first.outcome, 'retry');
  assert.match(first.error, /record error 2: NotEnoughReplicas/);
});

test('kafka: an unknown topic fails the delivery after one attempt', { timeout: 60_000 }, async () => {
  const t = await destination({ cluster_id: CLUSTER, topic: 'no-such-topic' });
  const pub = await publish(sluice, t.tenantId, 'order.created', { n: 1 });
  const d = await deliveryWhen(t, pub.deliveries[0].id, 'failed');
  assert.equal(d.attempts, 1, JSON.stringify(d));
  assert.match(d.last_error, /404 \(40401\): Topic not found/);
});

test('kafka: a wrong password fails the delivery after one attempt', { timeout: 60_000 }, async () => {
  const topic = newTopic();
  const t = await destination({ api_version: 'v2', topic, auth: { type: 'basic', username: AUTH.username, password: 'wrong' } });
  const pub = await publish(sluice, t.tenantId, 'order.created', { n: 1 });
  const d = await deliveryWhen(t, pub.deliveries[0].id, 'failed');
  assert.equal(d.attempts, 1, JSON.stringify(d));
  assert.match(d.last_error, /HTTP 401/);
  assert.equal(kafka.records(topic).length, 0);
});

test('kafka: 503 from the proxy is retried, then delivered', { timeout: 60_000 }, async () => {
  const topic = newTopic();
  const t = await destination({ cluster_id: CLUSTER, topic });
  kafka.failNext(2, 503);
  const pub = await publish(sluice, t.tenantId, 'order.created', { n: 1 }, { id: 'retry-evt-1' });
  const d = await deliveryWhen(t, pub.deliveries[0].id, 'delivered');
  assert.equal(d.attempts, 3, JSON.stringify(d));
  assert.deepEqual(requestsFor(topic).map((r) => r.status), [503, 503, 200]);
  const [r] = kafka.records(topic);
  assert.equal(r.headers['sluice-attempt'], '3');
});

test('kafka: config errors are named', { timeout: 30_000 }, async () => {
  const tenantId = uniqueId('kafka');
  await sluice.api('POST', '/v1/tenants', { id: tenantId });
  const r = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'kafka',
    config: { endpoint: kafka.url, topic: 'bad topic!', key_field: 'a..b' },
  });
  assert.equal(r.status, 422, r.text);
  assert.deepEqual(r.json.errors.map((e) => e.field).sort(), ['config.cluster_id', 'config.key_field', 'config.topic']);
});

// The stand-in is only as good as its checks: it refuses what the proxy refuses.
test('the REST Proxy stand-in refuses wrong content types, credentials and shapes', { timeout: 30_000 }, async () => {
  const topic = newTopic('standin');
  const authz = `Basic ${Buffer.from(`${AUTH.username}:${AUTH.password}`).toString('base64')}`;
  const post = async (path, contentType, body, auth = authz) => {
    const r = await fetch(`${kafka.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType, ...(auth ? { authorization: auth } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: r.status, json: await r.json() };
  };
  const v3 = `/v3/clusters/${CLUSTER}/topics/${topic}/records`;
  const v2 = `/topics/${topic}`;
  const V2CT = 'application/vnd.kafka.json.v2+json';
  const good3 = { value: { type: 'JSON', data: { a: 1 } }, headers: [{ name: 'h', value: 'aGk=' }] };
  const cases = [
    [v3, 'application/json', good3, authz, 200, 200],
    [v3, 'application/json', good3, null, 401, 401],
    [v3, 'text/plain', good3, authz, 415, 415],
    [v3, 'application/json', { ...good3, headers: [{ name: 'h', value: 'not base64!' }] }, authz, 422, 422],
    [v3, 'application/json', { key: { type: 'STRING', data: 5 } }, authz, 422, 422],
    [v3, 'application/json', '{oops', authz, 400, 400],
    [`/v3/clusters/${CLUSTER}/topics/missing/records`, 'application/json', good3, authz, 404, 40401],
    [`/v3/clusters/other/topics/${topic}/records`, 'application/json', good3, authz, 404, 404],
    [v2, V2CT, { records: [{ value: { a: 1 } }] }, authz, 200, undefined],
    [v2, 'application/json', { records: [{ value: { a: 1 } }] }, authz, 415, 415],
    [v2, V2CT, { records: [] }, authz, 422, 422],
    [v2, V2CT, { records: [{ key: 'k' }] }, authz, 422, 422],
    ['/topics/missing', V2CT, { records: [{ value: 1 }] }, authz, 404, 40401],
  ];
  for (const [path, ct, body, auth, status, code] of cases) {
    const r = await post(path, ct, body, auth);
    assert.equal(r.status, status, `${path} ${ct} ${JSON.stringify(body)}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error_code, code, JSON.stringify(r.json));
  }
  assert.deepEqual(kafka.records(topic).map((r) => r.headers), [{ h: 'hi' }, {}]);
});
