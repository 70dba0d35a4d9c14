// Sluice's benchmark harness: `bash bench/run.sh` (full, ~3–4 minutes, writes bench/README.md)
// or `bash bench/run.sh --smoke` (~10 s, tiny numbers, asserts only that the harness works).
//
// Starts Sluice on local workerd (Miniflare's API: one workerd, no dev proxy; persisted state
// in a temp folder; the counting entry bench/entry.mjs), a fast receiver and the backends' stand-ins, all on
// 127.0.0.1, and measures what bench/README.md lists. Nothing here is a test of speed: the
// figures are printed and written down, never asserted.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import { ADMIN_KEY, REPO_ROOT, eventually, startSluice } from '../tests/helpers/sluice.mjs';
import {
  agent, closedLoop, openConnections, cpuSeconds, cpuTotal, fmt, now, openLoop, ORDER, percentile, post, sleep, startCountingProxy,
  startFastReceiver,
} from './lib.mjs';

const SMOKE = process.argv.includes('--smoke');
// --only=publish,e2e,backlog,lanes,types,filter: a part of the full run, for working on the harness (does
// not write bench/README.md).
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',') ?? null;
const part = (name) => !ONLY || ONLY.includes(name);
const P = SMOKE
  ? { baselineMs: 1000, publishMs: 1000, publishConcurrency: [1, 16], e2eMs: 2000, warmMs: 300,
      window: 16, e2eCases: [{ fanout: 1, mif: 1 }], drainMs: 15_000 }
  : { baselineMs: 4000, publishMs: 3000, publishConcurrency: [1, 16, 64], e2eMs: 5000, warmMs: 1000,
      window: 16, e2eCases: [{ fanout: 1, mif: 1 }, { fanout: 1, mif: 8 }, { fanout: 10, mif: 1 }, { fanout: 10, mif: 8 }],
      drainMs: 60_000, paced: 10, burst: 100, rateMs: 3000, rate: 1000,
      lanes: [1, 2, 4, 8], lanesPerLane: 150, lanesDelayMs: 100, backlog: 3000 };

const TOPIC = 'order.created';
// The payload every event carries (~1 KiB): the receiver gets exactly these bytes.
const DATA = ORDER;
const DATA_TEXT = JSON.stringify(DATA);
const log = (...a) => console.error('[bench]', ...a);

let run = 0;
let publishRetries = 0; // dropped connections sent again (see publisher)
const eventId = (prefix, i) => `${prefix}-${run}-${i}`;

/** Publishing through a keep-alive agent; throws unless 202. */
function publisher(sluice, sockets, a = agent(sockets)) {
  const url = `${sluice.url}/v1/publish`;
  const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  // Publishing is idempotent on the id: a dropped connection is sent again, as a producer
  // would.
  return async (tenantId, id, data = DATA) => {
    const body = JSON.stringify({ tenant_id: tenantId, topic: TOPIC, id, data });
    for (let attempt = 1; ; attempt++) {
      let r;
      try {
        r = await post(a, url, headers, body);
      } catch (err) {
        // A kept-alive connection closed by the other side as it was reused ("socket hang up").
        if (attempt === 5) throw err;
        publishRetries += 1;
        await sleep(200 * attempt);
        continue;
      }
      if (r.status === 202) return;
      throw new Error(`publish -> ${r.status}: ${r.body.slice(0, 300)}`);
    }
  };
}

async function counters(sluice) {
  return (await sluice.apiOk('GET', '/__bench/counters')).json;
}

/** Counters once they stop moving (the schedulers record attempts in the log shards a bit later). */
async function settledCounters(sluice, quietMs = 400, maxMs = 5000) {
  const until = now() + maxMs;
  let last = JSON.stringify(await counters(sluice));
  for (;;) {
    await sleep(quietMs);
    const c = await counters(sluice);
    const s = JSON.stringify(c);
    if (s === last || now() > until) return c;
    last = s;
  }
}

let restarts = 0; // measured steps whose counters span an isolate restart

function diff(a, b) {
  if (a.boot !== b.boot) {
    // The isolate started again in between: its counters began from zero. Not measured.
    restarts += 1;
    return { d1: NaN, d1Calls: NaN, d1Reads: NaN, d1Writes: NaN, doSql: NaN, doRequests: NaN, fetch: NaN };
  }
  return {
    d1: b.d1.statements - a.d1.statements, d1Calls: b.d1.calls - a.d1.calls,
    d1Reads: b.d1.reads - a.d1.reads, d1Writes: b.d1.writes - a.d1.writes,
    doSql: b.do_sql.statements - a.do_sql.statements, fetch: b.fetch.total - a.fetch.total,
    doRequests: (b.do_requests?.total ?? 0) - (a.do_requests?.total ?? 0),
  };
}

/** A setup call; throws unless it succeeded. */
async function setup(sluice, method, urlPath, body) {
  const r = await sluice.api(method, urlPath, body);
  if (r.status >= 300) throw new Error(`${method} ${urlPath} -> ${r.status}: ${r.text}`);
  return r;
}

async function tenantWith(sluice, destinations) {
  run += 1;
  const tenantId = `bench-${process.pid}-${run}`;
  await setup(sluice, 'POST', '/v1/tenants', { id: tenantId });
  const ids = [];
  const base = `/v1/tenants/${tenantId}/destinations`;
  for (const d of destinations) {
    const r = await setup(sluice, 'POST', base, d);
    ids.push(r.json.id);
  }
  return { tenantId, ids };
}

const webhook = (url, mif = 1) => ({ type: 'webhook', config: { url }, max_in_flight: mif });

// ---------------------------------------------------------------------------------------

