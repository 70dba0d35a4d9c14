// The payload arrives as it was published: the JSON text of `data` reaches the destination
// byte for byte (key order, `1.0` vs `1`, `1e3`, escapes, spacing), on the first attempt, on
// retries and on a manual retry, through a webhook, SQS (moto) and Kafka (REST Proxy stand-in).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startSluice, createWebhook, eventually, uniqueId } from './helpers/sluice.mjs';
import { startReceiver } from './helpers/receiver.mjs';
import { startMoto, REGION } from './helpers/moto.mjs';
import { startKafkaRest } from './helpers/kafka_rest.mjs';

// Everything a parse and re-serialisation would change.
const DATA = '{"zebra": 1, "alpha": 1.0, "mango": 1e3, "caf\\u00e9": "\\u00e9t\\u00e9", "big": 123456789012345678901234, "list": [3, 2, 1]}';

let sluice;
let moto;
let kafka;
let rx;

before(async () => {
  [moto, kafka, rx] = await Promise.all([startMoto(), startKafkaRest({ clusterId: 'lkc-raw' }), startReceiver()]);
  sluice = await startSluice({ name: 'payload' });
}, { timeout: 120_000 });

after(async () => {
  if (sluice) await sluice.dispose();
  if (moto) await moto.stop();
  if (kafka) await kafka.close();
  if (rx) await rx.close();
});

/** Publishes `DATA` as raw text (a JSON encoder would respell it). */
async function publishRaw(tenantId, id) {
  const rawBody = `{"tenant_id": ${JSON.stringify(tenantId)}, "topic": "order.created", "id": ${JSON.stringify(id)}, "data": ${DATA}}`;
  const r = await sluice.api('POST', '/v1/publish', undefined, { rawBody, headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 202, r.text);
  return r.json;
}

async function delivered(base, deliveryId) {
  await eventually(async () => {
    const r = await sluice.api('GET', `${base}/deliveries?limit=100`);
    return r.json.data.find((d) => d.id === deliveryId)?.status === 'delivered';
  }, 15_000, { what: `${deliveryId} delivered` });
}

test('webhook: the body is the published text, on the first try, on retries and on a manual retry', { timeout: 60_000 }, async () => {
  const fast = { max_retries: 2, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 };
  const w = await createWebhook(sluice, rx, { retry: fast, signing: { scheme: 'none' } });
  rx.requests.length = 0;
  rx.failNext(1);
  const pub = await publishRaw(w.tenantId, uniqueId('raw'));
  await delivered(w.base, pub.deliveries[0].id);
  // A manual retry of the delivered delivery sends it once more.
  const retry = await sluice.api('POST', `${w.base}/deliveries/${pub.deliveries[0].id}/retry`);
  assert.equal(retry.status, 202, retry.text);
  await rx.waitFor((reqs) => reqs.filter((r) => r.body.includes('zebra')).length >= 3, 15_000);
  const bodies = rx.requests.map((r) => r.body);
  assert.equal(bodies.length, 3, 'first try (500), its retry, the manual retry');
  for (const b of bodies) assert.equal(b, DATA);
});

test('aws_sqs: the message body is the published text', { timeout: 60_000 }, async () => {
  const tenantId = uniqueId('raw');
  assert.equal((await sluice.api('POST', '/v1/tenants', { id: tenantId })).status, 201);
  const queueUrl = await moto.createQueue(uniqueId('raw').replace(/[^a-zA-Z0-9_-]/g, ''));
  const d = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'aws_sqs', config: { queue_url: queueUrl, region: REGION, access_key_id: 'AKIDTEST', secret_access_key: 'x' },
  });
  assert.equal(d.status, 201, d.text);
  await publishRaw(tenantId, uniqueId('raw'));
  const [m] = await moto.drain(queueUrl);
  assert.equal(m.Body, DATA);
});

test('kafka v3 and v2: the record value is the published text', { timeout: 60_000 }, async () => {
  for (const api of ['v3', 'v2']) {
    const tenantId = uniqueId('raw');
    assert.equal((await sluice.api('POST', '/v1/tenants', { id: tenantId })).status, 201);
    const topic = uniqueId(`raw-${api}`).replace(/[^a-zA-Z0-9._-]/g, '_');
    kafka.createTopic(topic, { partitions: 1 });
    const config = api === 'v3' ? { endpoint: kafka.url, cluster_id: 'lkc-raw', topic } : { endpoint: kafka.url, api_version: 'v2', topic };
    const d = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, { type: 'kafka', config });
    assert.equal(d.status, 201, d.text);
    const pub = await publishRaw(tenantId, uniqueId('raw'));
    await delivered(`/v1/tenants/${tenantId}/destinations/${d.json.id}`, pub.deliveries[0].id);
    const [req] = kafka.produceRequests.filter((r) => r.topic === topic && r.status === 200);
    const expected = api === 'v3' ? `"value":{"type":"JSON","data":${DATA}}` : `"value":${DATA}`;
    assert.ok(req.body.includes(expected), `${api}: ${req.body}`);
  }
});
