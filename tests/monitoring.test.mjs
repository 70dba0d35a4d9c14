// Monitoring: GET /metrics (Prometheus text, admin key only), GET …/destinations/{id}/stats,
// request headers on attempts with credentials masked, and structured state-change logs.
// One `wrangler dev` for the file.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startReceiver, sleep } from './helpers/receiver.mjs';
import { startSluice, createWebhook, publish, eventually, checkProblem } from './helpers/sluice.mjs';

let sluice;
const receivers = [];

async function newReceiver() {
  const rx = await startReceiver();
  receivers.push(rx);
  return rx;
}

before(async () => {
  sluice = await startSluice({ name: 'monitoring' });
}, { timeout: 120_000 });

after(async () => {
  for (const rx of receivers) await rx.close();
  if (sluice) await sluice.dispose();
});

const FAST = { max_retries: 3, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 };
const BEARER = 'bearer-s3cret-token-for-monitoring';
const CUSTOM = 'custom-header-secret-value';

/** GET /metrics as text, with the admin key. */
async function metrics() {
  const r = await sluice.api('GET', '/metrics');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return r.text;
}

/** The value of one sample line, by metric name and label subset. */
function sample(text, name, labels) {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = line.match(/^([a-z_]+)\{(.*)\} (\S+)$/);
    if (!m || m[1] !== name) continue;
    const have = m[2].split(/,(?=[a-z_]+=")/);
    if (want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return undefined;
}

async function deliveries(base) {
  const r = await sluice.api('GET', `${base}/deliveries?limit=100`);
  assert.equal(r.status, 200, r.text);
  return r.json.data;
}

async function waitStatus(base, id, status) {
  return eventually(async () => {
    const d = (await deliveries(base)).find((x) => x.id === id);
    return d?.status === status ? d : null;
  }, 15_000, { what: `delivery ${id} ${status}` });
}

async function attempts(base, id) {
  const r = await sluice.api('GET', `${base}/deliveries/${id}/attempts`);
  assert.equal(r.status, 200, r.text);
  return r.json.data;
}

// Shared by the tests below: one destination with a history of every kind.
let w;
let rx;
const history = []; // every attempt of w's deliveries

test('counters, histogram, queue depth and circuit state in /metrics; admin key required', { timeout: 90_000 }, async () => {
  rx = await newReceiver();
  w = await createWebhook(sluice, rx, {
    retry: FAST,
    auth: { type: 'bearer', token: BEARER },
    headers: { 'x-team': CUSTOM },
  });
  // Filters are set by a PATCH (createWebhook takes no filter).
  const patched = await sluice.api('PATCH', w.base, { filter: { data: { keep: true } } });
  assert.equal(patched.status, 200, patched.text);

  // 1: two 503s, then delivered (2 retried, 1 delivered).
  rx.failNext(2, 503);
  const a = await publish(sluice, w.tenantId, 'mon.a', { keep: true, n: 1 });
  await waitStatus(w.base, a.deliveries[0].id, 'delivered');
  // 2: delivered slowly (for the latency percentiles).
  rx.setMode({ status: 200, delayMs: 300 });
  const b = await publish(sluice, w.tenantId, 'mon.b', { keep: true, n: 2 });
  await waitStatus(w.base, b.deliveries[0].id, 'delivered');
  // 3: filtered out, never sent.
  const c = await publish(sluice, w.tenantId, 'mon.c', { keep: false, n: 3 });
  assert.equal(c.deliveries[0].status, 'filtered');
  // 4: a 400 fails it at once.
  rx.setMode({ status: 400 });
  const d = await publish(sluice, w.tenantId, 'mon.d', { keep: true, n: 4 });
  await waitStatus(w.base, d.deliveries[0].id, 'failed');
  // 5: the destination disabled: skipped.
  assert.equal((await sluice.api('POST', `${w.base}/disable`)).status, 200);
  const e = await publish(sluice, w.tenantId, 'mon.e', { keep: true, n: 5 });
  assert.equal(e.deliveries[0].status, 'skipped');
  for (const p of [a, b, d]) history.push(...(await attempts(w.base, p.deliveries[0].id)));
  assert.equal(history.length, 5);

  const labels = { tenant_id: w.tenantId, destination_id: w.destinationId, type: 'webhook' };
  const text = await metrics();
  assert.equal(sample(text, 'sluice_deliveries_delivered_total', labels), 2);
  assert.equal(sample(text, 'sluice_deliveries_retried_total', labels), 2);
  assert.equal(sample(text, 'sluice_deliveries_failed_total', labels), 1);
  assert.equal(sample(text, 'sluice_deliveries_filtered_total', labels), 1);
  assert.equal(sample(text, 'sluice_deliveries_skipped_total', labels), 1);
  assert.equal(sample(text, 'sluice_destination_enabled', labels), 0);
  // The histogram: 5 attempts; exactly one slower than 250 ms (the 300 ms one).
  assert.equal(sample(text, 'sluice_attempt_duration_seconds_count', labels), 5);
  assert.equal(sample(text, 'sluice_attempt_duration_seconds_bucket', { ...labels, le: '+Inf' }), 5);
  assert.equal(sample(text, 'sluice_attempt_duration_seconds_bucket', { ...labels, le: '0.25' }), 4);
  const sum = sample(text, 'sluice_attempt_duration_seconds_sum', labels);
  const recorded = history.reduce((s, x) => s + x.duration_ms, 0) / 1000;
  assert.ok(Math.abs(sum - recorded) < 1e-9, `sum ${sum} = recorded durations ${recorded}`);
  assert.ok(sum >= 0.3, `sum ${sum} includes the slow attempt`);
  for (const family of ['sluice_deliveries_delivered_total counter', 'sluice_queue_depth gauge',
    'sluice_circuit_state gauge', 'sluice_attempt_duration_seconds histogram']) {
    assert.ok(text.includes(`# TYPE ${family}\n`), family);
    assert.ok(text.includes(`# HELP ${family.split(' ')[0]} `), family);
  }
  assert.equal(sample(text, 'sluice_circuit_state', { ...labels, state: 'closed' }), 1);
  assert.equal(sample(text, 'sluice_queue_depth', labels), 0);

  // A destination whose circuit opens after one failure, with a long cooldown: deliveries
  // published meanwhile wait in its queue, and /metrics shows both.
  const down = await newReceiver();
  down.setMode({ status: 503 });
  const o = await createWebhook(sluice, down, {
    retry: FAST,
    circuit_breaker: { failure_threshold: 1, cooldown_ms: 600_000 },
  });
  const oLabels = { tenant_id: o.tenantId, destination_id: o.destinationId, type: 'webhook' };
  await publish(sluice, o.tenantId, 'mon.open', { n: 1 });
  await down.waitFor(1);
  await eventually(async () => sample(await metrics(), 'sluice_circuit_state', { ...oLabels, state: 'open' }) === 1,
    10_000, { what: 'circuit open in /metrics' });
  await publish(sluice, o.tenantId, 'mon.open', { n: 2 });
  await publish(sluice, o.tenantId, 'mon.open', { n: 3 });
  const open = await eventually(async () => {
    const t = await metrics();
    return sample(t, 'sluice_queue_depth', oLabels) === 3 ? t : null;
  }, 10_000, { what: 'queue depth 3 in /metrics' });
  assert.equal(sample(open, 'sluice_circuit_state', { ...oLabels, state: 'closed' }), 0);
  assert.equal(sample(open, 'sluice_deliveries_retried_total', oLabels), 1);
  assert.equal(down.count, 1, 'nothing more sent while the circuit is open');
  const status = await sluice.api('GET', `${o.base}/status`);
  assert.equal(status.json.queue_depth, 3, 'the same depth as the scheduler itself reports');

  // The admin key only.
  checkProblem(await sluice.api('GET', '/metrics', undefined, { key: null }), 401, 'unauthorized');
  checkProblem(await sluice.api('GET', '/metrics', undefined, { key: 'wrong' }), 401, 'unauthorized');
});

test('stats: counts in the right interval, percentiles, 404 for another tenant, 422 for a bad window', { timeout: 30_000 }, async () => {
  assert.ok(w, 'needs the first test');
  const r = await sluice.api('GET', `${w.base}/stats?window=1h`);
  assert.equal(r.status, 200, r.text);
  const s = r.json;
  assert.equal(s.window, '1h');
  assert.equal(s.interval, '5m');
  assert.equal(s.points.length, 12);
  const from = Date.parse(s.from);
  assert.equal(Date.parse(s.to) - from, 3_600_000);
  assert.ok(Date.parse(s.to) > Date.now() - 60_000);
  // Expected per interval from the recorded attempts' start times.
  const expected = s.points.map(() => ({ delivered: 0, failed: 0, retried: 0 }));
  for (const a of history) {
    const i = Math.floor((Date.parse(a.started_at) - from) / 300_000);
    const key = a.outcome === 'retry' ? 'retried' : a.outcome;
    expected[i][key] += 1;
  }
  assert.deepEqual(s.points.map(({ delivered, failed, retried }) => ({ delivered, failed, retried })), expected);
  assert.deepEqual([s.total.delivered, s.total.failed, s.total.retried], [2, 1, 2]);
  // Percentiles: 4 quick attempts and one over 300 ms.
  const l = s.total.latency_ms;
  assert.equal(l.count, 5);
  assert.ok(l.p50 > 0 && l.p50 < 250, `p50 ${l.p50}`);
  assert.ok(l.p99 > 250 && l.p99 <= 500, `p99 ${l.p99}`);
  assert.ok(l.p50 <= l.p90 && l.p90 <= l.p99, JSON.stringify(l));
  for (const p of s.points) {
    if (p.delivered + p.failed + p.retried === 0) assert.equal(p.latency_ms, null);
  }
  // Other windows pick other intervals.
  const day = await sluice.api('GET', `${w.base}/stats?window=24h`);
  assert.equal(day.status, 200, day.text);
  assert.equal(day.json.interval, '1h');
  assert.equal(day.json.points.length, 24);
  assert.deepEqual([day.json.total.delivered, day.json.total.failed], [2, 1]);

  // Another tenant's destination: 404, whichever tenant path asks.
  const other = await createWebhook(sluice, await newReceiver());
  checkProblem(await sluice.api('GET', `/v1/tenants/${other.tenantId}/destinations/${w.destinationId}/stats`), 404, 'not-found');
  checkProblem(await sluice.api('GET', `/v1/tenants/${w.tenantId}/destinations/${other.destinationId}/stats`), 404, 'not-found');
  // Bad windows: 422 naming the field.
  for (const bad of ['2w', '8d', 'abc', '0h', '']) {
    const b = await sluice.api('GET', `${w.base}/stats?window=${bad}`);
    checkProblem(b, 422, 'validation', `window=${bad}`);
    assert.equal(b.json.errors[0].field, 'window');
  }
  checkProblem(await sluice.api('GET', `${w.base}/stats`, undefined, { key: null }), 401, 'unauthorized');
});

test('attempts show their request headers with credentials masked, in the attempt list and the event detail', { timeout: 30_000 }, async () => {
  assert.ok(history.length, 'needs the first test');
  // The receiver got the real values.
  const got = rx.requests[0].headers;
  assert.equal(got.authorization, `Bearer ${BEARER}`);
  assert.equal(got['x-team'], CUSTOM);
  assert.match(got['webhook-signature'], /^v1,/);

  const h = history[0].request_headers;
  assert.equal(h.authorization, '********');
  assert.equal(h['webhook-signature'], '********');
  assert.equal(h['x-team'], '********', 'custom header values are treated as secrets');
  assert.equal(h['content-type'], 'application/json');
  assert.equal(h['x-sluice-topic'], 'mon.a');
  assert.equal(h['x-sluice-attempt'], '1');
  assert.equal(h['webhook-id'], got['webhook-id']);
  assert.match(h['webhook-timestamp'], /^\d+$/);
  assert.equal(history[1].request_headers['x-sluice-attempt'], '2');
  const text = JSON.stringify(history);
  assert.ok(!text.includes(BEARER) && !text.includes(CUSTOM) && !text.includes(got['webhook-signature']));

  const eventId = rx.requests[0].headers['webhook-id'];
  const ev = await sluice.api('GET', `/v1/tenants/${w.tenantId}/events/${eventId}`);
  assert.equal(ev.status, 200, ev.text);
  const shown = ev.json.deliveries[0].history;
  assert.equal(shown.length, 3);
  assert.equal(shown[0].request_headers.authorization, '********');
  assert.equal(shown[2].request_headers['x-sluice-attempt'], '3');
});

test('state changes are logged as JSON lines without secrets', { timeout: 30_000 }, async () => {
  assert.ok(w, 'needs the first test');
  assert.equal((await sluice.api('POST', `${w.base}/enable`)).status, 200);
  rx.setMode({ status: 200 });
  const failed = (await deliveries(w.base)).find((d) => d.status === 'failed');
  const retry = await sluice.api('POST', `${w.base}/deliveries/${failed.id}/retry`);
  assert.equal(retry.status, 202, retry.text);
  await waitStatus(w.base, failed.id, 'delivered');

  const lines = await eventually(() => {
    const found = sluice.log.split('\n')
      .map((l) => l.slice(l.indexOf('{')))
      .filter((l) => l.startsWith('{"'))
      .map((l) => { try { return JSON.parse(l); } catch { return null; } })
      .filter((j) => j && j.event && j.tenant_id === w.tenantId);
    return found.some((j) => j.event === 'manual_retry_requested') ? found : null;
  }, 10_000, { what: 'a manual_retry_requested log line' });
  const events = lines.map((j) => j.event);
  for (const e of ['destination_created', 'destination_updated', 'destination_disabled', 'destination_enabled', 'manual_retry_requested']) {
    assert.ok(events.includes(e), `${e} in ${events}`);
  }
  const manual = lines.find((j) => j.event === 'manual_retry_requested');
  assert.equal(manual.destination_id, w.destinationId);
  assert.equal(manual.delivery_id, failed.id);
  assert.equal(manual.scope, 'delivery');
  assert.equal(manual.requested_by, 'admin');
  // The circuit of the other destination opened: logged by its scheduler.
  assert.ok(sluice.log.includes('"event":"circuit_changed"'));
  // No secret anywhere in the log.
  for (const secret of [BEARER, CUSTOM, w.secret]) assert.ok(!sluice.log.includes(secret), 'a secret in the log');
  await sleep(0);
});
