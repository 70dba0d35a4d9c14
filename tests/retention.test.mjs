// The cron jobs. Retention: the daily purge of finished history older than RETENTION_DAYS,
// keeping anything pending (RETENTION_DAYS is 0 here: "older" means "before the run").
// The sweep: stranded deliveries go to their schedulers (after 0 ms here).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startReceiver } from './helpers/receiver.mjs';
import { startSluice, createWebhook, publish, eventually, sleep } from './helpers/sluice.mjs';

let sluice;
let ok;
let down;

before(async () => {
  sluice = await startSluice({ name: 'retention', vars: { RETENTION_DAYS: '0', STRANDED_AFTER_MS_OVERRIDE: '0' }, extraArgs: ['--test-scheduled'] });
  ok = await startReceiver();
  down = await startReceiver();
  down.setMode({ status: 503 });
}, { timeout: 120_000 });

after(async () => {
  await ok?.close();
  await down?.close();
  if (sluice) await sluice.dispose();
});

test('the retention cron purges finished events, deliveries and attempts, never pending ones', { timeout: 60_000 }, async () => {
  const fine = await createWebhook(sluice, ok, { retry: { max_retries: 0, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 } });
  const failing = await sluice.api('POST', `/v1/tenants/${fine.tenantId}/destinations`, {
    type: 'webhook', topics: ['slow.*'], config: { url: down.url },
    retry: { max_retries: 50, backoff: { type: 'fixed', interval_ms: 60_000 }, jitter: 0 },
  });
  assert.equal(failing.status, 201, failing.text);
  await publish(sluice, fine.tenantId, 'done.one', { n: 1 }, { id: 'finished-1' });
  await publish(sluice, fine.tenantId, 'slow.one', { n: 2 }, { id: 'pending-1' });
  await ok.waitFor(1, 10_000);
  await down.waitFor(1, 10_000);
  const events = async () => (await sluice.api('GET', `/v1/tenants/${fine.tenantId}/events?limit=100`)).json.data.map((e) => e.id).sort();
  await eventually(async () => {
    const e = await sluice.api('GET', `/v1/tenants/${fine.tenantId}/events/finished-1`);
    return e.json?.deliveries?.[0]?.status === 'delivered' && e.json.deliveries[0].history.length === 1;
  }, 10_000, { what: 'finished-1 delivered and recorded' });
  assert.deepEqual(await events(), ['finished-1', 'pending-1']);

  const run = await fetch(`${sluice.url}/__scheduled?cron=${encodeURIComponent('17 3 * * *')}`);
  assert.equal(run.status, 200, await run.text());

  await eventually(async () => JSON.stringify(await events()) === JSON.stringify(['pending-1']), 10_000, { what: 'finished history purged' });
  const kept = await sluice.api('GET', `/v1/tenants/${fine.tenantId}/events/pending-1`);
  assert.equal(kept.status, 200);
  assert.equal(kept.json.deliveries[0].status, 'pending');
  assert.equal(kept.json.deliveries[0].history.length, 1, 'a pending delivery keeps its attempts');
  const gone = await sluice.api('GET', `/v1/tenants/${fine.tenantId}/events/finished-1`);
  assert.equal(gone.status, 404);
});

test('the five-minute sweep hands a stranded delivery (stored, never queued) to its scheduler', { timeout: 60_000 }, async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const rx = await startReceiver();
  try {
    const w = await createWebhook(sluice, rx, { retry: { max_retries: 3, backoff: { type: 'fixed', interval_ms: 100 }, jitter: 0 } });
    // What a publish leaves behind when its Worker dies between D1 and the scheduler:
    // the event and a pending delivery in D1, nothing queued.
    const sql = `INSERT INTO events (tenant_id, id, topic, data, metadata, publish_key, created_at) VALUES ('${w.tenantId}', 'stranded-1', 'sweep.test', '{"n":1}', '{}', 'k', 1000);
      INSERT INTO deliveries (id, tenant_id, event_id, destination_id, topic, status, attempts, created_at, updated_at) VALUES ('dlv_01jc00000000000000000stran', '${w.tenantId}', 'stranded-1', '${w.destinationId}', 'sweep.test', 'pending', 0, 1000, 1000);`;
    await promisify(execFile)('node_modules/.bin/wrangler', ['d1', 'execute', 'sluice', '--local', '--persist-to', sluice.persistDir, '--command', sql], {
      cwd: new URL('..', import.meta.url).pathname,
      env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
    });
    await sleep(300);
    assert.equal(rx.count, 0, 'nothing sends it on its own');

    const run = await fetch(`${sluice.url}/__scheduled?cron=${encodeURIComponent('*/5 * * * *')}`);
    assert.equal(run.status, 200, await run.text());
    const [req] = await rx.waitFor(1, 10_000);
    assert.equal(req.headers['webhook-id'], 'stranded-1');
    assert.deepEqual(JSON.parse(req.body), { n: 1 });

    // A second sweep sends nothing again: the scheduler remembers it delivered it.
    await fetch(`${sluice.url}/__scheduled?cron=${encodeURIComponent('*/5 * * * *')}`);
    await sleep(1000);
    assert.equal(rx.count, 1);
  } finally {
    await rx.close();
  }
});
