// websocket destinations with a real WebSocket client (the `ws` package): connect with a
// tenant token, receive events, acknowledge them; an unacknowledged event is retried; the
// status counts connected clients. Also the tenant tokens themselves (POST …/portal): they
// reach their own tenant only.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import { startSluice, publish, eventually, uniqueId, checkProblem, sleep } from './helpers/sluice.mjs';

let sluice;

before(async () => {
  sluice = await startSluice({ name: 'websocket' });
}, { timeout: 120_000 });

after(async () => {
  if (sluice) await sluice.dispose();
});

const FAST = { max_retries: 5, backoff: { type: 'fixed', interval_ms: 300 }, jitter: 0 };

async function tenant() {
  const tenantId = uniqueId('ws');
  assert.equal((await sluice.api('POST', '/v1/tenants', { id: tenantId })).status, 201);
  return tenantId;
}

async function token(tenantId, body = { subject: 'alice@example.test' }) {
  const r = await sluice.api('POST', `/v1/tenants/${tenantId}/portal`, body);
  assert.equal(r.status, 201, r.text);
  return r.json.token;
}

async function websocketDestination(tenantId, extra = {}) {
  const d = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'websocket', config: {}, retry: FAST, timeout_ms: 1_000, ...extra,
  });
  assert.equal(d.status, 201, d.text);
  return { id: d.json.id, base: `/v1/tenants/${tenantId}/destinations/${d.json.id}` };
}

/** Opens a client; `messages` collects what the server sends (parsed). */
function connect(path, { bearer, query } = {}) {
  const url = `${sluice.url.replace(/^http/, 'ws')}${path}${query ? `?access_token=${encodeURIComponent(query)}` : ''}`;
  const ws = new WebSocket(url, { headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
  ws.messages = [];
  ws.on('message', (raw) => ws.messages.push(JSON.parse(raw.toString())));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

const events = (ws) => ws.messages.filter((m) => m.type === 'event');

async function deliveryStatus(base, deliveryId, status) {
  return eventually(async () => {
    const r = await sluice.api('GET', `${base}/deliveries`);
    const d = r.json.data.find((x) => x.id === deliveryId);
    return d?.status === status ? d : null;
  }, 15_000, { what: `delivery ${status}` });
}

test('websocket: a client with a tenant token receives events and acknowledges them; the status counts it', { timeout: 60_000 }, async () => {
  const tenantId = await tenant();
  const dest = await websocketDestination(tenantId);
  const ws = await connect(`${dest.base}/ws`, { bearer: await token(tenantId) });
  try {
    await eventually(() => ws.messages.find((m) => m.type === 'hello'), 5_000, { what: 'hello' });
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.type === 'event') ws.send(JSON.stringify({ type: 'ack', event_id: m.event_id }));
    });
    const status = await sluice.api('GET', `${dest.base}/status`);
    assert.equal(status.json.websocket_clients, 1);

    const pub = await publish(sluice, tenantId, 'order.created', { order: 7 }, { id: 'ws-evt-1', metadata: { region: 'eu' } });
    await eventually(() => events(ws).length === 1, 10_000, { what: 'event message' });
    const [m] = events(ws);
    assert.equal(m.event_id, 'ws-evt-1');
    assert.equal(m.topic, 'order.created');
    assert.deepEqual(m.data, { order: 7 });
    assert.deepEqual(m.metadata, { region: 'eu' });
    assert.equal(m.attempt, 1);
    const d = await deliveryStatus(dest.base, pub.deliveries[0].id, 'delivered');
    assert.equal(d.attempts, 1);

    // Several at once: each is its own message, all acknowledged and delivered.
    const burst = await Promise.all(Array.from({ length: 5 }, (_, i) => publish(sluice, tenantId, 'order.created', { i })));
    for (const p of burst) await deliveryStatus(dest.base, p.deliveries[0].id, 'delivered');
    assert.equal(events(ws).length, 6);
  } finally {
    ws.close();
  }
  await eventually(async () => (await sluice.api('GET', `${dest.base}/status`)).json.websocket_clients === 0, 5_000, { what: 'client gone' });
});

test('websocket: an unacknowledged event is retried, and delivered once a client acknowledges it', { timeout: 60_000 }, async () => {
  const tenantId = await tenant();
  const dest = await websocketDestination(tenantId);
  const silent = await connect(`${dest.base}/ws`, { query: await token(tenantId) });
  let pub;
  try {
    pub = await publish(sluice, tenantId, 'order.created', { n: 1 });
    // The silent client gets attempt 1, waits out the 1 s timeout, then attempt 2.
    await eventually(() => events(silent).filter((m) => m.attempt >= 2).length > 0, 10_000, { what: 'a second attempt' });
    const r = await sluice.api('GET', `${dest.base}/deliveries`);
    const d = r.json.data.find((x) => x.id === pub.deliveries[0].id);
    assert.equal(d.status, 'pending');
    assert.match(d.last_error, /no acknowledgement from 1 connected client/);
  } finally {
    silent.close();
  }
  // With no client at all, attempts fail at once ("no client"), and the delivery waits.
  const acker = await connect(`${dest.base}/ws`, { bearer: await token(tenantId) });
  try {
    acker.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.type === 'event') acker.send(JSON.stringify({ type: 'ack', event_ids: [m.event_id] }));
    });
    const d = await deliveryStatus(dest.base, pub.deliveries[0].id, 'delivered');
    assert.ok(d.attempts >= 3, `attempts ${d.attempts}`);
  } finally {
    acker.close();
  }
});

