// The `rabbitmq` destination type against a real RabbitMQ node (Debian's rabbitmq-server with
// the management plugin, started privately by tests/helpers/rabbitmq.mjs): Sluice publishes
// through the management HTTP API; the tests read the messages back from bound queues.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startSluice, publish, eventually, uniqueId, freePort, checkProblem } from './helpers/sluice.mjs';
import { startRabbitMq } from './helpers/rabbitmq.mjs';

let sluice;
let rabbit;

const USER = { username: 'sluice', password: 'rabbit-secret-marker' };
// A vhost whose name needs percent-encoding, besides the default "/" (`%2F`).
const VHOST = 'tenants/a b';
const FAST = { max_retries: 3, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 };

before(async () => {
  [rabbit, sluice] = await Promise.all([startRabbitMq(), startSluice({ name: 'rabbitmq' })]);
  console.log(`RabbitMQ node with the management API up in ${rabbit.startupMs} ms`);
  await rabbit.createVhost(VHOST);
  await rabbit.createUser(USER.username, USER.password, ['/', VHOST]);
}, { timeout: 180_000 });

after(async () => {
  if (sluice) await sluice.dispose();
  if (rabbit) await rabbit.stop();
});

async function destination(config, extra = {}) {
  const tenantId = uniqueId('rmq');
  assert.equal((await sluice.api('POST', '/v1/tenants', { id: tenantId })).status, 201);
  const d = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'rabbitmq',
    config: { endpoint: rabbit.url, ...USER, ...config },
    retry: FAST,
    ...extra,
  });
  assert.equal(d.status, 201, d.text);
  assert.ok(!d.text.includes(USER.password), 'the password is never returned');
  assert.equal(d.json.config.password, '********');
  return { tenantId, destination: d.json, base: `/v1/tenants/${tenantId}/destinations/${d.json.id}` };
}

async function settled(t, deliveryId, status, timeoutMs = 15_000) {
  return eventually(async () => {
    const r = await sluice.api('GET', `${t.base}/deliveries`);
    const d = r.json.data.find((x) => x.id === deliveryId);
    return d?.status === status ? d : null;
  }, timeoutMs, { what: `delivery ${status}` });
}

test('rabbitmq: one persistent message per event, read back from a bound queue with its properties', { timeout: 60_000 }, async () => {
  const exchange = uniqueId('orders');
  const queue = uniqueId('q');
  await rabbit.createExchange('/', exchange, 'topic');
  await rabbit.createQueue('/', queue, exchange, 'order.*');
  const t = await destination({ exchange });
  assert.equal(t.destination.config.vhost, '/');
  assert.equal(t.destination.config.routing_key, '{topic}');

  const pub = await publish(sluice, t.tenantId, 'order.created', { order: 1, note: 'ü "quoted"' }, { id: 'rmq-evt-1' });
  const [m] = await rabbit.drain('/', queue);
  assert.deepEqual(JSON.parse(m.payload), { order: 1, note: 'ü "quoted"' });
  assert.equal(m.payload_encoding, 'string');
  assert.equal(m.exchange, exchange);
  assert.equal(m.routing_key, 'order.created');
  assert.equal(m.properties.message_id, 'rmq-evt-1');
  assert.equal(m.properties.delivery_mode, 2);
  assert.equal(m.properties.content_type, 'application/json');
  assert.deepEqual(m.properties.headers, { 'sluice-event-id': 'rmq-evt-1', 'sluice-topic': 'order.created', 'sluice-attempt': 1 });
  const d = await settled(t, pub.deliveries[0].id, 'delivered');
  assert.equal(d.attempts, 1);

  // Three more: one request each, all arrive.
  await Promise.all([1, 2, 3].map((i) => publish(sluice, t.tenantId, 'order.paid', { i }, { id: `rmq-burst-${i}` })));
  const burst = await rabbit.drain('/', queue, { waitFor: 3 });
  assert.deepEqual(burst.map((x) => x.properties.message_id).sort(), ['rmq-burst-1', 'rmq-burst-2', 'rmq-burst-3']);
});

test('rabbitmq: "routed": false fails the delivery after one attempt; with allow_unrouted it is delivered', { timeout: 60_000 }, async () => {
  const exchange = uniqueId('ex');
  const queue = uniqueId('q');
  await rabbit.createExchange(VHOST, exchange, 'direct');
  await rabbit.createQueue(VHOST, queue, exchange, 'bound.order.created');

  // A template routing key, in a vhost that needs encoding: bound, so it arrives.
  const bound = await destination({ vhost: VHOST, exchange, routing_key: 'bound.{topic}' });
  await publish(sluice, bound.tenantId, 'order.created', { n: 1 }, { id: 'rmq-routed-1' });
  const [m] = await rabbit.drain(VHOST, queue);
  assert.equal(m.routing_key, 'bound.order.created');
  assert.equal(m.properties.message_id, 'rmq-routed-1');

  const strict = await destination({ vhost: VHOST, exchange, routing_key: 'nowhere.{event_id}' });
  const pub = await publish(sluice, strict.tenantId, 'order.created', { n: 2 });
  const failed = await settled(strict, pub.deliveries[0].id, 'failed');
  assert.equal(failed.attempts, 1, JSON.stringify(failed));
  assert.match(failed.last_error, /"routed": false/);
  assert.match(failed.last_error, new RegExp(`nowhere\\.${pub.id}`));

  const lenient = await destination({ vhost: VHOST, exchange, routing_key: 'nowhere', allow_unrouted: true });
  const pub2 = await publish(sluice, lenient.tenantId, 'order.created', { n: 3 });
  const delivered = await settled(lenient, pub2.deliveries[0].id, 'delivered');
  assert.equal(delivered.attempts, 1);
  const left = await rabbit.api('GET', `/api/queues/${encodeURIComponent(VHOST)}/${queue}`);
  assert.equal(left.json.messages ?? 0, 0, 'no queue got the unrouted messages');
});

