// AWS destination types against moto in server mode (SQS, EventBridge, S3): Sluice signs
// with SigV4 and sends through the Durable Object; the tests read back what arrived.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { startSluice, publish, eventually, uniqueId, checkProblem, REPO_ROOT } from './helpers/sluice.mjs';
import { startMoto, REGION } from './helpers/moto.mjs';
import { startReceiver } from './helpers/receiver.mjs';

let sluice;
let moto;

before(async () => {
  moto = await startMoto();
  sluice = await startSluice({ name: 'aws' });
}, { timeout: 120_000 });

after(async () => {
  if (sluice) await sluice.dispose();
  if (moto) await moto.stop();
});

const CREDS = { region: REGION, access_key_id: 'AKIDTEST', secret_access_key: 'aws-secret-marker' };
const FAST = { max_retries: 3, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 };

async function tenantWith(type, config, extra = {}) {
  const tenantId = uniqueId('aws');
  assert.equal((await sluice.api('POST', '/v1/tenants', { id: tenantId })).status, 201);
  const d = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, { type, config: { ...CREDS, ...config }, retry: FAST, ...extra });
  assert.equal(d.status, 201, d.text);
  assert.ok(!d.text.includes('aws-secret-marker'), 'the secret key is never returned');
  assert.equal(d.json.config.secret_access_key, '********');
  return { tenantId, destination: d.json, base: `/v1/tenants/${tenantId}/destinations/${d.json.id}` };
}

const attr = (m, name) => m.MessageAttributes?.[name]?.StringValue;

test('aws_sqs: one message per event, attributes carry event id, topic and attempt; a burst is batched', { timeout: 60_000 }, async () => {
  const queueUrl = await moto.createQueue(uniqueId('orders').replace(/[^a-zA-Z0-9_-]/g, ''));
  const t = await tenantWith('aws_sqs', { queue_url: queueUrl });
  const pub = await publish(sluice, t.tenantId, 'order.created', { order: 1 }, { id: 'sqs-evt-1' });
  const [m] = await moto.drain(queueUrl);
  assert.deepEqual(JSON.parse(m.Body), { order: 1 });
  assert.equal(attr(m, 'sluice-event-id'), 'sqs-evt-1');
  assert.equal(attr(m, 'sluice-topic'), 'order.created');
  assert.equal(m.MessageAttributes['sluice-attempt'].StringValue, '1');
  await eventually(async () => {
    const r = await sluice.api('GET', `${t.base}/deliveries`);
    return r.json.data.find((d) => d.id === pub.deliveries[0].id)?.status === 'delivered';
  }, 10_000, { what: 'delivered' });

  // 25 events at once: all arrive, in fewer requests than events (SendMessageBatch).
  await Promise.all(Array.from({ length: 25 }, (_, i) => publish(sluice, t.tenantId, 'order.created', { i }, { id: `sqs-burst-${i}` })));
  const burst = await moto.drain(queueUrl, { waitFor: 25 });
  assert.deepEqual(burst.map((x) => attr(x, 'sluice-event-id')).sort(), Array.from({ length: 25 }, (_, i) => `sqs-burst-${i}`).sort());
});

test('aws_sqs FIFO: group id from config, deduplication id = event id', { timeout: 60_000 }, async () => {
  const name = `${uniqueId('fifo').replace(/[^a-zA-Z0-9_-]/g, '')}.fifo`;
  const queueUrl = await moto.createQueue(name, { FifoQueue: 'true' });
  const t = await tenantWith('aws_sqs', { queue_url: queueUrl, message_group_id: 'tenant-a' });
  await publish(sluice, t.tenantId, 'order.paid', { n: 1 }, { id: 'fifo-evt-1' });
  const [m] = await moto.drain(queueUrl);
  assert.equal(m.Attributes.MessageGroupId, 'tenant-a');
  assert.equal(m.Attributes.MessageDeduplicationId, 'fifo-evt-1');
  assert.deepEqual(JSON.parse(m.Body), { n: 1 });
});

test('aws_sqs: a missing queue fails the delivery at once', { timeout: 60_000 }, async () => {
  const t = await tenantWith('aws_sqs', { queue_url: `${moto.url}/123456789012/no-such-queue` });
  const pub = await publish(sluice, t.tenantId, 'order.created', { n: 1 });
  const d = await eventually(async () => {
    const r = await sluice.api('GET', `${t.base}/deliveries`);
    const x = r.json.data.find((y) => y.id === pub.deliveries[0].id);
    return x?.status === 'failed' ? x : null;
  }, 10_000, { what: 'failed' });
  assert.equal(d.attempts, 1, JSON.stringify(d));
  assert.match(d.last_error, /NonExistentQueue|QueueDoesNotExist/);
});

test('aws_eventbridge: PutEvents with DetailType = topic and Detail = data, read back through a rule to SQS', { timeout: 60_000 }, async () => {
  const queueUrl = await moto.createQueue(uniqueId('eb').replace(/[^a-zA-Z0-9_-]/g, ''));
  const arn = (await moto.sqs('GetQueueAttributes', { QueueUrl: queueUrl, AttributeNames: ['QueueArn'] })).Attributes.QueueArn;
  const rule = uniqueId('rule').replace(/[^a-zA-Z0-9_-]/g, '');
  await moto.events('PutRule', { Name: rule, EventPattern: JSON.stringify({ source: ['sluice.test'] }), State: 'ENABLED' });
  await moto.events('PutTargets', { Rule: rule, Targets: [{ Id: 'q', Arn: arn }] });
  const t = await tenantWith('aws_eventbridge', { source: 'sluice.test', endpoint: moto.url });
  await publish(sluice, t.tenantId, 'invoice.paid', { invoice: 'inv_1', amount: 42 });
  const [m] = await moto.drain(queueUrl);
  const event = JSON.parse(m.Body);
  assert.equal(event.source, 'sluice.test');
  assert.equal(event['detail-type'], 'invoice.paid');
  assert.deepEqual(event.detail, { invoice: 'inv_1', amount: 42 });
});

