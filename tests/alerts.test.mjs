// Alerts: a failing destination raises ONE alert per incident at real receivers (a tenant's
// webhook channel, the operator's channel, Slack/Discord/PagerDuty-shaped channels), and ONE
// resolve when it delivers again; auto-disable alerts; a failing alert channel does not loop.
// A delivery that failed for good is told on its own (capped); lifecycle events of destinations.
// One `wrangler dev` for the whole file; each test has its own tenant and receivers.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';

import { startReceiver, sleep } from './helpers/receiver.mjs';
import { startSluice, publish, eventually, uniqueId, checkProblem, REPO_ROOT } from './helpers/sluice.mjs';

const OPERATOR = 'sluice-operator';
const FAST_RETRY = { max_retries: 3, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 };
const FAST_BREAKER = { failure_threshold: 3, cooldown_ms: 400 };
/// Only this trigger on (the others off), to test one trigger at a time.
const ONLY = (trigger) => ({
  consecutive_failures: trigger === 'consecutive_failures' ? 3 : 0,
  failure_rate: { percent: 0 },
  circuit_opened: trigger === 'circuit_opened',
  auto_disabled: trigger === 'auto_disabled',
  permanent_failure: trigger === 'permanent_failure',
  delivery_failed: { max_alerts: trigger === 'delivery_failed' ? 3 : 0 },
});

let sluice;
let operatorRx;
const receivers = [];

async function newReceiver() {
  const rx = await startReceiver();
  receivers.push(rx);
  return rx;
}

async function newTenant() {
  const id = uniqueId('alerts');
  const r = await sluice.api('POST', '/v1/tenants', { id });
  assert.equal(r.status, 201, r.text);
  return id;
}

async function createDestination(tenant, body) {
  const r = await sluice.api('POST', `/v1/tenants/${tenant}/destinations`, body);
  assert.equal(r.status, 201, `create ${body.type} -> ${r.status}: ${r.text}`);
  return r.json;
}

/** A webhook destination to `rx` that fails fast: three attempts, breaker after three. */
function failingWebhook(tenant, rx, extra = {}) {
  return createDestination(tenant, {
    type: 'webhook',
    name: 'Orders endpoint',
    topics: ['job.*'],
    config: { url: rx.url },
    retry: FAST_RETRY,
    circuit_breaker: FAST_BREAKER,
    disable_after_failures: 0,
    ...extra,
  });
}

/** A generic webhook alert channel: a webhook destination subscribed to the alert topics. */
function webhookChannel(tenant, rx, extra = {}) {
  return createDestination(tenant, {
    type: 'webhook',
    name: 'alert channel',
    topics: ['sluice.alert.*'],
    config: { url: rx.url },
    retry: FAST_RETRY,
    ...extra,
  });
}

const parsed = (rx) => rx.requests.map((r) => ({ ...r, json: JSON.parse(r.body || 'null') }));
/** Incident alert requests at a webhook channel about one destination, by topic. */
const alertsAbout = (rx, destinationId, topic) =>
  parsed(rx).filter((r) => r.headers['x-sluice-topic'] === topic && r.json?.destination?.id === destinationId && r.json.trigger !== 'delivery_failed');
/** "A delivery failed for good" alerts at a webhook channel about one destination. */
const failedAbout = (rx, destinationId) =>
  parsed(rx).filter((r) => r.json?.trigger === 'delivery_failed' && r.json.destination?.id === destinationId);
/** Distinct alert events (a retried alert keeps its webhook-id). */
const distinct = (reqs) => [...new Set(reqs.map((r) => r.headers['webhook-id']))];

before(async () => {
  sluice = await startSluice({ name: 'alerts' });
  operatorRx = await newReceiver();
  await webhookChannel(OPERATOR, operatorRx, { name: 'operator pager' });
}, { timeout: 120_000 });

after(async () => {
  for (const rx of receivers) await rx.close();
  if (sluice) await sluice.dispose();
});

