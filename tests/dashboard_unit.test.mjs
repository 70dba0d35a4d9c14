// The dashboard's pure functions, in Node (no browser): merge patches for the edit form,
// mapping server error paths to fields, and reading the stats API's intervals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeDiff, findField, humanize } from '../dashboard/form.js';
import { normalizeStats, bucketDeliveries } from '../dashboard/charts.js';
import { tokenClaims, target } from '../dashboard/lib.js';

test('mergeDiff: a JSON merge patch from the stored destination to the edited one', () => {
  const before = {
    name: 'Orders',
    topics: ['order.*'],
    config: { url: 'https://a.test', auth: { type: 'bearer', token: '********' }, headers: { 'x-a': '********' } },
    retry: { max_retries: 5, jitter: 0.1 },
    filter: { data: { a: 1, b: 2 } },
  };
  assert.deepEqual(mergeDiff(before, structuredClone(before)), {}, 'nothing changed, nothing sent');
  const after = structuredClone(before);
  after.config.auth = { type: 'basic', username: 'u', password: 'p' };
  delete after.config.headers;
  after.retry.max_retries = 0;
  after.filter = { data: { a: 1 } };
  after.name = undefined;
  assert.deepEqual(mergeDiff(before, after, ['filter', 'topics']), {
    name: null,
    config: { auth: { type: 'basic', token: null, username: 'u', password: 'p' }, headers: null },
    retry: { max_retries: 0 },
    // a filter is replaced whole, not merged (the API replaces it)
    filter: { data: { a: 1 } },
  });
  // The masked secret sent back unchanged is no change at all.
  assert.deepEqual(mergeDiff({ config: { auth: { token: '********' } } }, { config: { auth: { token: '********' } } }), {});
});

test('findField: a server error path names the field, or its nearest ancestor', () => {
  const fields = new Map([
    ['config.url', 'url'],
    ['config.auth', 'auth'],
    ['retry.backoff.intervals_ms', 'intervals'],
    ['timeout_ms', 'timeout'],
  ]);
  assert.equal(findField(fields, 'config.url'), 'url');
  assert.equal(findField(fields, 'config.auth.token'), 'auth');
  assert.equal(findField(fields, 'retry.backoff.intervals_ms[2]'), 'intervals');
  assert.equal(findField(fields, 'timeout_ms'), 'timeout');
  assert.equal(findField(fields, 'config.nope'), null);
  assert.equal(findField(fields, ''), null);
});

test('normalizeStats reads the per-destination stats in the shapes it may come in', () => {
  const a = normalizeStats({ window: '1h', intervals: [{ start: '2026-11-23T12:00:00Z', delivered: 5, failed: 1, p50_ms: 40, p90_ms: 90, p99_ms: 200 }] });
  assert.deepEqual(a, [{ start: new Date('2026-11-23T12:00:00Z'), delivered: 5, failed: 1, p50: 40, p90: 90, p99: 200 }]);
  const b = normalizeStats({ data: [{ start: '2026-11-23T12:05:00Z', delivered: 2, failed: 0, latency_ms: { p50: 10, p90: 20, p99: 30 } }] });
  assert.deepEqual([b[0].p50, b[0].p90, b[0].p99], [10, 20, 30]);
  const c = normalizeStats({ intervals: [{ start: '2026-11-23T12:05:00Z', delivered: 0, failed: 0, p50_ms: null }] });
  assert.equal(c[0].p50, null, 'an interval without deliveries has no latency');
  assert.deepEqual(normalizeStats(null), []);
  assert.deepEqual(normalizeStats({ intervals: 'nope' }), []);
});

test('bucketDeliveries counts delivered and failed per interval of the window', () => {
  const now = Date.parse('2026-11-23T13:00:00Z');
  const at = (min) => new Date(now - min * 60_000).toISOString();
  const out = bucketDeliveries(
    [
      { status: 'delivered', updated_at: at(1) },
      { status: 'failed', updated_at: at(2) },
      { status: 'delivered', updated_at: at(57) },
      { status: 'pending', updated_at: at(3) },
      { status: 'delivered', updated_at: at(90) }, // outside the hour
    ],
    3600_000,
    12,
    now,
  );
  assert.equal(out.length, 12);
  assert.deepEqual([out[11].delivered, out[11].failed], [1, 1]);
  assert.deepEqual([out[0].delivered, out[0].failed], [1, 0]);
  assert.equal(out.reduce((n, b) => n + b.delivered + b.failed, 0), 3);
});

test('tokenClaims reads the tenant of a portal token; anything else is refused', () => {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const token = `${b64({ alg: 'HS256' })}.${b64({ tid: 'acme', sub: 'portal:alice', exp: 2_000_000_000 })}.sig`;
  assert.deepEqual(tokenClaims(token), { tid: 'acme', sub: 'portal:alice', exp: 2_000_000_000 });
  assert.equal(tokenClaims('sluice-dev-admin-key'), null);
  assert.equal(tokenClaims(`x.${b64({ sub: 'no tenant' })}.y`), null);
  assert.equal(tokenClaims('a.%%%.b'), null);
});

test('labels and targets read as words', () => {
  assert.equal(humanize('queue_url'), 'Queue URL');
  assert.equal(humanize('access_key_id'), 'Access key ID');
  assert.equal(target({ type: 'aws_s3', config: { bucket: 'b' } }), 's3://b');
  assert.equal(target({ type: 'websocket', config: {} }), 'connected WebSocket clients');
  assert.equal(target({ type: 'webhook', config: { url: 'https://x.test/h' } }), 'https://x.test/h');
});
