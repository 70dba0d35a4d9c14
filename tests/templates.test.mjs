// Payload transforms and destination templates (issue 4 §8): a transform reshapes what a
// destination receives, validated at save (422 naming the JSON pointer) and applied at
// delivery for every type (a webhook receiver and the Pub/Sub stand-in read back the exact
// body); templates are listed at /v1/templates and expand on create.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';

import { startSluice, publish, eventually, uniqueId, checkProblem } from './helpers/sluice.mjs';
import { startReceiver } from './helpers/receiver.mjs';
import { startPubSub } from './helpers/pubsub.mjs';

const FAST = { max_retries: 2, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 };
const ORDER = { id: 'ord_1', amount: 4200, items: [{ sku: 'A-1' }, { sku: 'B-2' }], customer: { id: 'cus_9' } };

let sluice;
let rx;
let ps;

before(async () => {
  rx = await startReceiver();
  ps = await startPubSub();
  sluice = await startSluice({ name: 'templates' });
}, { timeout: 120_000 });

after(async () => {
  if (sluice) await sluice.dispose();
  if (rx) await rx.close();
  if (ps) await ps.close();
});

async function tenant() {
  const id = uniqueId('tpl');
  assert.equal((await sluice.api('POST', '/v1/tenants', { id })).status, 201);
  return id;
}

async function create(tenantId, body) {
  return sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, body);
}

/** The next request the receiver gets for this event id. */
async function requestFor(eventId) {
  await rx.waitFor((reqs) => reqs.some((r) => r.headers['x-sluice-event-id'] === eventId), 15_000);
  return rx.requests.find((r) => r.headers['x-sluice-event-id'] === eventId);
}

function fieldsOf(r) {
  return (r.json.errors ?? []).map((e) => e.field);
}

test('a webhook with a transform receives the transformed body, signed; PATCH null removes it', { timeout: 60_000 }, async () => {
  const tenantId = await tenant();
  const transform = {
    text: 'Order {{data.id}} paid: {{data.amount}}',
    order: '{{ data }}',
    first_sku: '{{ data.items[0].sku }}',
    region: '{{ metadata.region | default: "none" }}',
    missing: '{{ data.nope }}',
    meta: { event: '{{ event_id }}', topic: '{{ topic }}', tenant: '{{ tenant_id }}', attempt: '{{ attempt }}' },
    literal: '\\{{ not a placeholder }}',
  };
  const d = await create(tenantId, { type: 'webhook', config: { url: rx.url }, retry: FAST, transform });
  assert.equal(d.status, 201, d.text);
  assert.deepEqual(d.json.transform, transform, 'the view shows the transform as given');
  assert.equal(d.json.template, null);
  const base = `/v1/tenants/${tenantId}/destinations/${d.json.id}`;

  const eventId = uniqueId('tr-evt');
  await publish(sluice, tenantId, 'order.paid', ORDER, { id: eventId, metadata: { region: 'eu' } });
  const req = await requestFor(eventId);
  assert.deepEqual(JSON.parse(req.body), {
    text: 'Order ord_1 paid: 4200',
    order: ORDER,
    first_sku: 'A-1',
    region: 'eu',
    missing: null,
    meta: { event: eventId, topic: 'order.paid', tenant: tenantId, attempt: 1 },
    literal: '{{ not a placeholder }}',
  });
  // The signature covers the body actually sent.
  assert.deepEqual(new Webhook(d.json.signing_secret).verify(req.body, req.headers).text, 'Order ord_1 paid: 4200');

  // A bad transform in a PATCH is refused with the pointer named; the stored one stays.
  const bad = await sluice.api('PATCH', base, { transform: { blocks: [{ text: '{{ data.id' }] } });
  checkProblem(bad, 422, 'validation');
  assert.deepEqual(fieldsOf(bad), ['transform/blocks/0/text']);
  assert.match(bad.json.errors[0].message, /no closing '}}'/);
  assert.deepEqual((await sluice.api('GET', base)).json.transform, transform);

  // A new transform replaces the old one whole (no merge), and null removes it.
  const replaced = await sluice.api('PATCH', base, { transform: { id: '{{ data.id }}' } });
  assert.equal(replaced.status, 200, replaced.text);
  assert.deepEqual(replaced.json.transform, { id: '{{ data.id }}' });
  const removed = await sluice.api('PATCH', base, { transform: null });
  assert.equal(removed.status, 200, removed.text);
  assert.equal(removed.json.transform, null);
  const plainId = uniqueId('tr-plain');
  await publish(sluice, tenantId, 'order.paid', ORDER, { id: plainId });
  assert.deepEqual(JSON.parse((await requestFor(plainId)).body), ORDER, 'without a transform the data goes as is');
});