test('a failing destination raises exactly one alert per incident, then exactly one resolve; the operator gets it too', { timeout: 60_000 }, async (t) => {
  const tenant = await newTenant();
  const rx = await newReceiver();
  rx.setMode({ status: 500 });
  const channelRx = await newReceiver();
  // The incident triggers' defaults; the per-delivery alerts have their own test below.
  const dest = await failingWebhook(tenant, rx, { alerts: { delivery_failed: { max_alerts: 0 } } });
  const channel = await webhookChannel(tenant, channelRx);

  for (let i = 0; i < 3; i++) await publish(sluice, tenant, 'job.run', { n: i });
  await channelRx.waitFor(() => alertsAbout(channelRx, dest.id, 'sluice.alert.triggered').length >= 1, 15_000);
  // Failures go on (retries, probes every 400 ms, more events): still one alert.
  await publish(sluice, tenant, 'job.run', { n: 3 });
  await sleep(3_000);
  assert.ok(rx.count >= 6, `the destination kept failing: ${rx.count} requests`);
  const triggered = alertsAbout(channelRx, dest.id, 'sluice.alert.triggered');
  assert.equal(distinct(triggered).length, 1, `one alert for the incident: ${JSON.stringify(triggered.map((r) => r.json))}`);

  const alert = triggered[0].json;
  // The breaker opens at the third failed request; how long until the alert is at the channel.
  t.diagnostic(`alert latency: ${triggered[0].receivedAt - rx.requests[2].receivedAt} ms after the 3rd failure`);
  new Webhook(channel.signing_secret).verify(triggered[0].body, triggered[0].headers);
  assert.equal(alert.status, 'triggered');
  assert.equal(alert.tenant_id, tenant);
  assert.deepEqual(alert.destination, { id: dest.id, name: 'Orders endpoint', type: 'webhook', target: rx.url });
  assert.ok(['circuit_opened', 'consecutive_failures'].includes(alert.trigger), alert.trigger);
  assert.equal(alert.error, 'HTTP 500');
  assert.equal(alert.last_status_code, 500);
  assert.ok(alert.counts.consecutive_failures >= 3, JSON.stringify(alert.counts));
  assert.ok(alert.counts.failures >= 3);
  assert.ok(Date.parse(alert.first_failure_at) <= Date.parse(alert.at), `${alert.first_failure_at} ${alert.at}`);
  assert.match(alert.incident_id, /^inc_[0-9a-z]{26}$/);
  assert.equal(alert.links.failed_deliveries, `/v1/tenants/${tenant}/destinations/${dest.id}/deliveries?status=failed`);
  assert.match(alert.summary, new RegExp(`of tenant ${tenant}`));
  const inspect = await sluice.api('GET', alert.links.status);
  assert.equal(inspect.status, 200, 'the alert links to a working API path');

  // The operator's channel got the same alert; the event is in both event logs.
  const atOperator = alertsAbout(operatorRx, dest.id, 'sluice.alert.triggered');
  assert.equal(distinct(atOperator).length, 1);
  assert.equal(atOperator[0].json.incident_id, alert.incident_id);
  const log = await sluice.api('GET', `/v1/tenants/${tenant}/events?topic=sluice.alert.triggered`);
  assert.equal(log.json.data.length, 1, log.text);
  const detail = await sluice.api('GET', `/v1/tenants/${tenant}/events/${log.json.data[0].id}`);
  assert.equal(detail.status, 200, detail.text);
  assert.equal(detail.json.data.incident_id, alert.incident_id);

  // Recovery: the next delivered attempt resolves the incident, once.
  rx.setMode({ status: 200 });
  await publish(sluice, tenant, 'job.run', { n: 'after' });
  await channelRx.waitFor(() => alertsAbout(channelRx, dest.id, 'sluice.alert.resolved').length >= 1, 15_000);
  await publish(sluice, tenant, 'job.run', { n: 'more' });
  await sleep(1_500);
  const resolved = alertsAbout(channelRx, dest.id, 'sluice.alert.resolved');
  assert.equal(distinct(resolved).length, 1);
  assert.equal(resolved[0].json.status, 'resolved');
  assert.equal(resolved[0].json.incident_id, alert.incident_id);
  assert.equal(resolved[0].json.severity, 'info');
  const firstOk = rx.requests.find((r) => r.respondedStatus === 200);
  t.diagnostic(`resolve latency: ${resolved[0].receivedAt - firstOk.receivedAt} ms after the first delivery`);
  assert.equal(distinct(alertsAbout(channelRx, dest.id, 'sluice.alert.triggered')).length, 1, 'no new alert');
  await operatorRx.waitFor(() => alertsAbout(operatorRx, dest.id, 'sluice.alert.resolved').length >= 1);
});