test('rabbitmq: the default exchange ("") routes by queue name', { timeout: 60_000 }, async () => {
  const queue = uniqueId('direct');
  await rabbit.createQueue('/', queue);
  const t = await destination({ exchange: '', routing_key: queue });
  await publish(sluice, t.tenantId, 'order.created', { n: 1 }, { id: 'rmq-default-1' });
  const [m] = await rabbit.drain('/', queue);
  assert.equal(m.exchange, '');
  assert.equal(m.routing_key, queue);
  assert.equal(m.properties.message_id, 'rmq-default-1');
});

test('rabbitmq: a bad config is refused with the fields named', { timeout: 60_000 }, async () => {
  const tenantId = uniqueId('rmq');
  assert.equal((await sluice.api('POST', '/v1/tenants', { id: tenantId })).status, 201);
  const r = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'rabbitmq',
    config: { endpoint: 'ftp://x', exchange: 'e', routing_key: '{colour}', username: 'a:b', password: 'p' },
  });
  checkProblem(r, 422, 'validation', 'bad rabbitmq config');
  assert.deepEqual(r.json.errors.map((e) => e.field).sort(), ['config.endpoint', 'config.routing_key', 'config.username']);
  const missing = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'rabbitmq',
    config: { endpoint: rabbit.url, exchange: 'e', username: 'u' },
  });
  checkProblem(missing, 422, 'validation', 'no password');
  assert.deepEqual(missing.json.errors.map((e) => e.field), ['config.password']);
});

test('rabbitmq: a wrong password fails after one attempt (401)', { timeout: 60_000 }, async () => {
  const exchange = uniqueId('ex');
  await rabbit.createExchange('/', exchange);
  const t = await destination({ exchange, password: 'not-the-password' });
  const pub = await publish(sluice, t.tenantId, 'order.created', { n: 1 });
  const d = await settled(t, pub.deliveries[0].id, 'failed');
  assert.equal(d.attempts, 1, JSON.stringify(d));
  assert.match(d.last_error, /RabbitMQ HTTP 401/);
  assert.ok(!d.last_error.includes('not-the-password'));
});

test('rabbitmq: a missing exchange fails after one attempt', { timeout: 60_000 }, async () => {
  const t = await destination({ exchange: 'no-such-exchange' });
  const pub = await publish(sluice, t.tenantId, 'order.created', { n: 1 });
  const d = await settled(t, pub.deliveries[0].id, 'failed');
  assert.equal(d.attempts, 1, JSON.stringify(d));
  assert.match(d.last_error, /NOT_FOUND - no exchange 'no-such-exchange'/);
});

test('rabbitmq: a refused connection is retried; after a PATCH to the right endpoint it is delivered', { timeout: 60_000 }, async () => {
  const exchange = uniqueId('ex');
  const queue = uniqueId('q');
  await rabbit.createExchange('/', exchange);
  await rabbit.createQueue('/', queue, exchange, '#');
  const closed = `http://127.0.0.1:${await freePort()}`;
  const t = await destination(
    { exchange, endpoint: closed },
    { retry: { max_retries: 20, backoff: { type: 'fixed', interval_ms: 500 }, jitter: 0 }, circuit_breaker: { failure_threshold: 100, cooldown_ms: 1000 } },
  );
  const pub = await publish(sluice, t.tenantId, 'order.created', { n: 1 }, { id: 'rmq-retry-1' });
  const id = pub.deliveries[0].id;
  const waiting = await eventually(async () => {
    const r = await sluice.api('GET', `${t.base}/deliveries`);
    const d = r.json.data.find((x) => x.id === id);
    return d?.attempts >= 2 ? d : null;
  }, 15_000, { what: 'two failed attempts' });
  assert.notEqual(waiting.status, 'failed');
  assert.match(waiting.last_error, /network error/);

  // Send back the config as read (password masked) with the right endpoint: another port is
  // another origin, so the masked password does not follow it (422 naming it); given again,
  // the PATCH goes through.
  const shown = (await sluice.api('GET', t.base)).json;
  const masked = await sluice.api('PATCH', t.base, { config: { ...shown.config, endpoint: rabbit.url } });
  assert.equal(masked.status, 422, masked.text);
  assert.deepEqual(masked.json.errors.map((e) => e.field), ['config.password']);
  const patched = await sluice.api('PATCH', t.base, { config: { ...shown.config, endpoint: rabbit.url, password: USER.password } });
  assert.equal(patched.status, 200, patched.text);

  const d = await settled(t, id, 'delivered');
  assert.ok(d.attempts >= 3, JSON.stringify(d));
  const [m] = await rabbit.drain('/', queue);
  assert.equal(m.properties.message_id, 'rmq-retry-1');
  assert.equal(m.properties.headers['sluice-attempt'], d.attempts);
});