test('an invalid transform is refused at create, each bad string named by its JSON pointer', { timeout: 30_000 }, async () => {
  const tenantId = await tenant();
  const r = await create(tenantId, {
    type: 'webhook',
    config: { url: rx.url },
    transform: { ok: '{{ data.id }}', blocks: [{ text: 'hi {{ dat.id }}' }], 'a/b': '{{ data | upper: 1 }}' },
  });
  checkProblem(r, 422, 'validation');
  assert.deepEqual(fieldsOf(r).sort(), ['transform/a~1b', 'transform/blocks/0/text']);
  const msg = r.json.errors.find((e) => e.field === 'transform/blocks/0/text').message;
  assert.match(msg, /unknown root 'dat'/);
  const huge = await create(tenantId, { type: 'webhook', config: { url: rx.url }, transform: { t: 'x'.repeat(17_000) } });
  checkProblem(huge, 422, 'validation');
  assert.deepEqual(fieldsOf(huge), ['transform']);
});

test('the same transform applies to another type: Pub/Sub receives the transformed data', { timeout: 60_000 }, async () => {
  const tenantId = await tenant();
  const topic = uniqueId('orders').replace(/[^a-zA-Z0-9-]/g, '-');
  ps.createTopic('acme-events', topic);
  const d = await create(tenantId, {
    type: 'gcp_pubsub',
    config: { topic, service_account: ps.serviceAccount('acme-events'), endpoint: ps.url },
    retry: FAST,
    transform: { order_id: '{{ data.id }}', cents: '{{ data.amount }}', who: 'customer {{ data.customer.id }}' },
  });
  assert.equal(d.status, 201, d.text);
  const n = 5;
  await Promise.all(Array.from({ length: n }, (_, i) => publish(sluice, tenantId, 'order.paid', { ...ORDER, id: `ord_${i}` }, { id: `ps-tr-${topic}-${i}` })));
  const msgs = await ps.waitForMessages('acme-events', topic, n);
  assert.deepEqual(
    msgs.map((m) => JSON.parse(m.data)).sort((a, b) => a.order_id.localeCompare(b.order_id)),
    Array.from({ length: n }, (_, i) => ({ order_id: `ord_${i}`, cents: 4200, who: 'customer cus_9' })),
  );
});

test('a transformed payload over the limit fails its delivery at once with the reason, sending nothing', { timeout: 60_000 }, async () => {
  const tenantId = await tenant();
  const d = await create(tenantId, {
    type: 'webhook', config: { url: rx.url }, retry: FAST, transform: ['{{ data }}', '{{ data }}', '{{ data }}'],
  });
  assert.equal(d.status, 201, d.text);
  const base = `/v1/tenants/${tenantId}/destinations/${d.json.id}`;
  const before = rx.count;
  const pub = await publish(sluice, tenantId, 'order.paid', { blob: 'x'.repeat(190_000) });
  const failed = await eventually(async () => {
    const r = await sluice.api('GET', `${base}/deliveries`);
    const x = r.json.data.find((y) => y.id === pub.deliveries[0].id);
    return x?.status === 'failed' ? x : null;
  }, 15_000, { what: 'failed delivery' });
  assert.equal(failed.attempts, 1, 'not retried');
  assert.match(failed.last_error, /transform: the transformed payload is more than the 524288 bytes allowed/);
  assert.equal(rx.count, before, 'nothing was sent');
  // The next small event on the same destination is delivered: the failure was that event's.
  const small = uniqueId('tr-small');
  await publish(sluice, tenantId, 'order.paid', { n: 1 }, { id: small });
  assert.deepEqual(JSON.parse((await requestFor(small)).body), [{ n: 1 }, { n: 1 }, { n: 1 }]);
});

test('GET /v1/templates lists the six; one by name; unknown is 404; the key is required', { timeout: 30_000 }, async () => {
  const r = await sluice.api('GET', '/v1/templates');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.data.map((t) => t.name), ['slack', 'discord', 'pagerduty', 'datadog', 'zapier', 'linear']);
  for (const t of r.json.data) {
    assert.equal(t.type, 'webhook');
    assert.ok(t.url_pattern && t.transform && t.example, t.name);
  }
  const dd = await sluice.api('GET', '/v1/templates/datadog');
  assert.equal(dd.status, 200);
  assert.deepEqual(dd.json.required_headers.map((h) => [h.name, h.secret]), [['DD-API-KEY', true]]);
  checkProblem(await sluice.api('GET', '/v1/templates/teams'), 404, 'not-found');
  checkProblem(await sluice.api('GET', '/v1/templates', undefined, { key: null }), 401, 'unauthorized');
});