test('a destination over four lanes raises one alert per incident, not one per lane, and one resolve', { timeout: 60_000 }, async () => {
  const tenant = await newTenant();
  const rx = await newReceiver();
  rx.setMode({ status: 500 });
  const channelRx = await newReceiver();
  // A breaker that never opens here, so that every lane keeps failing on its own: each would
  // reach three failures in a row and, keeping its own alert state, open its own incident.
  const dest = await failingWebhook(tenant, rx, {
    lanes: 4,
    max_in_flight: 4,
    circuit_breaker: { failure_threshold: 1000, cooldown_ms: 400 },
    alerts: ONLY('consecutive_failures'),
  });
  await webhookChannel(tenant, channelRx);
  for (let i = 0; i < 16; i++) await publish(sluice, tenant, 'job.run', { n: i });
  await channelRx.waitFor(() => alertsAbout(channelRx, dest.id, 'sluice.alert.triggered').length >= 1, 15_000);
  // Every delivery has made its four attempts (and more lanes than one saw three failures).
  await eventually(async () => {
    const failed = await sluice.api('GET', `/v1/tenants/${tenant}/destinations/${dest.id}/deliveries?status=failed&limit=100`);
    return failed.json.data.length === 16;
  }, 20_000, { what: 'all 16 deliveries failed' });
  await sleep(1_000);
  const triggered = alertsAbout(channelRx, dest.id, 'sluice.alert.triggered');
  assert.equal(distinct(triggered).length, 1, `one alert for the outage: ${JSON.stringify(triggered.map((r) => r.json.incident_id))}`);
  const incident = triggered[0].json.incident_id;

  rx.setMode({ status: 200 });
  for (let i = 0; i < 8; i++) await publish(sluice, tenant, 'job.run', { n: `after-${i}` });
  await channelRx.waitFor(() => alertsAbout(channelRx, dest.id, 'sluice.alert.resolved').length >= 1, 15_000);
  await sleep(1_500);
  const resolved = alertsAbout(channelRx, dest.id, 'sluice.alert.resolved');
  assert.equal(distinct(resolved).length, 1, 'one resolve');
  assert.equal(resolved[0].json.incident_id, incident);
  // Lane 0 counted every lane's failures (16 deliveries, four attempts each), not its own share.
  assert.equal(resolved[0].json.counts.failures, 64, JSON.stringify(resolved[0].json.counts));
  assert.equal(distinct(alertsAbout(channelRx, dest.id, 'sluice.alert.triggered')).length, 1, 'no incident after the recovery');
});