test('websocket: bad client messages are answered, not fatal; max_clients is enforced; only websocket destinations accept connections', { timeout: 60_000 }, async () => {
  const tenantId = await tenant();
  const dest = await websocketDestination(tenantId, { config: { max_clients: 1 } });
  const tok = await token(tenantId);
  const ws = await connect(`${dest.base}/ws`, { bearer: tok });
  try {
    ws.send('not json');
    ws.send(JSON.stringify({ type: 'ping' }));
    await eventually(() => ws.messages.some((m) => m.type === 'pong'), 5_000, { what: 'pong' });
    assert.ok(ws.messages.some((m) => m.type === 'error' && /expected/.test(m.message)));
    await assert.rejects(connect(`${dest.base}/ws`, { bearer: tok }), /HTTP 429/);
  } finally {
    ws.close();
  }
  const hook = await sluice.api('POST', `/v1/tenants/${tenantId}/destinations`, { type: 'webhook', config: { url: 'http://127.0.0.1:9/x' } });
  const base = `/v1/tenants/${tenantId}/destinations/${hook.json.id}`;
  await assert.rejects(connect(`${base}/ws`, { bearer: tok }), /HTTP 409/);
  // A plain GET is not an upgrade.
  checkProblem(await sluice.api('GET', `${dest.base}/ws`), 426, 'upgrade-required');
});

test('tenant tokens reach their own tenant only; admin routes stay closed to them', { timeout: 60_000 }, async () => {
  const acme = await tenant();
  const globex = await tenant();
  const acmeDest = await websocketDestination(acme);
  const globexDest = await websocketDestination(globex);
  const tok = await token(acme);
  const as = (method, path, body) => sluice.api(method, path, body, { key: tok });

  assert.equal((await as('GET', acmeDest.base)).status, 200);
  assert.equal((await as('GET', `/v1/tenants/${acme}/events`)).status, 200);
  assert.equal((await as('GET', '/v1/destination-types')).status, 200);
  checkProblem(await as('GET', globexDest.base), 403, 'forbidden');
  checkProblem(await as('GET', `/v1/tenants/${globex}/destinations`), 403, 'forbidden');
  checkProblem(await as('GET', '/v1/tenants'), 403, 'forbidden');
  checkProblem(await as('POST', '/v1/publish', { tenant_id: acme, topic: 'x', data: {} }), 403, 'forbidden');
  checkProblem(await as('POST', `/v1/tenants/${acme}/portal`, {}), 403, 'forbidden');
  checkProblem(await as('DELETE', `/v1/tenants/${acme}`), 403, 'forbidden');
  await assert.rejects(connect(`${globexDest.base}/ws`, { bearer: tok }), /HTTP 403/);
  // A token can change its own tenant's destinations.
  const patched = await as('PATCH', acmeDest.base, { name: 'from the portal' });
  assert.equal(patched.status, 200, patched.text);

  // A manual retry through the token records its subject as who asked.
  const hook = await sluice.api('POST', `/v1/tenants/${acme}/destinations`, {
    type: 'webhook', config: { url: 'http://127.0.0.1:9/refused' }, retry: { max_retries: 0 },
  });
  const hookBase = `/v1/tenants/${acme}/destinations/${hook.json.id}`;
  const pub = await publish(sluice, acme, 'order.created', { n: 1 });
  const deliveryId = pub.deliveries.find((x) => x.destination_id === hook.json.id).id;
  await deliveryStatus(hookBase, deliveryId, 'failed');
  const retried = await as('POST', `${hookBase}/deliveries/${deliveryId}/retry`);
  assert.equal(retried.status, 202, retried.text);
  const attempts = await eventually(async () => {
    const r = await as('GET', `${hookBase}/deliveries/${deliveryId}/attempts`);
    return r.json.data.length === 2 ? r.json.data : null;
  }, 10_000, { what: 'the manual attempt' });
  assert.ok(attempts.some((a) => a.requested_by === 'portal:alice@example.test'), JSON.stringify(attempts));

  // A tampered or expired-looking token is a 401.
  const forged = `${tok.slice(0, -4)}AAAA`;
  checkProblem(await sluice.api('GET', acmeDest.base, undefined, { key: forged }), 401, 'unauthorized');
  // Minting: bad input is a 422 naming the field; an unknown tenant a 404.
  checkProblem(await sluice.api('POST', `/v1/tenants/${acme}/portal`, { ttl_seconds: 5 }), 422, 'validation');
  checkProblem(await sluice.api('POST', `/v1/tenants/${uniqueId('none')}/portal`, {}), 404, 'not-found');
  await sleep(0);
});