test('create from the slack template: a local receiver gets the Slack body shape', { timeout: 60_000 }, async () => {
  const tenantId = await tenant();
  const d = await create(tenantId, { template: 'slack', topics: ['order.*'], config: { url: rx.url }, retry: FAST });
  assert.equal(d.status, 201, d.text);
  assert.equal(d.json.type, 'webhook');
  assert.equal(d.json.template, 'slack');
  assert.deepEqual(d.json.config.signing, { scheme: 'none' });
  assert.equal(d.json.signing_secret, undefined, 'Slack does not verify signatures: none is generated');
  const tpl = (await sluice.api('GET', '/v1/templates/slack')).json;
  assert.deepEqual(d.json.transform, tpl.transform);

  const eventId = uniqueId('slack');
  await publish(sluice, tenantId, 'order.paid', { id: 'ord_1', amount: 4200 }, { id: eventId });
  const req = await requestFor(eventId);
  assert.deepEqual(JSON.parse(req.body), {
    text: `*order.paid* (event \`${eventId}\`)\n\`\`\`{"amount":4200,"id":"ord_1"}\`\`\``,
  });
  assert.equal(req.headers['webhook-signature'], undefined);
});

test('templates refuse what the service would not take; the template cannot be swapped', { timeout: 60_000 }, async () => {
  const tenantId = await tenant();
  const unknown = await create(tenantId, { template: 'teams', config: { url: rx.url } });
  checkProblem(unknown, 422, 'validation');
  assert.deepEqual(fieldsOf(unknown), ['template']);
  assert.match(unknown.json.errors[0].message, /one of slack, discord, pagerduty, datadog, zapier, linear/);

  // A public URL is always held to the pattern (private ones stand in only where allowed).
  const wrongUrl = await create(tenantId, { template: 'slack', config: { url: 'https://example.com/services/T/B/X' } });
  checkProblem(wrongUrl, 422, 'validation');
  assert.deepEqual(fieldsOf(wrongUrl), ['config.url']);
  assert.match(wrongUrl.json.errors[0].message, /hooks\\\.slack\\\.com/);

  const noKey = await create(tenantId, { template: 'datadog' });
  checkProblem(noKey, 422, 'validation');
  assert.deepEqual(fieldsOf(noKey), ['config.headers.DD-API-KEY']);

  const noTeam = await create(tenantId, { template: 'linear', config: { headers: { Authorization: 'lin_api_x' } } });
  checkProblem(noTeam, 422, 'validation');
  assert.deepEqual(fieldsOf(noTeam), ['params.team_id']);

  // Datadog with its key: the URL defaults to the intake, the key is sealed and masked.
  const dd = await create(tenantId, { template: 'datadog', config: { headers: { 'DD-API-KEY': 'dd-secret-marker' } } });
  assert.equal(dd.status, 201, dd.text);
  assert.equal(dd.json.config.url, 'https://http-intake.logs.datadoghq.com/api/v2/logs');
  assert.equal(dd.json.config.headers['DD-API-KEY'], '********');
  assert.ok(!dd.text.includes('dd-secret-marker'));
  const base = `/v1/tenants/${tenantId}/destinations/${dd.json.id}`;

  // While made from the template, a change must keep to it.
  // (The API key is given again: moving to another host without it is refused first, so that
  // stored credentials never follow a destination to a new host.)
  const moved = await sluice.api('PATCH', base, { config: { url: 'https://logs.example.com/api/v2/logs', headers: { 'DD-API-KEY': 'dd-secret-marker-2' } } });
  checkProblem(moved, 422, 'validation');
  assert.deepEqual(fieldsOf(moved), ['config.url']);
  const swapped = await sluice.api('PATCH', base, { template: 'slack' });
  checkProblem(swapped, 422, 'validation');
  assert.deepEqual(fieldsOf(swapped), ['template']);
  // Detached (null), it is an ordinary webhook.
  const detached = await sluice.api('PATCH', base, { template: null, config: { url: 'https://logs.example.com/api/v2/logs', headers: { 'DD-API-KEY': 'dd-secret-marker-2' } } });
  assert.equal(detached.status, 200, detached.text);
  assert.equal(detached.json.template, null);
  assert.equal(detached.json.config.headers['DD-API-KEY'], '********', 'the key is masked');
  assert.ok(!detached.text.includes('dd-secret-marker'));
});

test('POST /v1/transforms/test renders a transform as a delivery would, with the same validation', { timeout: 30_000 }, async () => {
  const slack = (await sluice.api('GET', '/v1/templates/slack')).json;
  const r = await sluice.api('POST', '/v1/transforms/test', {
    transform: slack.transform,
    event: { id: 'evt-preview', topic: 'order.paid', data: { id: 'ord_1' } },
  });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.output, { text: '*order.paid* (event `evt-preview`)\n```{"id":"ord_1"}```' });
  const typed = await sluice.api('POST', '/v1/transforms/test', {
    transform: { n: '{{ data.amount }}', t: '{{ tenant_id }}', m: '{{ metadata.region | default: "none" }}' },
    event: { data: { amount: 5 } },
  });
  assert.deepEqual(typed.json.output, { n: 5, t: 'tenant_example', m: 'none' });
  const bad = await sluice.api('POST', '/v1/transforms/test', { transform: ['{{ data.x | truncate: 0 }}'], event: {} });
  checkProblem(bad, 422, 'validation');
  assert.deepEqual(fieldsOf(bad), ['transform/0']);
});