test('Slack, Discord and PagerDuty channels get their service\'s body; PagerDuty resolves with the same dedup key', { timeout: 60_000 }, async () => {
  const tenant = await newTenant();
  const rx = await newReceiver();
  rx.setMode({ status: 403 }); // bad credentials: a permanent failure
  const slackRx = await newReceiver();
  const discordRx = await newReceiver();
  const pdRx = await newReceiver();
  pdRx.setMode({ status: 202, body: '{"status":"success","message":"Event processed","dedup_key":"x"}' });

  const refused = await sluice.api('POST', `/v1/tenants/${tenant}/destinations`, { type: 'slack', config: { url: slackRx.url } });
  checkProblem(refused, 422, 'validation', 'a slack channel must subscribe to alert topics');
  assert.equal(refused.json.errors[0].field, 'topics[0]');

  const slack = await createDestination(tenant, { type: 'slack', topics: ['sluice.alert.*'], config: { url: slackRx.url } });
  assert.deepEqual(slack.config, { url: '********' }, 'the webhook URL is the credential: masked');
  await createDestination(tenant, { type: 'discord', topics: ['sluice.alert.*'], config: { url: discordRx.url } });
  await createDestination(tenant, {
    type: 'pagerduty', topics: ['sluice.alert.triggered', 'sluice.alert.resolved'],
    config: { routing_key: 'R0123456789abcdef0123456789abcde', endpoint: pdRx.url },
  });
  const dest = await failingWebhook(tenant, rx, { alerts: ONLY('permanent_failure') });

  await publish(sluice, tenant, 'job.run', { n: 1 });
  await Promise.all([slackRx.waitFor(1, 15_000), discordRx.waitFor(1, 15_000), pdRx.waitFor(1, 15_000)]);

  const s = JSON.parse(slackRx.requests[0].body);
  assert.match(s.text, /^:rotating_light: Destination 'Orders endpoint' \(webhook, des_\w+\) of tenant .*: a delivery failed permanently$/);
  assert.deepEqual(s.blocks[0], { type: 'header', text: { type: 'plain_text', text: 'Sluice alert: permanent failure' } });
  assert.ok(s.blocks[2].fields.some((f) => f.text === `*Tenant*\n${tenant}`), JSON.stringify(s.blocks[2]));
  assert.ok(s.blocks[2].fields.some((f) => f.text === '*Last status*\n403'));
  assert.deepEqual(s.blocks[3], { type: 'section', text: { type: 'mrkdwn', text: '*Error*\n```HTTP 403```' } });

  const d = JSON.parse(discordRx.requests[0].body);
  assert.match(d.content, /a delivery failed permanently$/);
  assert.deepEqual(d.allowed_mentions, { parse: [] });
  assert.equal(d.embeds[0].title, 'Sluice alert: permanent failure');
  assert.equal(d.embeds[0].description, 'HTTP 403');
  assert.deepEqual(d.embeds[0].fields[1], { name: 'Destination', value: `Orders endpoint (${dest.id})`, inline: true });

  const p = JSON.parse(pdRx.requests[0].body);
  assert.equal(p.routing_key, 'R0123456789abcdef0123456789abcde');
  assert.equal(p.event_action, 'trigger');
  assert.match(p.dedup_key, new RegExp(`^sluice/${dest.id}/inc_[0-9a-z]{26}$`));
  assert.equal(p.payload.severity, 'error');
  assert.equal(p.payload.source, `sluice/${tenant}/${dest.id}`);
  assert.equal(p.payload.class, 'permanent_failure');
  assert.equal(p.payload.custom_details.last_status_code, 403);

  rx.setMode({ status: 200 });
  await publish(sluice, tenant, 'job.run', { n: 2 });
  await pdRx.waitFor(2, 15_000);
  await sleep(1_000);
  assert.equal(pdRx.count, 2, 'one trigger, one resolve');
  assert.deepEqual(JSON.parse(pdRx.requests[1].body), {
    routing_key: 'R0123456789abcdef0123456789abcde', event_action: 'resolve', dedup_key: p.dedup_key,
  });
  await slackRx.waitFor(2);
  assert.match(JSON.parse(slackRx.requests[1].body).text, /^:white_check_mark: Resolved:/);
  assert.equal(slackRx.count, 2);
});

test('auto-disable raises an alert (critical)', { timeout: 60_000 }, async () => {
  const tenant = await newTenant();
  const rx = await newReceiver();
  rx.setMode({ status: 500 });
  const channelRx = await newReceiver();
  await webhookChannel(tenant, channelRx);
  const dest = await failingWebhook(tenant, rx, { disable_after_failures: 2, alerts: ONLY('auto_disabled') });

  await publish(sluice, tenant, 'job.run', { n: 1 });
  await channelRx.waitFor(1, 15_000);
  await sleep(1_000);
  assert.equal(channelRx.count, 1);
  const alert = JSON.parse(channelRx.requests[0].body);
  assert.equal(alert.trigger, 'auto_disabled');
  assert.equal(alert.severity, 'critical');
  assert.equal(alert.destination.id, dest.id);
  assert.match(alert.summary, /disabled automatically after 2 consecutive failed attempts/);
  const view = await sluice.api('GET', `/v1/tenants/${tenant}/destinations/${dest.id}`);
  assert.equal(view.json.enabled, false);
});