test('aws_s3: PutObject under the key template, with the event id and topic as object metadata', { timeout: 60_000 }, async () => {
  const bucket = uniqueId('bkt').toLowerCase().replace(/[^a-z0-9-]/g, '-');
  await moto.createBucket(bucket);
  const t = await tenantWith('aws_s3', { bucket, endpoint: moto.url, path_style: true });
  await publish(sluice, t.tenantId, 'report.ready', { report: 'q3' }, { id: 's3-evt-1' });
  const keys = await eventually(async () => {
    const k = await moto.listKeys(bucket);
    return k.length ? k : null;
  }, 10_000, { what: 'an object' });
  const d = new Date();
  const ymd = `${d.getUTCFullYear()}/${String(d.getUTCMonth() + 1).padStart(2, '0')}/${String(d.getUTCDate()).padStart(2, '0')}`;
  assert.deepEqual(keys, [`${t.tenantId}/report.ready/${ymd}/s3-evt-1.json`]);
  const obj = await moto.getObject(bucket, keys[0]);
  assert.equal(obj.status, 200);
  assert.deepEqual(JSON.parse(obj.body), { report: 'q3' });
  assert.equal(obj.headers.get('x-amz-meta-sluice-event-id'), 's3-evt-1');
  assert.equal(obj.headers.get('x-amz-meta-sluice-topic'), 'report.ready');
  assert.equal(obj.headers.get('content-type'), 'application/json');
});

test('aws_sqs: a test send checks the queue against the service before events flow', { timeout: 60_000 }, async () => {
  const missing = await tenantWith('aws_sqs', { queue_url: `${moto.url}/123456789012/no-such-queue-probe` });
  const r = await sluice.api('POST', `${missing.base}/test`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ok, false);
  assert.equal(r.json.transient, false);
  assert.match(r.json.error, /NonExistentQueue|QueueDoesNotExist/);

  const queueUrl = await moto.createQueue(uniqueId('probe').replace(/[^a-zA-Z0-9_-]/g, ''));
  const good = await tenantWith('aws_sqs', { queue_url: queueUrl });
  const ok = await sluice.api('POST', `${good.base}/test`);
  assert.equal(ok.json.ok, true, ok.text);
  const [m] = await moto.drain(queueUrl);
  assert.equal(attr(m, 'sluice-topic'), 'sluice.test');
});

/** The Authorization botocore computes for a captured request (tests/helpers/resign.py). */
function botocoreAuthorization(req, service, creds) {
  const input = JSON.stringify({
    method: req.method, url: `http://${req.headers.host}${req.url}`, headers: req.headers, body: req.body, ...creds, service,
  });
  const python = path.join(REPO_ROOT, '.venv', 'bin', 'python');
  const out = spawnSync(python, [path.join(REPO_ROOT, 'tests', 'helpers', 'resign.py')], { input, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`resign.py: ${out.stderr}`);
  return out.stdout.trim();
}

test('an endpoint written in a non-canonical form is signed as sent: botocore signs the captured requests the same', { timeout: 60_000 }, async () => {
  const rx = await startReceiver();
  try {
    const creds = { ...CREDS, session_token: 'session-token-example' };
    const once = { retry: { max_retries: 0 } };
    const upper = `http://LOCALHOST:${rx.port}`;
    const short = `http://127.1:${rx.port}`;
    const s3 = await tenantWith('aws_s3', {
      bucket: 'bkt-canonical', endpoint: upper, session_token: creds.session_token,
      content_type: 'text/plain; charset=utf-8', key_template: 'odd key/{topic}/{event_id}+(1).json',
    }, once);
    const sqs = await tenantWith('aws_sqs', {
      queue_url: 'https://sqs.us-east-1.amazonaws.com/000000000000/orders', endpoint: short, session_token: creds.session_token,
    }, once);
    const eb = await tenantWith('aws_eventbridge', { source: 'sluice.test', endpoint: upper }, once);
    for (const t of [s3, sqs, eb]) await publish(sluice, t.tenantId, 'order.created', { n: 1, s: 'é' });
    await rx.waitFor(3, 15_000);

    const byService = (req) => (req.method === 'PUT' ? 's3' : req.headers['x-amz-target'].startsWith('AmazonSQS') ? 'sqs' : 'events');
    for (const req of rx.requests) {
      const service = byService(req);
      // What arrived is the canonical host, and that is the host that was signed.
      assert.equal(req.headers.host, `${service === 'sqs' ? '127.0.0.1' : 'localhost'}:${rx.port}`);
      const c = service === 'events' ? CREDS : creds;
      assert.equal(req.headers.authorization, botocoreAuthorization(req, service, c), `${service}: ${req.method} ${req.url}`);
    }
    const put = rx.requests.find((r) => r.method === 'PUT');
    assert.match(put.url, /^\/bkt-canonical\/odd%20key\/order\.created\/[^/]+%2B%281%29\.json$/);

    // A signed header value beyond printable ASCII could never be delivered: refused, named.
    const bad = await sluice.api('POST', `/v1/tenants/${s3.tenantId}/destinations`, {
      type: 'aws_s3', config: { ...CREDS, bucket: 'b-1', content_type: 'text/plain; name="café"' },
    });
    checkProblem(bad, 422, 'validation', 'non-ASCII content_type');
    assert.deepEqual(bad.json.errors.map((e) => e.field), ['config.content_type']);
  } finally {
    await rx.close();
  }
});