async function baseline(rx) {
  rx.reset();
  const a = agent(P.window);
  const sent = new Map();
  run += 1;
  const r = await closedLoop({
    concurrency: P.window, durationMs: P.baselineMs,
    send: async (i) => {
      const id = eventId('base', i);
      sent.set(id, now());
      const res = await post(a, rx.url, { 'content-type': 'application/json', 'webhook-id': id }, DATA_TEXT);
      if (res.status !== 200) throw new Error(`receiver -> ${res.status}`);
    },
  });
  a.destroy();
  const lat = [];
  for (const [id, t0] of sent) for (const t of rx.arrivals.get(id) ?? []) lat.push(t - t0);
  return { rate: (r.count / r.elapsedMs) * 1000, count: r.count, p50: percentile(lat, 50), p95: percentile(lat, 95), p99: percentile(lat, 99) };
}

/** The floor: CPU per request of `GET /healthz` (no D1, no Durable Object) through the same path. */
async function healthFloor(sluice, root) {
  const a = agent(P.window);
  const u = new URL(`${sluice.url}/healthz`);
  const get = () => new Promise((resolve, reject) => {
    http.get({ agent: a, host: u.hostname, port: u.port, path: u.pathname }, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
  const cpu0 = cpuSeconds(root);
  const r = await closedLoop({ concurrency: P.window, durationMs: P.baselineMs, send: get });
  const cpu1 = cpuSeconds(root);
  a.destroy();
  return { rate: (r.count / r.elapsedMs) * 1000, p50: percentile(r.latencies, 50),
    workerdMs: ((cpu1.workerd - cpu0.workerd) / r.count) * 1000,
    otherMs: ((cpu1.other - cpu0.other) / r.count) * 1000 };
}

async function waitArrivals(rx, n, timeoutMs) {
  const until = now() + timeoutMs;
  while (rx.total < n && now() < until) await sleep(20);
  return rx.total;
}

async function publishThroughput(sluice, rx) {
  const out = [];
  for (const c of P.publishConcurrency) {
    rx.reset();
    const t = await tenantWith(sluice, [webhook(rx.url, 8)]);
    const a = agent(c);
    await openConnections(a, sluice.url, c);
    const pub = publisher(sluice, c, a);
    // Warm-up at the same concurrency, not counted (as the end-to-end cases have): the tenant's
    // routing cached, its bucket registered, its shards, its 64 index objects and its
    // scheduler made, each on its first message (in local workerd, a new SQLite file on the
    // one thread that runs everything). Counted, that start made the p99 at 64 publishers
    // (bench/README.md, "The publish tail: new connections, new objects").
    const warm = await closedLoop({ concurrency: c, durationMs: P.warmMs, send: (i) => pub(t.tenantId, eventId('pub-warm', i)) });
    await waitArrivals(rx, warm.count, P.drainMs);
    rx.reset();
    const r = await closedLoop({ concurrency: c, durationMs: P.publishMs, send: (i) => pub(t.tenantId, eventId('pub', i)) });
    const arrived = await waitArrivals(rx, r.count, P.drainMs);
    out.push({ concurrency: c, rate: (r.count / r.elapsedMs) * 1000, count: r.count, arrived, errors: r.errors,
      firstError: r.firstError?.message?.slice(0, 200),
      p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99) });
    log(`publish c=${c}: ${fmt(out.at(-1).rate)}/s, ${r.count} accepted, ${arrived} delivered`);
  }
  return out;
}

/**
 * Publishing at 16 publishers three ways, back to back, each to a tenant with one webhook
 * destination: one event a request with the publisher's id (as above), one event a request
 * without an id (the id is Sluice's, so no index object is called), and batches of 100 events
 * with ids (`POST /v1/publish/batch`). Rates are events accepted per second; the deliveries
 * they trigger drain in between (not counted).
 */
async function publishWays(sluice, rx) {
  const c = 16;
  const size = 100;
  const a = agent(c);
  const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  const single = (t, id) => JSON.stringify({ tenant_id: t, topic: TOPIC, ...(id ? { id } : {}), data: DATA });
  const ways = [
    { name: 'one event a request, with an id', path: '/v1/publish', events: 1, body: (t, i) => single(t, eventId('way-id', i)) },
    { name: 'one event a request, without an id', path: '/v1/publish', events: 1, body: (t) => single(t, null) },
    { name: `batches of ${size} events, with ids`, path: '/v1/publish/batch', events: size,
      body: (t, i) => JSON.stringify({ events: Array.from({ length: size }, (_, k) => ({
        tenant_id: t, topic: TOPIC, id: eventId(`way-b${i}`, k), data: DATA })) }) },
  ];
  const out = [];
  for (const way of ways) {
    rx.reset();
    const t = await tenantWith(sluice, [webhook(rx.url, 8)]);
    await openConnections(a, sluice.url, c);
    // Warm-up, not counted, as in publishThroughput (its ids apart from the counted ones).
    const warm = await closedLoop({ concurrency: c, durationMs: P.warmMs,
      send: (i) => post(a, `${sluice.url}${way.path}`, headers, way.body(t.tenantId, 1_000_000 + i)) });
    const warmEvents = warm.count * way.events;
    await waitArrivals(rx, warmEvents, P.drainMs);
    rx.reset();
    let accepted = 0;
    const r = await closedLoop({ concurrency: c, durationMs: P.publishMs, send: async (i) => {
      const res = await post(a, `${sluice.url}${way.path}`, headers, way.body(t.tenantId, i));
      if (way.events === 1) {
        if (res.status !== 202) throw new Error(`publish -> ${res.status}: ${res.body.slice(0, 200)}`);
        accepted += 1;
      } else {
        if (res.status !== 200) throw new Error(`batch -> ${res.status}: ${res.body.slice(0, 200)}`);
        accepted += JSON.parse(res.body).accepted;
      }
    } });
    const arrived = await waitArrivals(rx, accepted, P.drainMs);
    out.push({ name: way.name, requests: r.count, events: accepted, rate: (accepted / r.elapsedMs) * 1000,
      p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99), arrived, errors: r.errors,
      firstError: r.firstError?.message?.slice(0, 200) });
    log(`publish ${way.name}: ${fmt(out.at(-1).rate)} events/s, ${accepted} accepted, ${arrived} delivered`);
  }
  return out;
}

/**
 * End to end, closed loop: `window` publishers, each publishes one event and waits until all
 * its `fanout` deliveries arrived before the next. Throughput counts arrivals after warm-up.
 */
async function endToEnd(sluice, rx, root, { fanout, mif }) {
  const t = await tenantWith(sluice, Array.from({ length: fanout }, () => webhook(rx.url, mif)));
  const pub = publisher(sluice, P.window);
  rx.reset();
  const started = new Map(); // id -> t0
  const waiters = new Map(); // id -> resolve
  rx.onArrival = (id) => {
    const list = rx.arrivals.get(id);
    if (list.length >= fanout) waiters.get(id)?.();
  };
  const c0 = await settledCounters(sluice);
  const cpu0 = cpuSeconds(root);
  const publishLat = [];
  let lost = 0;
  const start = now();
  const r = await closedLoop({
    concurrency: P.window, durationMs: P.e2eMs,
    send: async (i) => {
      const id = eventId('e2e', i);
      const arrived = new Promise((resolve) => waiters.set(id, resolve));
      const t0 = now();
      started.set(id, t0);
      try {
        await pub(t.tenantId, id);
      } catch (err) {
        started.delete(id); // not accepted: not expected at the receiver
        waiters.delete(id);
        throw err;
      }
      publishLat.push(now() - t0);
      const timedOut = await Promise.race([arrived.then(() => false), sleep(30_000).then(() => true)]);
      waiters.delete(id);
      if (timedOut) lost += 1;
    },
  });
  const end = now();
  rx.onArrival = null;
  const cpu1 = cpuSeconds(root);
  const c1 = await settledCounters(sluice);
  const lat = [];
  let inWindow = 0;
  let deliveries = 0;
  for (const [id, t0] of started) {
    for (const at of rx.arrivals.get(id) ?? []) {
      lat.push(at - t0);
      deliveries += 1;
      if (at >= start + P.warmMs && at <= end) inWindow += 1;
    }
  }
  const events = started.size;
  const d = diff(c0, c1);
  const cpu = cpuTotal(cpu1) - cpuTotal(cpu0);
  return {
    fanout, mif, events, deliveries, expected: events * fanout, lost, errors: r.errors, firstError: r.firstError?.message?.slice(0, 200),
    deliveriesPerSec: (inWindow / (end - start - P.warmMs)) * 1000,
    p50: percentile(lat, 50), p95: percentile(lat, 95), p99: percentile(lat, 99),
    publishP50: percentile(publishLat, 50), publishP99: percentile(publishLat, 99),
    cpuPer1000: (cpu / deliveries) * 1000, cpuWorkerdPer1000: ((cpu1.workerd - cpu0.workerd) / deliveries) * 1000,
    cpuOtherPer1000: ((cpu1.other - cpu0.other) / deliveries) * 1000,
    d1PerEvent: d.d1 / events, d1CallsPerEvent: d.d1Calls / events, d1ReadsPerEvent: d.d1Reads / events,
    d1WritesPerEvent: d.d1Writes / events, doSqlPerEvent: d.doSql / events, fetchPerDelivery: d.fetch / deliveries,
    doRequestsPerEvent: d.doRequests / events, doSqlPerDelivery: d.doSql / deliveries,
  };
}

// ---------------------------------------------------------------------------------------
// Lanes: one destination against a receiver that answers after 100 ms

const BATCH_HEADERS = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

/** Publishes `n` events to `tenantId` in batches of 100, one request after another. */
async function publishInBatches(sluice, a, tenantId, prefix, n) {
  for (let i = 0; i < n; i += 100) {
    const events = Array.from({ length: Math.min(100, n - i) }, (_, j) => ({
      tenant_id: tenantId, topic: TOPIC, id: eventId(prefix, i + j), data: DATA }));
    const r = await post(a, `${sluice.url}/v1/publish/batch`, BATCH_HEADERS, JSON.stringify({ events }));
    if (r.status !== 200) throw new Error(`batch -> ${r.status}: ${r.body.slice(0, 200)}`);
  }
}

/**
 * The steady delivery rate at a receiver: the arrivals between the 10th and the 90th
 * percentile of arrival times, over the time between them (without the ramp-up and the tail).
 */
function steadyRate(rx) {
  const times = [...rx.arrivals.values()].flat().sort((x, y) => x - y);
  const lo = Math.floor(times.length * 0.1);
  const hi = Math.floor(times.length * 0.9);
  return ((hi - lo) / (times[hi] - times[lo])) * 1000;
}

/**
 * One webhook destination over K lanes (max_in_flight 6 × K: each lane's 6) against a receiver
 * that answers every request `lanesDelayMs` after it arrived. `lanesPerLane` × K events are
 * published in batches of 100 (so that publishing takes little of the run); the rate is the
 * deliveries between the 10th and the 90th percentile of arrivals over the time between them
 * (the steady state, without the start and the tail).
 */
async function lanesFigure(sluice, slow, root) {
  const out = [];
  const a = agent(4);
  for (const k of P.lanes) {
    // The previous K's last requests are still open for up to lanesDelayMs after they
    // arrived: counted into this K's most-open, they made K = 2 read 14 of a possible 12.
    await eventually(async () => slow.open === 0, 5_000, { intervalMs: 20, what: 'the slow receiver drained' });
    slow.reset();
    const t = await tenantWith(sluice, [{ ...webhook(slow.url, 6 * k), lanes: k }]);
    const n = P.lanesPerLane * k;
    const cpu0 = cpuSeconds(root);
    const start = now();
    await publishInBatches(sluice, a, t.tenantId, `lane${k}`, n);
    const arrived = await waitArrivals(slow, n, P.drainMs);
    const cpu = cpuTotal(cpuSeconds(root)) - cpuTotal(cpu0);
    const rate = steadyRate(slow);
    out.push({ lanes: k, events: n, arrived, rate, mostOpen: slow.mostOpen, seconds: (now() - start) / 1000,
      cpuPer1000: (cpu / arrived) * 1000 });
    log(`lanes=${k}: ${fmt(rate)} deliveries/s, ${slow.mostOpen} at once, ${arrived}/${n}`);
  }
  return out;
}

/**
 * One destination's backlog: `backlog` events published first in batches of 100 (one request
 * after another, as fast as Sluice takes them), delivered to the fast receiver. The rate is
 * the arrivals between the 10th and the 90th percentile over the time between them: what one
 * destination's scheduler delivers when it has work waiting, not held back by a closed loop's
 * 16 events in flight. CPU of Sluice's workerd from the first batch to the last arrival, per
 * delivery, publish included.
 */
async function backlogFigure(sluice, rx, root) {
  const out = [];
  const a = agent(4);
  for (const mif of [1, 8]) {
    await eventually(async () => rx.open === 0, 5_000, { intervalMs: 20, what: 'the receiver drained' });
    const t = await tenantWith(sluice, [webhook(rx.url, mif)]);
    // The tenant's shard, index objects and scheduler made before the clock starts.
    rx.reset();
    await publishInBatches(sluice, a, t.tenantId, `backlog-warm${mif}`, 100);
    await waitArrivals(rx, 100, P.drainMs);
    rx.reset();
    const n = P.backlog;
    const c0 = await settledCounters(sluice);
    const cpu0 = cpuSeconds(root);
    const start = now();
    await publishInBatches(sluice, a, t.tenantId, `backlog${mif}`, n);
    const published = now() - start;
    const arrived = await waitArrivals(rx, n, P.drainMs);
    const cpu1 = cpuSeconds(root);
    // Counted after the last arrival's record reached its shard.
    const d = diff(c0, await settledCounters(sluice));
    const rate = steadyRate(rx);
    out.push({ mif, events: n, arrived, rate, publishedMs: published, seconds: (now() - start) / 1000,
      workerdMs: ((cpu1.workerd - cpu0.workerd) / arrived) * 1000,
      doRequests: d.doRequests / arrived, doSql: d.doSql / arrived });
    log(`backlog mif=${mif}: ${fmt(rate)} deliveries/s, ${fmt(out.at(-1).workerdMs, 2)} ms CPU per delivery, ${arrived}/${n}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Subrequests per event, per destination type

const CREDS = { region: 'us-east-1', access_key_id: 'AKIDBENCH', secret_access_key: 'bench-secret' };
const json = (body) => JSON.parse(body || '{}');

function awsClassify(req, body) {
  const target = req.headers['x-amz-target'] ?? '';
  if (target === 'AmazonSQS.SendMessage') return { kind: 'sqs', items: 1 };
  if (target === 'AmazonSQS.SendMessageBatch') return { kind: 'sqs', items: json(body).Entries.length };
  if (target === 'AWSEvents.PutEvents') return { kind: 'eventbridge', items: json(body).Entries.length };
  if (req.method === 'PUT') return { kind: 's3', items: 1 };
  return { kind: 'other', items: 0 };
}

function pubsubClassify(req, body) {
  if (req.url.endsWith(':publish')) return { kind: 'publish', items: json(body).messages.length };
  if (req.url.startsWith('/token')) return { kind: 'token', items: 0 };
  return { kind: 'other', items: 0 };
}

function kafkaClassify(req, body) {
  if (req.url.startsWith('/v3/')) return { kind: 'v3', items: 1 };
  if (req.url.startsWith('/topics/')) return { kind: 'v2', items: json(body).records.length };
  return { kind: 'other', items: 0 };
}

function rabbitClassify(req) {
  if (/^\/api\/exchanges\/.*\/publish$/.test(req.url)) return { kind: 'publish', items: 1 };
  return { kind: 'other', items: 0 };
}

/** Starts the stand-ins into `b`; `b.stops` ends what started, even after a failure. */
async function startBackends(rx, b) {
  const { startMoto } = await import('../tests/helpers/moto.mjs');
  const { startPubSub } = await import('../tests/helpers/pubsub.mjs');
  const { startKafkaRest } = await import('../tests/helpers/kafka_rest.mjs');
  const rabbitPromise = import('../tests/helpers/rabbitmq.mjs').then((m) => m.startRabbitMq()).catch((err) => {
    log(`RabbitMQ not measured: ${err.message.split('\n')[0]}`);
    return null;
  });
  b.stops.push(async () => (await rabbitPromise)?.stop());
  b.moto = await startMoto();
  b.stops.push(() => b.moto.stop());
  b.aws = await startCountingProxy(b.moto.url, awsClassify);
  b.stops.push(() => b.aws.close());
  b.ps = await startPubSub();
  b.stops.push(() => b.ps.close());
  b.psProxy = await startCountingProxy(b.ps.url, pubsubClassify);
  b.stops.push(() => b.psProxy.close());
  b.kafka = await startKafkaRest({ clusterId: 'lkc-bench' });
  b.stops.push(() => b.kafka.close());
  b.kafkaProxy = await startCountingProxy(b.kafka.url, kafkaClassify);
  b.stops.push(() => b.kafkaProxy.close());
  b.rabbit = await rabbitPromise;
  if (b.rabbit) {
    b.rabbitProxy = await startCountingProxy(b.rabbit.url, rabbitClassify);
    b.stops.push(() => b.rabbitProxy.close());
    await b.rabbit.createUser('bench', 'bench-secret', ['/']);
    await b.rabbit.createExchange('/', 'orders');
    await b.rabbit.createQueue('/', 'orders-q', 'orders', '#');
  }
  b.webhookCount = () => ({ requests: rx.total, items: rx.total });
}

/** Each type: how to create it, and what its backend saw ({requests, items, tokens}). */
async function typeCases(b, sluice) {
  const cases = [];
  cases.push({ name: 'webhook', batched: false, dest: () => webhook(b.rx.url), seen: () => b.webhookCount() });
  const q = await b.moto.createQueue(`bench-${process.pid}`);
  cases.push({ name: 'aws_sqs', batched: true,
    dest: () => ({ type: 'aws_sqs', config: { ...CREDS, queue_url: q, endpoint: b.aws.url } }), seen: () => b.aws.total('sqs') });
  cases.push({ name: 'aws_eventbridge', batched: true,
    dest: () => ({ type: 'aws_eventbridge', config: { ...CREDS, endpoint: b.aws.url } }), seen: () => b.aws.total('eventbridge') });
  const bucket = `bench-${process.pid}`;
  await b.moto.createBucket(bucket);
  cases.push({ name: 'aws_s3', batched: false,
    dest: () => ({ type: 'aws_s3', config: { ...CREDS, bucket, endpoint: b.aws.url, path_style: true } }), seen: () => b.aws.total('s3') });
  b.ps.createTopic('bench-proj', 'orders');
  const account = b.ps.serviceAccount('bench-proj');
  cases.push({ name: 'gcp_pubsub', batched: true,
    dest: () => ({ type: 'gcp_pubsub', config: { topic: 'orders', service_account: account, endpoint: b.psProxy.url } }),
    seen: () => ({ ...b.psProxy.total('publish'), tokens: b.ps.stats.tokenRequests }) });
  b.kafka.createTopic('orders');
  cases.push({ name: 'kafka v3', batched: false,
    dest: () => ({ type: 'kafka', config: { endpoint: b.kafkaProxy.url, cluster_id: 'lkc-bench', topic: 'orders' } }),
    seen: () => b.kafkaProxy.total('v3') });
  cases.push({ name: 'kafka v2', batched: true,
    dest: () => ({ type: 'kafka', config: { endpoint: b.kafkaProxy.url, api_version: 'v2', topic: 'orders' } }),
    seen: () => b.kafkaProxy.total('v2') });
  if (b.rabbit) {
    cases.push({ name: 'rabbitmq', batched: false,
      dest: () => ({ type: 'rabbitmq', config: { endpoint: b.rabbitProxy.url, exchange: 'orders', username: 'bench', password: 'bench-secret' } }),
      seen: () => b.rabbitProxy.total('publish') });
  }
  cases.push({ name: 'websocket', batched: false, websocket: true,
    dest: () => ({ type: 'websocket', config: {}, timeout_ms: 5000 }), seen: () => b.wsSeen });
  return cases;
}

function connectAcker(sluice, tenantId, destId, b) {
  const url = `${sluice.url.replace(/^http/, 'ws')}/v1/tenants/${tenantId}/destinations/${destId}/ws`;
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  b.wsSeen = { requests: 0, items: 0 };
  ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString());
    if (m.type === 'event') {
      b.wsSeen.items += 1;
      ws.send(JSON.stringify({ type: 'ack', event_id: m.event_id }));
    }
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function waitItems(seen, n, timeoutMs) {
  const until = now() + timeoutMs;
  while (seen().items < n && now() < until) await sleep(5);
  if (seen().items < n) throw new Error(`only ${seen().items} of ${n} events arrived`);
}

/** Publishes that failed even when sent again are counted, not fatal: the others are measured. */
function noteErrors(row, r) {
  if (!r.errors) return;
  row.errors = (row.errors ?? 0) + r.errors;
  row.firstError ??= r.firstError?.message?.slice(0, 200);
}

async function measureType(sluice, b, c) {
  const t = await tenantWith(sluice, [c.dest()]);
  let ws = null;
  if (c.websocket) ws = await connectAcker(sluice, t.tenantId, t.ids[0], b);
  const pub = publisher(sluice, 64);
  const base = { ...c.seen() };
  const at = () => {
    const s = c.seen();
    return { requests: s.requests - base.requests, items: s.items - base.items, tokens: (s.tokens ?? 0) - (base.tokens ?? 0) };
  };
  const row = { name: c.name, batched: c.batched };
  try {
    // Paced: one event at a time, the next once the previous arrived.
    let c0 = await settledCounters(sluice, 200);
    for (let i = 0; i < P.paced; i++) {
      await pub(t.tenantId, eventId(`p-${c.name.replace(' ', '')}`, i));
      await waitItems(at, i + 1, 15_000);
    }
    let c1 = await settledCounters(sluice, 200);
    const paced = at();
    row.paced = { perEvent: paced.requests / P.paced, tokens: paced.tokens, fetch: diff(c0, c1).fetch / P.paced };
    // Burst: all at once (64 publishers).
    c0 = c1;
    const r = await closedLoop({ concurrency: 64, durationMs: 60_000, maxCount: P.burst,
      send: (i) => pub(t.tenantId, eventId(`b-${c.name.replace(' ', '')}`, i)) });
    noteErrors(row, r);
    await waitItems(at, P.paced + r.count, P.drainMs);
    c1 = await settledCounters(sluice, 200);
    const burst = at();
    row.burst = { perEvent: (burst.requests - paced.requests) / r.count, fetch: diff(c0, c1).fetch / r.count,
      tokens: burst.tokens - paced.tokens };
    // Offered at 1,000 events/s for a few seconds (batched types).
    if (c.batched) {
      const before = at();
      const o = await openLoop({ rate: P.rate, durationMs: P.rateMs, maxConcurrency: 64,
        send: (i) => pub(t.tenantId, eventId(`r-${c.name.replace(' ', '')}`, i)) });
      noteErrors(row, o);
      await waitItems(at, before.items + o.count, P.drainMs);
      const after = at();
      row.rate = { offered: P.rate, accepted: (o.count / o.elapsedMs) * 1000, events: o.count,
        perEvent: (after.requests - before.requests) / o.count, batch: o.count / (after.requests - before.requests) };
    }
  } finally {
    ws?.close();
  }
  log(`${c.name}: paced ${fmt(row.paced.perEvent, 2)}/event, burst ${fmt(row.burst.perEvent, 2)}/event` +
    (row.rate ? `, at ${fmt(row.rate.accepted)}/s ${fmt(row.rate.perEvent, 3)}/event` : ''));
  return row;
}

// ---------------------------------------------------------------------------------------

function wasmSize() {
  const file = path.join(REPO_ROOT, 'build', 'index_bg.wasm');
  const raw = fs.readFileSync(file);
  return { raw: raw.length, gzip: zlib.gzipSync(raw, { level: 9 }).length };
}

function filterBench() {
  try {
    const out = execFileSync('bash', [path.join(REPO_ROOT, 'bench', 'filter.sh')], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 240_000, stdio: ['ignore', 'pipe', 'inherit'] });
    return out.trim();
  } catch (err) {
    return `(filter benchmark failed: ${err.message.split('\n')[0]})`;
  }
}

function machine() {
  const cpu = (os.cpus()[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim();
  let commit = 'unknown';
  let dirty = false;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim() !== '';
  } catch {
    // not a git checkout
  }
  return { date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC', cores: os.cpus().length, cpu,
    memGiB: os.totalmem() / 2 ** 30, load: os.loadavg()[0], commit: commit + (dirty ? ' (+ uncommitted changes)' : ''), node: process.version };
}

const ms = (x) => (x < 10 ? fmt(x, 1) : fmt(x));

function report(R) {
  const m = R.machine;
  const L = [];
  L.push(`Run ${m.date} on ${m.cores} cores (${m.cpu}), ${fmt(m.memGiB, 1)} GiB, commit \`${m.commit}\`, Node ${m.node}; ` +
    `1-minute load average ${fmt(m.load, 1)} at the start and ${fmt(os.loadavg()[0], 1)} at the end; harness time ${fmt(R.seconds)} s. Sluice on local workerd (Miniflare's API, one workerd, no dev proxy; persisted state in a temp folder), ` +
    'receiver, load generator and stand-ins in one Node process, all on 127.0.0.1.');
  if (publishRetries) {
    L.push('', `${publishRetries} publish(es) were sent again (same id, up to 5 times): they lost their connection.`);
  }
  if (restarts) {
    L.push('', `Sluice's isolate restarted during ${restarts} measured step(s): their counts are left out (–).`);
  }
  L.push('');
  L.push('### Publish throughput (`POST /v1/publish`, one webhook destination per tenant, max_in_flight 8)');
  L.push('');
  L.push('| publishers (concurrency) | events accepted / s | publish p50 | publish p99 |');
  L.push('|---|---|---|---|');
  for (const p of R.publish) L.push(`| ${p.concurrency} | ${fmt(p.rate)} | ${ms(p.p50)} ms | ${ms(p.p99)} ms |`);
  for (const p of R.publish.filter((x) => x.errors)) {
    L.push('', `At concurrency ${p.concurrency}, ${p.errors} publish(es) failed even when sent again (not counted): \`${p.firstError}\``);
  }
  if (R.publishWays?.length) {
    L.push('');
    L.push('### Publish at 16 publishers, three ways (one webhook destination per tenant, max_in_flight 8)');
    L.push('');
    L.push(`| way | requests | events accepted / s | ratio to /healthz | request p50 | request p99 | delivered / accepted |`);
    L.push('|---|---|---|---|---|---|---|');
    for (const w of R.publishWays) {
      const ratio = R.floor ? fmt(w.rate / R.floor.rate, 2) : '–';
      L.push(`| ${w.name} | ${w.requests} | ${fmt(w.rate)} | ${ratio} | ${ms(w.p50)} ms | ${ms(w.p99)} ms | ${w.arrived} / ${w.events} |`);
    }
    for (const w of R.publishWays.filter((x) => x.errors)) {
      L.push('', `${w.name}: ${w.errors} request(s) failed (not counted): \`${w.firstError}\``);
    }
  }
  L.push('');
  L.push(`### End-to-end delivery (${P.window} events in flight, closed loop, ${P.e2eMs / 1000} s each; first ${P.warmMs / 1000} s not counted in the rate)`);
  L.push('');
  L.push('| case | deliveries / s at the receiver | ratio to baseline | publish → arrival p50 | p95 | p99 | publish p50 | arrived / expected |');
  L.push('|---|---|---|---|---|---|---|---|');
  const b = R.baseline;
  L.push(`| baseline: the load generator straight to the receiver | ${fmt(b.rate)} | 1 | ${ms(b.p50)} ms | ${ms(b.p95)} ms | ${ms(b.p99)} ms | – | ${b.count} / ${b.count} |`);
  for (const e of R.e2e) {
    const name = e.fanout === 1 ? '1 destination' : `fan-out 1 → ${e.fanout}`;
    L.push(`| ${name}, max_in_flight ${e.mif} | ${fmt(e.deliveriesPerSec)} | ${fmt(e.deliveriesPerSec / b.rate, 3)} | ${ms(e.p50)} ms | ${ms(e.p95)} ms | ${ms(e.p99)} ms | ${ms(e.publishP50)} ms | ${e.deliveries} / ${e.expected} |`);
  }
  for (const e of R.e2e.filter((x) => x.errors)) {
    L.push('', `Fan-out ${e.fanout}, max_in_flight ${e.mif}: ${e.errors} publish(es) failed even when sent again (not counted): \`${e.firstError}\``);
  }
  L.push('');
  L.push('### Cost per event (same runs)');
  L.push('');
  L.push('CPU: utime + stime from /proc of the runtime\'s processes: the workerd that runs Sluice (with its local D1 and Durable Objects; requests reach it ' +
    "directly, there is no dev proxy) and the Node process that runs Miniflare. Per event the figures include the publish.");
  L.push('');
  L.push('| case | CPU s per 1,000 deliveries: all | Sluice\'s workerd | Miniflare (Node) | D1 statements / event (reads + writes) | D1 round trips / event | DO requests / event | DO SQLite statements / event | DO SQLite statements / delivery | subrequests / delivery |');
  L.push('|---|---|---|---|---|---|---|---|---|---|');
  const f = R.floor;
  if (f) L.push(`| floor: \`GET /healthz\` (${fmt(f.rate)}/s), per 1,000 requests | ${fmt(f.workerdMs + f.otherMs, 2)} | ${fmt(f.workerdMs, 2)} | ${fmt(f.otherMs, 2)} | 0 | 0 | 0 | 0 | 0 | 0 |`);
  for (const e of R.e2e) {
    const name = e.fanout === 1 ? '1 destination' : `fan-out 1 → ${e.fanout}`;
    L.push(`| ${name}, max_in_flight ${e.mif} | ${fmt(e.cpuPer1000, 2)} | ${fmt(e.cpuWorkerdPer1000, 2)} | ${fmt(e.cpuOtherPer1000, 2)} | ${fmt(e.d1PerEvent, 1)} (${fmt(e.d1ReadsPerEvent, 1)} + ${fmt(e.d1WritesPerEvent, 1)}) | ${fmt(e.d1CallsPerEvent, 2)} | ${fmt(e.doRequestsPerEvent, 2)} | ${fmt(e.doSqlPerEvent, 1)} | ${fmt(e.doSqlPerDelivery, 1)} | ${fmt(e.fetchPerDelivery, 2)} |`);
  }
  if (R.backlog?.length) {
    L.push('');
    L.push(`### One destination with a backlog (${fmt(P.backlog)} events published in batches of 100, then delivered; one webhook destination, the fast receiver)`);
    L.push('');
    L.push('The batches are sent one after another as fast as Sluice answers them; the rate is the arrivals between the 10th and the 90th percentile over the time between them: ' +
      'what one destination delivers when work is waiting, not bounded by a closed loop\'s 16 events in flight. CPU of Sluice\'s workerd from the first batch to the last arrival, per delivery, the publish included.');
    L.push('');
    L.push('| max_in_flight | deliveries / s | ratio to /healthz | CPU ms per delivery, Sluice\'s workerd | ratio to the floor | DO requests / delivery | DO SQLite statements / delivery | published in | arrived / published |');
    L.push('|---|---|---|---|---|---|---|---|---|');
    for (const x of R.backlog) {
      const ratio = R.floor ? fmt(x.rate / R.floor.rate, 2) : '–';
      const cpuRatio = R.floor ? `${fmt(x.workerdMs / R.floor.workerdMs, 1)} ×` : '–';
      L.push(`| ${x.mif} | ${fmt(x.rate)} | ${ratio} | ${fmt(x.workerdMs, 2)} | ${cpuRatio} | ${fmt(x.doRequests, 2)} | ${fmt(x.doSql, 1)} | ${fmt(x.publishedMs / 1000, 1)} s | ${x.arrived} / ${x.events} |`);
    }
  }
  if (R.lanes?.length) {
    L.push('');
    L.push(`### Lanes: one webhook destination, a receiver that answers after ${P.lanesDelayMs} ms (max_in_flight 6 per lane)`);
    L.push('');
    L.push(`${P.lanesPerLane} events per lane, published in batches of 100; the rate is the arrivals between the 10th and the 90th percentile over the time between them. ` +
      `One scheduler keeps at most 6 requests open (the production limit, which Sluice keeps itself): its ceiling is 6 ÷ ${P.lanesDelayMs / 1000} s = ${fmt(6000 / P.lanesDelayMs)}/s.`);
    L.push('');
    L.push('| lanes (K) | deliveries / s | ceiling K × 6 ÷ latency | most requests open at once | arrived / published | CPU s per 1,000 deliveries |');
    L.push('|---|---|---|---|---|---|');
    for (const l of R.lanes) {
      L.push(`| ${l.lanes} | ${fmt(l.rate)} | ${fmt((l.lanes * 6000) / P.lanesDelayMs)} | ${l.mostOpen} | ${l.arrived} / ${l.events} | ${fmt(l.cpuPer1000, 2)} |`);
    }
  }
  if (R.types) {
    L.push('');
    L.push(`### Subrequests per event, per destination type (max_in_flight 1; requests counted at the backend)`);
    L.push('');
    L.push(`Paced: ${P.paced} events, each published once the previous arrived. Burst: ${P.burst} events published by 64 concurrent publishers. ` +
      `At ${fmt(P.rate)}/s: offered open-loop for ${P.rateMs / 1000} s (at most 64 publishes outstanding).`);
    L.push('');
    L.push(`| type | paced: requests / event | burst: requests / event | Worker fetch calls / event (paced, burst) | offered ${fmt(P.rate)}/s: accepted / s | requests / event | events / request |`);
    L.push('|---|---|---|---|---|---|---|');
    for (const t of R.types) {
      if (t.error) {
        L.push(`| ${t.name} | not measured: ${t.error.replaceAll('|', '/')} | – | – | – | – | – |`);
        continue;
      }
      const tokens = t.paced.tokens || t.burst.tokens ? ` (+ ${t.paced.tokens + t.burst.tokens} token exchange${t.paced.tokens + t.burst.tokens === 1 ? '' : 's'} in all)` : '';
      const rate = t.rate ? `| ${fmt(t.rate.accepted)} | ${fmt(t.rate.perEvent, 3)} | ${fmt(t.rate.batch, 1)} |` : '| – | – | – |';
      L.push(`| ${t.name} | ${fmt(t.paced.perEvent, 2)}${tokens} | ${fmt(t.burst.perEvent, 2)} | ${fmt(t.paced.fetch, 2)}, ${fmt(t.burst.fetch, 2)} ${rate}`);
    }
    for (const t of R.types.filter((x) => x.errors)) {
      L.push('', `${t.name}: ${t.errors} publish(es) failed even when sent again (not counted above); the first: \`${t.firstError}\``);
    }
    if (R.typesError) L.push('', `Not measured: ${R.typesError}`);
  }
  L.push('');
  L.push('### Wasm size (`build/index_bg.wasm`, the build this run used)');
  L.push('');
  L.push('| raw | gzipped (level 9) | of the 3 MB gzipped free-plan limit |');
  L.push('|---|---|---|');
  L.push(`| ${fmt(R.wasm.raw)} B | ${fmt(R.wasm.gzip)} B | ${fmt((R.wasm.gzip / 3_000_000) * 100, 1)} % |`);
  if (R.filter) {
    L.push('');
    L.push('### Filter evaluation micro-benchmark (`bash bench/filter.sh`, native release)');
    L.push('');
    L.push(R.filter);
  }
  return L.join('\n');
}

const BEGIN = '<!-- bench:begin (written by bench/run.sh) -->';
const END = '<!-- bench:end -->';

function writeReadme(table) {
  const file = path.join(REPO_ROOT, 'bench', 'README.md');
  const text = fs.readFileSync(file, 'utf8');
  const block = `${BEGIN}\n${table}\n${END}`;
  const i = text.indexOf(BEGIN);
  const j = text.indexOf(END);
  const next = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + END.length) : `${text.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(file, next);
}

async function main() {
  const t0 = now();
  const R = { machine: machine() };
  const rx = await startFastReceiver();
  // Metrics reach D1 at most once a minute per destination, as in production (the tests flush
  // them after every run instead).
  const sluice = await startSluice({
    name: SMOKE ? 'bench-smoke' : 'bench',
    vars: { METRICS_FLUSH_SECONDS: '60' },
    script: 'bench/entry.mjs',
  });
  const root = sluice.proc.pid;
  const backends = { stops: [] };
  let stopping = false;
  const cleanup = async () => {
    if (stopping) return;
    stopping = true;
    await sluice.dispose();
    await rx.close();
    for (const stop of backends.stops.reverse()) await stop().catch(() => {});
  };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => cleanup().finally(() => process.exit(130)));
  }
  try {
    log(`Sluice up at ${sluice.url} (${fmt((now() - t0) / 1000, 1)} s)`);
    R.baseline = await baseline(rx);
    log(`baseline: ${fmt(R.baseline.rate)}/s`);
    R.floor = SMOKE ? null : await healthFloor(sluice, root);
    if (R.floor) log(`GET /healthz: ${fmt(R.floor.rate)}/s, workerd ${fmt(R.floor.workerdMs, 2)} ms CPU per request`);
    R.publish = part('publish') ? await publishThroughput(sluice, rx) : [];
    R.publishWays = !SMOKE && part('publish') ? await publishWays(sluice, rx) : [];
    R.e2e = [];
    for (const c of part('e2e') ? P.e2eCases : []) {
      const e = await endToEnd(sluice, rx, root, c);
      R.e2e.push(e);
      log(`e2e fanout=${c.fanout} mif=${c.mif}: ${fmt(e.deliveriesPerSec)} deliveries/s, p50 ${ms(e.p50)} ms, ${e.deliveries}/${e.expected}`);
    }
    if (!SMOKE && part('backlog')) R.backlog = await backlogFigure(sluice, rx, root);
    if (!SMOKE && part('lanes')) {
      const slow = await startFastReceiver({ delayMs: P.lanesDelayMs });
      try {
        R.lanes = await lanesFigure(sluice, slow, root);
      } finally {
        await slow.close();
      }
    }
    if (!SMOKE && part('types')) {
      try {
        await startBackends(rx, backends);
        backends.rx = rx;
        R.types = [];
        for (const c of await typeCases(backends, sluice)) {
          try {
            R.types.push(await measureType(sluice, backends, c));
          } catch (err) {
            // One type's failure leaves the others measured; the table says which is missing.
            log(`${c.name}: not measured: ${err.stack}`);
            R.types.push({ name: c.name, error: err.message.split('\n')[0] });
          }
        }
      } catch (err) {
        R.typesError = err.message.split('\n')[0];
        log(`per-type measurement stopped: ${err.stack}`);
      }
    }
  } finally {
    await cleanup();
  }
  R.wasm = wasmSize();
  if (!SMOKE && part('filter')) R.filter = filterBench();
  R.seconds = (now() - t0) / 1000;
  const table = report(R);
  console.log(table);
  if (SMOKE) {
    const problems = [];
    if (!(R.baseline.rate > 0)) problems.push('baseline throughput is 0');
    for (const p of R.publish) {
      if (!(p.rate > 0)) problems.push(`publish throughput at concurrency ${p.concurrency} is 0`);
      if (p.errors) problems.push(`publish at concurrency ${p.concurrency}: ${p.errors} failed (${p.firstError})`);
      if (p.arrived < p.count) problems.push(`publish at concurrency ${p.concurrency}: ${p.arrived} of ${p.count} arrived`);
    }
    for (const e of R.e2e) {
      if (!(e.deliveriesPerSec > 0)) problems.push('end-to-end throughput is 0');
      if (e.errors) problems.push(`end-to-end: ${e.errors} publishes failed (${e.firstError})`);
      if (e.deliveries !== e.expected || e.lost) problems.push(`end-to-end: ${e.deliveries} of ${e.expected} arrived`);
      if (!(e.doSqlPerEvent > 0) || !(e.fetchPerDelivery > 0)) problems.push('the counters of bench/entry.mjs did not move');
    }
    if (problems.length) {
      console.error(`[bench] smoke FAILED: ${problems.join('; ')}`);
      process.exit(1);
    }
    console.error(`[bench] smoke OK in ${fmt(R.seconds, 1)} s`);
  } else if (!ONLY) {
    writeReadme(table);
    log(`bench/README.md updated (${fmt(R.seconds)} s in all)`);
  }
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