test('a delivery that failed for good is told by default (event, attempts, error) to every channel; past the cap a storm becomes one summary', { timeout: 60_000 }, async () => {
  const tenant = await newTenant();
  const rx = await newReceiver();
  rx.setMode({ status: 500 });
  const channelRx = await newReceiver();
  const slackRx = await newReceiver();
  const channel = await webhookChannel(tenant, channelRx);
  await createDestination(tenant, { type: 'slack', topics: ['sluice.alert.*'], config: { url: slackRx.url } });
  // Every incident trigger off: what remains is the per-delivery trigger, at its defaults.
  const incidentsOff = { consecutive_failures: 0, failure_rate: { percent: 0 }, circuit_opened: false, auto_disabled: false, permanent_failure: false };
  const dest = await failingWebhook(tenant, rx, {
    retry: { max_retries: 1, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 },
    alerts: incidentsOff,
  });
  assert.deepEqual(dest.alerts.delivery_failed, { max_alerts: 3, window_ms: 600000 });

  const pub = await publish(sluice, tenant, 'job.run', { n: 1 }, { id: 'dropped-1' });
  await channelRx.waitFor(() => failedAbout(channelRx, dest.id).length >= 1, 15_000);
  const [req] = failedAbout(channelRx, dest.id);
  new Webhook(channel.signing_secret).verify(req.body, req.headers);
  assert.equal(req.headers['x-sluice-topic'], 'sluice.alert.triggered');
  const a = req.json;
  assert.equal(a.status, 'triggered');
  assert.equal(a.severity, 'error');
  assert.equal(a.tenant_id, tenant);
  assert.equal(a.destination.id, dest.id);
  assert.equal(a.error, 'gave up after 2 attempts: HTTP 500', 'the delivery\'s last error');
  assert.equal(a.last_status_code, 500);
  assert.match(a.summary, /: event dropped-1 failed for good after 2 attempts$/);
  const deliveryId = pub.deliveries[0].id;
  assert.deepEqual({ ...a.delivery, failed_at: undefined }, {
    event_id: 'dropped-1', delivery_id: deliveryId, attempts: 2, error: 'gave up after 2 attempts: HTTP 500', status_code: 500,
    failed_at: undefined, attempts_link: `/v1/tenants/${tenant}/destinations/${dest.id}/deliveries/${deliveryId}/attempts`,
  });
  assert.equal((await sluice.api('GET', a.delivery.attempts_link)).json.data.length, 2, 'the link lists its attempts');
  // The same alert through Slack, and to the operator.
  await slackRx.waitFor(1, 15_000);
  assert.match(JSON.parse(slackRx.requests[0].body).text, /event dropped-1 failed for good after 2 attempts/);
  await operatorRx.waitFor(() => failedAbout(operatorRx, dest.id).length >= 1, 15_000);

  // A storm at a destination capped at 1 alert per 3 s: each window gives one alert, and the
  // failures past it become one summary, told when the window is over (here by the next failure).
  const stormy = await failingWebhook(tenant, rx, {
    retry: { max_retries: 0 }, circuit_breaker: { failure_threshold: 50, cooldown_ms: 400 },
    alerts: { ...incidentsOff, delivery_failed: { max_alerts: 1, window_ms: 3000 } },
  });
  for (let i = 0; i < 6; i++) await publish(sluice, tenant, 'job.run', { storm: i });
  await eventually(async () => {
    const r = await sluice.api('GET', `/v1/tenants/${tenant}/destinations/${stormy.id}/deliveries?status=failed&limit=100`);
    return r.json.data.length === 6;
  }, 15_000, { what: '6 failed deliveries' });
  await sleep(3_200);
  await publish(sluice, tenant, 'job.run', { storm: 'after' });
  await channelRx.waitFor(() => failedAbout(channelRx, stormy.id).some((r) => r.json.suppressed), 15_000);
  await sleep(1_000);
  const told = failedAbout(channelRx, stormy.id);
  const byId = new Map(told.map((r) => [r.headers['webhook-id'], r.json]));
  const single = [...byId.values()].filter((x) => !x.suppressed);
  const summaries = [...byId.values()].filter((x) => x.suppressed);
  assert.equal(summaries.length, 1, JSON.stringify([...byId.values()].map((x) => x.summary)));
  const counted = summaries.reduce((n, x) => n + x.suppressed.count, 0);
  assert.equal(single.length + counted, 7, 'every failure is told, one by one or in the summary');
  assert.ok(single.length <= 3, `the cap held: ${single.length} single alerts`);
  assert.match(summaries[0].summary, /\d+ more deliveries failed for good since /);
  assert.equal(summaries[0].incident_id, single[0].incident_id, 'a window\'s alerts share one incident');
});

test('lifecycle events: auto-disabled, re-enabled and deleted reach the tenant\'s subscribers on sluice.destination.*', { timeout: 60_000 }, async () => {
  const tenant = await newTenant();
  const rx = await newReceiver();
  rx.setMode({ status: 500 });
  const lifeRx = await newReceiver();
  const listener = await createDestination(tenant, {
    type: 'webhook', name: 'lifecycle listener', topics: ['sluice.destination.*'], config: { url: lifeRx.url }, retry: FAST_RETRY,
  });
  const dest = await failingWebhook(tenant, rx, { disable_after_failures: 2, alerts: { enabled: false } });
  const about = (topic) => parsed(lifeRx).filter((r) => r.headers['x-sluice-topic'] === topic && r.json.destination.id === dest.id);

  await publish(sluice, tenant, 'job.run', { n: 1 });
  await lifeRx.waitFor(() => about('sluice.destination.auto_disabled').length >= 1, 15_000);
  const [off] = about('sluice.destination.auto_disabled');
  new Webhook(listener.signing_secret).verify(off.body, off.headers);
  assert.deepEqual({ ...off.json, at: undefined }, {
    change: 'auto_disabled', tenant_id: tenant,
    destination: { id: dest.id, name: 'Orders endpoint', type: 'webhook', target: rx.url },
    reason: 'disabled automatically after 2 consecutive failed attempts',
    at: undefined, link: `/v1/tenants/${tenant}/destinations/${dest.id}`,
  });
  assert.ok(Math.abs(Date.parse(off.json.at) - Date.now()) < 60_000, off.json.at);
  // The operator keeps it in its log too.
  const opEvent = await sluice.api('GET', `/v1/tenants/${OPERATOR}/events/${off.headers['webhook-id']}`);
  assert.equal(opEvent.status, 200, opEvent.text);
  assert.equal(opEvent.json.topic, 'sluice.destination.auto_disabled');

  rx.setMode({ status: 200 });
  assert.equal((await sluice.api('POST', `/v1/tenants/${tenant}/destinations/${dest.id}/enable`)).status, 200);
  await lifeRx.waitFor(() => about('sluice.destination.enabled').length >= 1, 15_000);
  const on = about('sluice.destination.enabled')[0].json;
  assert.equal(on.change, 'enabled');
  assert.equal(on.reason, 'disabled automatically after 2 consecutive failed attempts', 'why it had been off');
  // Enabling what is enabled changes nothing and tells nothing.
  assert.equal((await sluice.api('POST', `/v1/tenants/${tenant}/destinations/${dest.id}/enable`)).status, 200);

  assert.equal((await sluice.api('DELETE', `/v1/tenants/${tenant}/destinations/${dest.id}`)).status, 204);
  await lifeRx.waitFor(() => about('sluice.destination.deleted').length >= 1, 15_000);
  assert.equal(about('sluice.destination.deleted')[0].json.change, 'deleted');
  await sleep(500);
  assert.equal(new Set(about('sluice.destination.enabled').map((r) => r.headers['webhook-id'])).size, 1);
  // Subscribing takes the topic by name: a '*' destination does not get them.
  const log = await sluice.api('GET', `/v1/tenants/${tenant}/events?topic=sluice.destination.deleted`);
  assert.equal(log.json.data.length, 1, log.text);
});

test('a tenant without an alert channel: its log stays its own, the operator still gets and keeps the alert', { timeout: 60_000 }, async () => {
  const tenant = await newTenant();
  const rx = await newReceiver();
  rx.setMode({ status: 403 });
  const dest = await failingWebhook(tenant, rx, { alerts: ONLY('permanent_failure') });
  const pub = await publish(sluice, tenant, 'job.run', { n: 1 });
  await operatorRx.waitFor(() => alertsAbout(operatorRx, dest.id, 'sluice.alert.triggered').length >= 1, 15_000);
  const eventId = alertsAbout(operatorRx, dest.id, 'sluice.alert.triggered')[0].headers['webhook-id'];
  const opLog = await sluice.api('GET', `/v1/tenants/${OPERATOR}/events/${eventId}`);
  assert.equal(opLog.status, 200, opLog.text);
  assert.equal(opLog.json.data.tenant_id, tenant);
  await sleep(500);
  const log = await sluice.api('GET', `/v1/tenants/${tenant}/events?limit=100`);
  assert.deepEqual(log.json.data.map((e) => e.id), [pub.id]);
});

test('an alert channel that fails itself alerts the operator only: no loop', { timeout: 60_000 }, async () => {
  const tenant = await newTenant();
  const rx = await newReceiver();
  rx.setMode({ status: 500 });
  const channelRx = await newReceiver();
  channelRx.setMode({ status: 500 });
  const channel = await webhookChannel(tenant, channelRx, { circuit_breaker: FAST_BREAKER, alerts: ONLY('consecutive_failures') });
  const dest = await failingWebhook(tenant, rx, { alerts: ONLY('consecutive_failures') });

  await publish(sluice, tenant, 'job.run', { n: 1 });
  // The channel fails its alert (4 attempts): its own incident goes to the operator.
  await operatorRx.waitFor(() => alertsAbout(operatorRx, channel.id, 'sluice.alert.triggered').length >= 1, 15_000);
  await sleep(2_000);
  const atChannel = parsed(channelRx);
  assert.ok(atChannel.length >= 1);
  assert.deepEqual([...new Set(atChannel.map((r) => r.json.destination.id))], [dest.id], 'the channel only ever got the other destination\'s alert');
  assert.equal(distinct(atChannel).length, 1, 'one alert event, retried');
  const log = await sluice.api('GET', `/v1/tenants/${tenant}/events?topic=sluice.alert.triggered`);
  assert.equal(log.json.data.length, 1, `only the destination's alert is in the tenant's log: ${log.text}`);
  const opAlert = alertsAbout(operatorRx, channel.id, 'sluice.alert.triggered')[0].json;
  assert.equal(opAlert.tenant_id, tenant);
  assert.equal(opAlert.trigger, 'consecutive_failures');
});

test('alert settings: defaults shown, patched, checked; alert topics and the operator tenant are reserved', { timeout: 60_000 }, async () => {
  const tenant = await newTenant();
  const rx = await newReceiver();
  const dest = await failingWebhook(tenant, rx);
  assert.deepEqual(dest.alerts, {
    enabled: true, consecutive_failures: 10,
    failure_rate: { percent: 50, window_ms: 600000, min_attempts: 20 },
    circuit_opened: true, auto_disabled: true, permanent_failure: true,
    delivery_failed: { max_alerts: 3, window_ms: 600000 },
  });
  const base = `/v1/tenants/${tenant}/destinations/${dest.id}`;
  const patched = await sluice.api('PATCH', base, { alerts: { consecutive_failures: 3, failure_rate: { percent: 80 } } });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.json.alerts.consecutive_failures, 3);
  assert.deepEqual(patched.json.alerts.failure_rate, { percent: 80, window_ms: 600000, min_attempts: 20 });
  assert.equal(patched.json.alerts.circuit_opened, true);
  const bad = await sluice.api('PATCH', base, { alerts: { failure_rate: { percent: 101 } } });
  checkProblem(bad, 422, 'validation', 'percent over 100');
  assert.equal(bad.json.errors[0].field, 'alerts.failure_rate.percent');
  const cap = await sluice.api('PATCH', base, { alerts: { delivery_failed: { window_ms: 10 } } });
  checkProblem(cap, 422, 'validation', 'delivery_failed window too short');
  assert.equal(cap.json.errors[0].field, 'alerts.delivery_failed.window_ms');
  const unknown = await sluice.api('PATCH', base, { alerts: { nope: true } });
  checkProblem(unknown, 422, 'validation', 'unknown alerts field');
  assert.equal(unknown.json.errors[0].field, 'alerts.nope');

  const spoof = await sluice.api('POST', '/v1/publish', { tenant_id: tenant, topic: 'sluice.alert.triggered', data: {} });
  checkProblem(spoof, 422, 'validation', 'alert topics are reserved');
  assert.equal(spoof.json.errors[0].field, 'topic');
  checkProblem(await sluice.api('DELETE', `/v1/tenants/${OPERATOR}`), 409, 'conflict', 'the operator tenant stays');
  checkProblem(await sluice.api('POST', '/v1/tenants', { id: OPERATOR }), 409, 'conflict', 'the operator tenant exists');

  // Email only where the deployment has a send_email binding (this one has none).
  const email = await sluice.api('POST', `/v1/tenants/${tenant}/destinations`, {
    type: 'email', topics: ['sluice.alert.*'], config: { from: 'alerts@sluice.example.com', to: ['ops@acme.example'] },
  });
  checkProblem(email, 422, 'validation', 'no EMAIL binding');
  assert.equal(email.json.errors[0].field, 'type');
  assert.match(email.json.errors[0].message, /send_email/);
});

test('email: with a send_email binding, alerts go out as email (wrangler\'s local binding records them)', { timeout: 120_000 }, async () => {
  // The same Worker with `[[send_email]] name = "EMAIL"`: a config beside wrangler.toml, so
  // that main, migrations and .dev.vars resolve as usual.
  const config = path.join(REPO_ROOT, 'wrangler.alerts-email.toml');
  fs.writeFileSync(config, fs.readFileSync(path.join(REPO_ROOT, 'wrangler.toml'), 'utf8') + '\n[[send_email]]\nname = "EMAIL"\n');
  let mail;
  try {
    mail = await startSluice({ name: 'alerts-email', config });
  } finally {
    fs.rmSync(config, { force: true });
  }
  try {
    const id = uniqueId('alerts');
    assert.equal((await mail.api('POST', '/v1/tenants', { id })).status, 201);
    const rx = await newReceiver();
    rx.setMode({ status: 500 });
    const channel = await mail.api('POST', `/v1/tenants/${id}/destinations`, {
      type: 'email', topics: ['sluice.alert.*'],
      config: { from: 'alerts@sluice.example.com', to: ['ops@acme.example', 'oncall@acme.example'] },
    });
    assert.equal(channel.status, 201, channel.text);
    const bad = await mail.api('POST', `/v1/tenants/${id}/destinations`, {
      type: 'email', topics: ['sluice.alert.*'], config: { from: 'Ops <ops@acme.example>', to: [] },
    });
    checkProblem(bad, 422, 'validation', 'bad addresses');
    assert.deepEqual(bad.json.errors.map((e) => e.field).sort(), ['config.from', 'config.to']);
    const dest = await mail.api('POST', `/v1/tenants/${id}/destinations`, {
      type: 'webhook', name: 'Orders endpoint', topics: ['job.*'], config: { url: rx.url },
      retry: FAST_RETRY, circuit_breaker: FAST_BREAKER, disable_after_failures: 0, alerts: ONLY('consecutive_failures'),
    });
    assert.equal(dest.status, 201, dest.text);
    await mail.api('POST', '/v1/publish', { tenant_id: id, topic: 'job.run', data: { n: 1 } });

    const sent = /send_email binding called with MessageBuilder:[^\n]*\nFrom: (.*)\nTo: (.*)\nSubject: (.*)\n\nText: (\S+)/;
    const m = await eventually(() => mail.log.match(sent), 20_000, { what: 'an email through the binding' });
    assert.equal(m[1], 'alerts@sluice.example.com');
    assert.equal(m[2], 'ops@acme.example, oncall@acme.example');
    assert.equal(m[3], `[Sluice] alert: consecutive failures: Orders endpoint (webhook) of tenant ${id}`);
    const text = fs.readFileSync(m[4], 'utf8');
    assert.match(text, new RegExp(`^Destination 'Orders endpoint' \\(webhook, ${dest.json.id}\\) of tenant ${id}: 3 consecutive failed attempts\n`));
    assert.match(text, /\nLast status: 500\n/);
    assert.match(text, /\nError: HTTP 500\n/);
    assert.match(text, new RegExp(`\nInspect: /v1/tenants/${id}/destinations/${dest.json.id}/deliveries\\?status=failed\n`));
    // The email channel's delivery is recorded like any other.
    const deliveries = await mail.api('GET', `/v1/tenants/${id}/destinations/${channel.json.id}/deliveries?status=delivered`);
    assert.equal(deliveries.json.data.length, 1, deliveries.text);
  } finally {
    await mail.dispose();
  }
});
