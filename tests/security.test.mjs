// Security checks (issue 6 §5), against Sluice on local workerd:
// - every operation of the OpenAPI document (enumerated from it, so a new route is covered
//   without editing this file) refuses a missing, wrong, expired or tampered credential with
//   401, and a tenant token outside its tenant with 403;
// - no credential given to any destination type, nor the admin key, shows in any API
//   response, attempt record or log line;
// - destination URLs on private, loopback and link-local addresses are refused when
//   ALLOW_PRIVATE_DESTINATIONS is off (the production setting);
// - CR/LF in custom headers, topics and metadata is refused at the edge.
// Issue 13 (a tenant abusing the operator's resources): email channels and test sends, bodies
// read up to their cap, credentials kept across a scheme or port change, REQUIRE_HTTPS,
// templated URLs masked, the admin key refused in a URL, alert thresholds' floor, and the
// IANA special-purpose ranges in every URL field of every type (alert channels included).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { startReceiver } from './helpers/receiver.mjs';
import {
  ADMIN_KEY,
  REPO_ROOT,
  startSluice,
  publish,
  eventually,
  uniqueId,
  checkProblem,
} from './helpers/sluice.mjs';

let sluice;
/**
 * Sluice as in production: ALLOW_PRIVATE_DESTINATIONS=false, REQUIRE_HTTPS=true, and an
 * EMAIL binding whose portal users may use the domain acme.example only.
 */
let strict;
const EMAIL_DOMAIN = 'acme.example';

before(async () => {
  // The same Worker with `[[send_email]] name = "EMAIL"`: a config beside wrangler.toml, so
  // that main, migrations and .dev.vars resolve as usual.
  const config = path.join(REPO_ROOT, 'wrangler.security-strict.toml');
  fs.writeFileSync(config, fs.readFileSync(path.join(REPO_ROOT, 'wrangler.toml'), 'utf8') + '\n[[send_email]]\nname = "EMAIL"\n');
  try {
    [sluice, strict] = await Promise.all([
      startSluice({ name: 'security' }),
      startSluice({
        name: 'security-strict',
        vars: { ALLOW_PRIVATE_DESTINATIONS: 'false', REQUIRE_HTTPS: 'true', ALERT_EMAIL_DOMAINS: EMAIL_DOMAIN },
        config,
      }),
    ]);
  } finally {
    fs.rmSync(config, { force: true });
  }
}, { timeout: 180_000 });

after(async () => {
  await Promise.all([sluice?.dispose(), strict?.dispose()]);
});

const DOC = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'src', 'api', 'openapi.json'), 'utf8'));
const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const OPERATIONS = Object.entries(DOC.paths).flatMap(([p, item]) =>
  Object.keys(item)
    .filter((m) => METHODS.includes(m))
    .map((m) => ({ method: m.toUpperCase(), path: p, public: Array.isArray(item[m].security) && item[m].security.length === 0 })),
);
const TENANT_PREFIX = '/v1/tenants/{tenant_id}';
/** The shared catalogues any tenant token may read (README, "Tenant tokens"). */
const SHARED = new Set([
  'GET /v1/openapi.json', 'GET /v1/topics', 'GET /v1/topics/{topic}', 'POST /v1/filters/test', 'GET /v1/destination-types',
  'GET /v1/templates', 'GET /v1/templates/{template}', 'POST /v1/transforms/test',
]);
/** Under a tenant's path, yet for the admin key only. */
const ADMIN_UNDER_TENANT = new Set(['PATCH /v1/tenants/{tenant_id}', 'DELETE /v1/tenants/{tenant_id}', 'POST /v1/tenants/{tenant_id}/portal']);

// --- tenant tokens, crafted the way core::tokens makes them -----------------------------------

function devVar(name) {
  const file = fs.existsSync(path.join(REPO_ROOT, '.dev.vars')) ? '.dev.vars' : '.dev.vars.example';
  const line = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8').split('\n').find((l) => l.startsWith(`${name}=`));
  return line.slice(name.length + 1).trim();
}
const ENCRYPTION_KEY = devVar('ENCRYPTION_KEY');
const b64url = (buf) => Buffer.from(buf).toString('base64url');

/** HS256 JWT signed with HMAC-SHA256(ENCRYPTION_KEY bytes, "sluice tenant token v1"). */
function craftToken(claims, { key = ENCRYPTION_KEY, header = { alg: 'HS256', typ: 'JWT' } } = {}) {
  const signingKey = crypto.createHmac('sha256', Buffer.from(key, 'base64')).update('sluice tenant token v1').digest();
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(crypto.createHmac('sha256', signingKey).update(input).digest())}`;
}
const nowSecs = () => Math.floor(Date.now() / 1000);
const claimsFor = (tid, extra = {}) => ({ iss: 'sluice', sub: 'portal:mallory', tid, iat: nowSecs() - 10, exp: nowSecs() + 600, ...extra });

async function mint(tenantId) {
  const r = await sluice.apiOk('POST', `/v1/tenants/${tenantId}/portal`, { subject: 'portal:tester', ttl_seconds: 600 }, 201);
  return r.json.token;
}

/** A tenant with a topic, a webhook destination (closed port, no retries) and one failed delivery. */
async function seedTenant(prefix) {
  const tenantId = uniqueId(prefix);
  const topic = `sec.${prefix}`;
  await sluice.apiOk('POST', '/v1/tenants', { id: tenantId }, 201);
  const d = await sluice.apiOk('POST', `/v1/tenants/${tenantId}/destinations`, {
    type: 'webhook', config: { url: 'http://127.0.0.1:9/closed' }, retry: { max_retries: 0 },
  }, 201);
  const ev = await publish(sluice, tenantId, topic, { n: 1 }, { id: uniqueId('evt') });
  return { tenantId, topic, destinationId: d.json.id, deliveryId: ev.deliveries[0].id, eventId: ev.id };
}

function concretePath(template, ids) {
  return template
    .replace('{tenant_id}', ids.tenantId)
    .replace('{destination_id}', ids.destinationId)
    .replace('{delivery_id}', ids.deliveryId)
    .replace('{event_id}', ids.eventId)
    .replace('{topic}', ids.topic)
    .replace('{template}', 'slack')
    .replace(/\{[a-z_]+\}/g, (m) => assert.fail(`no value for the path parameter ${m}: teach concretePath about it`));
}

const bodyFor = (method) => (method === 'POST' || method === 'PATCH' ? {} : undefined);
const isAuthError = (status) => status === 401 || status === 403;

// --- §5.1 authentication and tenant confinement ----------------------------------------------

test('the document lists the routes this test walks, /healthz alone public', () => {
  assert.ok(OPERATIONS.length >= 30, `only ${OPERATIONS.length} operations in openapi.json`);
  assert.deepEqual(OPERATIONS.filter((o) => o.public).map((o) => o.path), ['/healthz']);
});

test('every operation: no key, a wrong key or a malformed credential → 401 problem+json', { timeout: 120_000 }, async () => {
  const ids = await seedTenant('noauth');
  const bad = [
    ['no Authorization header', { key: null }],
    ['a wrong key', { key: 'not-the-admin-key' }],
    ['the admin key with a suffix', { key: `${ADMIN_KEY}x` }],
    ['an empty bearer', { key: null, headers: { authorization: 'Bearer ' } }],
    ['Basic credentials', { key: null, headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_KEY}`).toString('base64')}` } }],
    ['the key without "Bearer"', { key: null, headers: { authorization: ADMIN_KEY } }],
  ];
  for (const op of OPERATIONS) {
    const p = concretePath(op.path, ids);
    for (const [what, opts] of bad) {
      const r = await sluice.api(op.method, p, bodyFor(op.method), opts);
      if (op.public) {
        assert.equal(r.status, 200, `${op.method} ${op.path} is public`);
      } else {
        checkProblem(r, 401, 'unauthorized', `${op.method} ${op.path} with ${what}`);
        assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      }
    }
  }
  // Nothing the refused calls asked for happened.
  const d = await sluice.apiOk('GET', `/v1/tenants/${ids.tenantId}/destinations/${ids.destinationId}`);
  assert.equal(d.json.enabled, true);
});

test("every operation: a tenant token of another tenant → 403, except the shared catalogues", { timeout: 120_000 }, async () => {
  const victim = await seedTenant('victim');
  const attacker = await seedTenant('attacker');
  const token = await mint(attacker.tenantId);
  let shared = 0;
  for (const op of OPERATIONS.filter((o) => !o.public)) {
    const key = `${op.method} ${op.path}`;
    const r = await sluice.api(op.method, concretePath(op.path, victim), bodyFor(op.method), { key: token });
    if (SHARED.has(key)) {
      shared += 1;
      assert.ok(!isAuthError(r.status), `${key}: a shared catalogue answers any tenant token, got ${r.status} ${r.text}`);
      assert.ok(r.status < 500, `${key}: ${r.status} ${r.text}`);
    } else {
      checkProblem(r, 403, 'forbidden', `${key} with another tenant's token`);
    }
  }
  assert.equal(shared, SHARED.size, 'every shared catalogue is in the document');
  // The victim's things are untouched.
  const d = await sluice.apiOk('GET', `/v1/tenants/${victim.tenantId}/destinations/${victim.destinationId}`);
  assert.equal(d.json.enabled, true);
  const t = await sluice.apiOk('GET', `/v1/tenants/${victim.tenantId}`);
  assert.equal(t.json.id, victim.tenantId);
});

test("every operation: a tenant's own token reaches its routes, not the admin's", { timeout: 120_000 }, async () => {
  const own = await seedTenant('own');
  const token = await mint(own.tenantId);
  // Deletes last, so that the other calls still find the resources.
  const ops = OPERATIONS.filter((o) => !o.public).sort((a, b) => (a.method === 'DELETE') - (b.method === 'DELETE'));
  for (const op of ops) {
    const key = `${op.method} ${op.path}`;
    const r = await sluice.api(op.method, concretePath(op.path, own), bodyFor(op.method), { key: token });
    const reachable = SHARED.has(key) || (op.path.startsWith(TENANT_PREFIX) && !ADMIN_UNDER_TENANT.has(key));
    if (reachable) {
      assert.ok(!isAuthError(r.status), `${key}: its own tenant's token is refused: ${r.status} ${r.text}`);
      assert.ok(r.status < 500, `${key}: ${r.status} ${r.text}`);
    } else {
      checkProblem(r, 403, 'forbidden', `${key} is for the admin key only`);
    }
  }
  const t = await sluice.apiOk('GET', `/v1/tenants/${own.tenantId}`);
  assert.equal(t.json.id, own.tenantId, 'DELETE of the tenant itself was refused');
});

test('expired, tampered, foreign-key and unsigned tokens → 401 on every non-public operation', { timeout: 120_000 }, async () => {
  const ids = await seedTenant('tokens');
  // The crafting is right: a fresh token made here is accepted.
  const good = craftToken(claimsFor(ids.tenantId));
  await sluice.apiOk('GET', `/v1/tenants/${ids.tenantId}/destinations`, undefined, 200, { key: good });

  const minted = await mint(ids.tenantId);
  const [h, payload, sig] = minted.split('.');
  const otherClaims = { ...JSON.parse(Buffer.from(payload, 'base64url')), tid: 'someone-else' };
  const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11);
  const bad = {
    expired: craftToken(claimsFor(ids.tenantId, { iat: nowSecs() - 700, exp: nowSecs() - 100 })),
    'expiring this second': craftToken(claimsFor(ids.tenantId, { exp: nowSecs() })),
    'payload swapped, signature kept': `${h}.${b64url(JSON.stringify(otherClaims))}.${sig}`,
    'signature changed': `${h}.${payload}.${flipped}`,
    'signature removed': `${h}.${payload}.`,
    'alg none': `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${payload}.`,
    'signed with another key': craftToken(claimsFor(ids.tenantId), { key: Buffer.alloc(32, 7).toString('base64') }),
    'signed with the raw ENCRYPTION_KEY': (() => {
      const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claimsFor(ids.tenantId)))}`;
      return `${input}.${b64url(crypto.createHmac('sha256', Buffer.from(ENCRYPTION_KEY, 'base64')).update(input).digest())}`;
    })(),
    'another issuer': craftToken(claimsFor(ids.tenantId, { iss: 'not-sluice' })),
    'no exp': craftToken((({ exp, ...rest }) => rest)(claimsFor(ids.tenantId))),
    'HS512': craftToken(claimsFor(ids.tenantId), { header: { alg: 'HS512', typ: 'JWT' } }),
  };
  for (const op of OPERATIONS.filter((o) => !o.public)) {
    for (const [what, token] of Object.entries(bad)) {
      const r = await sluice.api(op.method, concretePath(op.path, ids), bodyFor(op.method), { key: token });
      checkProblem(r, 401, 'unauthorized', `${op.method} ${op.path} with a token ${what}`);
    }
  }
  // A browser WebSocket client sends its token in the query: the same checks apply there.
  const ws = `/v1/tenants/${ids.tenantId}/destinations/${ids.destinationId}/ws?access_token=`;
  checkProblem(await sluice.api('GET', ws + encodeURIComponent(bad.expired), undefined, { key: null }), 401, 'unauthorized');
  // …and only there: a token in the query of any other route is not a credential.
  const q = await sluice.api('GET', `/v1/tenants/${ids.tenantId}/destinations?access_token=${encodeURIComponent(minted)}`, undefined, { key: null });
  checkProblem(q, 401, 'unauthorized', 'a query token outside the WebSocket route');
});

// --- §5.2 no secret in any response, attempt record or log line -------------------------------

test('credentials of every destination type never show in answers, attempts or logs', { timeout: 180_000 }, async () => {
  const mark = `mk${crypto.randomBytes(6).toString('hex')}`;
  const secret = (name) => `${mark}-${name}`;
  const closed = 'http://127.0.0.1:9';
  const { privateKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const givenSigningSecret = `whsec_${crypto.randomBytes(24).toString('base64')}`;
  const configs = {
    'webhook (bearer, custom header, own signing secret)': { type: 'webhook', config: {
      url: `${closed}/bearer`, headers: { 'x-partner-key': secret('header') },
      auth: { type: 'bearer', token: secret('bearer') },
      signing: { scheme: 'standard_webhooks', secret: givenSigningSecret } } },
    'webhook (basic)': { type: 'webhook', config: { url: `${closed}/basic`, auth: { type: 'basic', username: 'sluice', password: secret('basic') } } },
    'webhook (api key, hmac)': { type: 'webhook', config: { url: `${closed}/apikey`, auth: { type: 'api_key', header: 'x-api-key', key: secret('apikey') },
      signing: { scheme: 'hmac', header: 'x-signature', algorithm: 'sha256', encoding: 'hex' } } },
    aws_sqs: { type: 'aws_sqs', config: { queue_url: `${closed}/123456789012/orders`, region: 'us-east-1',
      access_key_id: 'AKIDEXAMPLE', secret_access_key: secret('sqs'), session_token: secret('session') } },
    aws_eventbridge: { type: 'aws_eventbridge', config: { event_bus_name: 'orders', region: 'us-east-1', endpoint: closed,
      access_key_id: 'AKIDEXAMPLE', secret_access_key: secret('eventbridge') } },
    aws_s3: { type: 'aws_s3', config: { bucket: 'events', region: 'us-east-1', endpoint: closed, path_style: true,
      access_key_id: 'AKIDEXAMPLE', secret_access_key: secret('s3') } },
    gcp_pubsub: { type: 'gcp_pubsub', config: { topic: 'orders', endpoint: closed, service_account: {
      type: 'service_account', project_id: 'acme-project', private_key_id: 'k1', private_key: privateKey,
      client_email: 'publisher@acme.iam.gserviceaccount.com', token_uri: `${closed}/token` } } },
    kafka: { type: 'kafka', config: { endpoint: closed, cluster_id: 'lkc-1', topic: 'orders',
      auth: { type: 'basic', username: 'key', password: secret('kafka') } } },
    rabbitmq: { type: 'rabbitmq', config: { endpoint: closed, exchange: 'orders', username: 'sluice', password: secret('rabbit') } },
    websocket: { type: 'websocket', config: {} },
    // Alert channels: the chat webhook URLs are their credential, so is PagerDuty's key.
    slack: { type: 'slack', topics: ['sluice.alert.*'], config: { url: `${closed}/services/T0/B0/${secret('slack')}` } },
    discord: { type: 'discord', topics: ['sluice.alert.*'], config: { url: `${closed}/api/webhooks/1/${secret('discord')}` } },
    pagerduty: { type: 'pagerduty', topics: ['sluice.alert.*'], config: { routing_key: `${mark}pagerduty`, endpoint: `${closed}/v2/enqueue` } },
    // A destination made from a template: its URL's path is the credential (a local
    // stand-in for hooks.zapier.com, which the development setting lets through).
    'zapier template': { template: 'zapier', config: { url: `${closed}/hooks/catch/1/${mark}zapier` } },
  };
  const keyBody = privateKey.split('\n').slice(1, -2).join('');
  const secrets = {
    ...Object.fromEntries(['header', 'bearer', 'basic', 'apikey', 'sqs', 'session', 'eventbridge', 's3', 'kafka', 'rabbit', 'slack', 'discord'].map((n) => [n, secret(n)])),
    'pagerduty routing key': `${mark}pagerduty`,
    'zapier URL path': `${mark}zapier`,
    'pubsub private key': keyBody.slice(100, 164),
    'given signing secret': givenSigningSecret,
    'admin key': ADMIN_KEY,
    ENCRYPTION_KEY,
  };

  const tenantId = uniqueId('secrets');
  const topic = 'sec.secrets';
  await sluice.apiOk('POST', '/v1/tenants', { id: tenantId, metadata: { plan: 'pro' } }, 201);
  /** Every answer this test reads, but the two that hand a signing secret out by design. */
  const seen = [];
  const call = async (method, p, body, expected) => {
    const r = await sluice.apiOk(method, p, body, expected);
    seen.push(`${method} ${p} → ${r.text}`);
    return r;
  };
  const base = `/v1/tenants/${tenantId}/destinations`;
  const ids = {};
  const handedOut = [];
  for (const [name, body] of Object.entries(configs)) {
    const r = await sluice.apiOk('POST', base, { topics: ['sec.*'], retry: { max_retries: 0 }, timeout_ms: 1000, ...body }, 201);
    ids[name] = r.json.id;
    if (r.json.signing_secret) handedOut.push(r.json.signing_secret);
    // The create answer shows the signing secret once; nothing else secret.
    const { signing_secret: _, ...rest } = r.json;
    seen.push(`POST ${base} (${name}) → ${JSON.stringify(rest)}`);
  }
  assert.ok(handedOut.includes(givenSigningSecret), 'the given signing secret is handed back once at create');
  const rotated = await sluice.apiOk('POST', `${base}/${ids['webhook (basic)']}/signing-secret/rotate`, undefined, 200);
  handedOut.push(rotated.json.signing_secret);
  handedOut.forEach((s, i) => (secrets[`signing secret #${i}`] = s));

  // A PATCH that sends the masks back keeps the credentials; a bad one is refused (and must
  // not echo them either).
  for (const [name, id] of Object.entries(ids)) {
    const current = (await call('GET', `${base}/${id}`)).json;
    await call('PATCH', `${base}/${id}`, { name: `patched ${name}`.slice(0, 100), config: current.config }, 200);
    const bad = await sluice.api('PATCH', `${base}/${id}`, { config: { ...current.config, nonsense: true } });
    assert.equal(bad.status, 422, bad.text);
    seen.push(`PATCH (bad) ${name} → ${bad.text}`);
  }

  // Deliveries that fail (closed port, no retries): attempt records exist for every type.
  const ev = await publish(sluice, tenantId, topic, { order: 1 }, { id: uniqueId('evt'), metadata: { region: 'eu' } });
  const alertOnly = Object.values(configs).filter((c) => c.topics).length;
  assert.equal(ev.deliveries.length, Object.keys(configs).length - alertOnly, JSON.stringify(ev));
  for (const d of ev.deliveries) {
    await eventually(async () => {
      const r = await sluice.api('GET', `${base}/${d.destination_id}/deliveries/${d.id}/attempts`);
      return r.json?.data?.length >= 1;
    }, 30_000, { what: `an attempt of ${d.destination_id}` });
  }
  // A manual retry adds an attempt of its own, with who asked.
  const webhookDelivery = ev.deliveries.find((d) => d.destination_id === ids['webhook (basic)']);
  await eventually(async () => (await sluice.api('POST', `${base}/${webhookDelivery.destination_id}/deliveries/${webhookDelivery.id}/retry`)).status === 202, 15_000, { what: 'a manual retry' });

  // Read back everything the API shows about this tenant.
  await call('GET', `/v1/tenants/${tenantId}`);
  await call('GET', `${base}?limit=100`);
  for (const id of Object.values(ids)) {
    await call('GET', `${base}/${id}`);
    await call('GET', `${base}/${id}/status`);
    await call('POST', `${base}/${id}/circuit/reset`, undefined, 200);
    for (const status of ['', '?status=failed', '?status=pending', '?status=delivered']) {
      const list = await call('GET', `${base}/${id}/deliveries${status}`);
      for (const d of list.json.data) await call('GET', `${base}/${id}/deliveries/${d.id}/attempts`);
    }
  }
  // Every type's test send (each fails on the closed port): its answer is scanned too.
  for (const id of Object.values(ids)) {
    if (id === ids.websocket) continue; // no client connected: nothing to send to
    await call('POST', `${base}/${id}/test`, undefined, 200);
  }
  await call('GET', `/v1/tenants/${tenantId}/events?limit=100`);
  await call('GET', `/v1/tenants/${tenantId}/events/${ev.id}`);
  await call('GET', '/v1/destination-types');
  const attempts = seen.filter((s) => s.includes('/attempts →')).join('\n');
  assert.match(attempts, /"error"/, 'attempt records were read');

  // Let the schedulers' outboxes and logs settle, then scan.
  await new Promise((r) => setTimeout(r, 1000));
  const logFile = fs.readFileSync(sluice.logFile, 'utf8');
  const sources = { 'API answers': seen.join('\n'), 'runtime output': sluice.log, [sluice.logFile]: logFile };
  for (const [what, text] of Object.entries(sources)) {
    for (const [name, value] of Object.entries(secrets)) {
      assert.ok(value.length >= 12, `${name} is long enough to scan for`);
      const at = text.indexOf(value);
      assert.equal(at, -1, `${name} appears in ${what}: …${text.slice(Math.max(0, at - 200), at + 100)}…`);
    }
  }
  // The scan saw the things it scanned for: the masks and the attempt errors.
  assert.match(seen.join('\n'), /\*{8}/);
  assert.match(seen.join('\n'), /"username":"sluice"/);
  assert.ok(logFile.length > 0);
});

// --- §5.3 private, loopback and link-local destinations ----------------------------------------

const PRIVATE_HOSTS = [
  '127.0.0.1', '127.1', '127.255.255.254', '0.0.0.0', '0', '10.0.0.1', '172.16.5.4', '192.168.1.1',
  '169.254.169.254', '100.64.0.1', 'localhost', 'LOCALHOST.', 'api.localhost', 'printer.local',
  // The same addresses spelled as one number, in hex, in octal, and mixed.
  '2130706433', '0x7f000001', '0177.0.0.1', '0x7f.0.0.1', '017700000001', '3232235777', '0xa9fea9fe',
  '[::1]', '[::]', '[0:0:0:0:0:0:0:1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[::ffff:a9fe:a9fe]',
  '[fe80::1]', '[fd00::1]', '[fc00::5]',
  // IPv4 inside IPv6: IPv4-compatible, NAT64 and 6to4 forms of private addresses.
  '[::127.0.0.1]', '[::a9fe:a9fe]', '[64:ff9b::7f00:1]', '[64:ff9b::a9fe:a9fe]', '[2002:7f00:1::]', '[2002:a9fe:a9fe::1]',
  // Multicast and reserved.
  '224.0.0.1', '240.0.0.1', '255.255.255.255', '[ff02::1]',
  // The rest of the IANA special-purpose registries (issue 13 §10): IETF protocol
  // assignments, benchmarking, documentation, AS112, AMT, the 6to4 relay anycast…
  '192.0.0.1', '192.0.0.170', '198.18.0.1', '198.19.255.254', '192.0.2.1', '198.51.100.7', '203.0.113.9',
  '192.88.99.1', '192.31.196.1', '192.175.48.1', '192.52.193.1',
  // …the ::ffff:0:0/96 family (mapped, translated) of private addresses, local-use NAT64,
  // NAT64 of benchmarking, discard-only, Teredo, ORCHID, documentation, AS112 and SRv6.
  '[::ffff:10.0.0.1]', '[::ffff:198.18.0.1]', '[::ffff:0:7f00:1]', '[::ffff:0:a9fe:a9fe]',
  '[64:ff9b:1::5db8:d70e]', '[64:ff9b::c612:1]', '[100::1]', '[2001::1]', '[2001:0:4136:e378:8000:63bf:3fff:fdd2]',
  '[2001:10::1]', '[2001:db8::1]', '[3fff::1]', '[2620:4f:8000::1]', '[5f00::1]', '[2002:c612:1::]',
];

/** Every URL field of every type, as a function from a URL to a create body. */
const URL_FIELDS = {
  'webhook config.url': (u) => ({ type: 'webhook', config: { url: u } }),
  'aws_sqs config.queue_url': (u) => ({ type: 'aws_sqs', config: { queue_url: `${u}/123456789012/q`, region: 'us-east-1', access_key_id: 'AKID', secret_access_key: 'x' } }),
  'aws_sqs config.endpoint': (u) => ({ type: 'aws_sqs', config: { queue_url: 'https://sqs.us-east-1.amazonaws.com/123456789012/q', endpoint: u, region: 'us-east-1', access_key_id: 'AKID', secret_access_key: 'x' } }),
  'aws_eventbridge config.endpoint': (u) => ({ type: 'aws_eventbridge', config: { event_bus_name: 'orders', endpoint: u, region: 'us-east-1', access_key_id: 'AKID', secret_access_key: 'x' } }),
  'aws_s3 config.endpoint': (u) => ({ type: 'aws_s3', config: { bucket: 'events', endpoint: u, region: 'us-east-1', access_key_id: 'AKID', secret_access_key: 'x' } }),
  'gcp_pubsub config.endpoint': (u, key) => ({ type: 'gcp_pubsub', config: { topic: 'orders', endpoint: u, service_account: { private_key: key, client_email: 'p@acme.iam.gserviceaccount.com', project_id: 'acme-project' } } }),
  'gcp_pubsub config.service_account.token_uri': (u, key) => ({ type: 'gcp_pubsub', config: { topic: 'orders', service_account: { private_key: key, client_email: 'p@acme.iam.gserviceaccount.com', project_id: 'acme-project', token_uri: `${u}/token` } } }),
  'kafka config.endpoint': (u) => ({ type: 'kafka', config: { endpoint: u, cluster_id: 'lkc-1', topic: 'orders' } }),
  'rabbitmq config.endpoint': (u) => ({ type: 'rabbitmq', config: { endpoint: u, exchange: 'orders', username: 'sluice', password: 'p' } }),
  // The alert channels.
  'slack config.url': (u) => ({ type: 'slack', topics: ['sluice.alert.*'], config: { url: `${u}/services/T0/B0/x` } }),
  'discord config.url': (u) => ({ type: 'discord', topics: ['sluice.alert.*'], config: { url: `${u}/api/webhooks/1/x` } }),
  'pagerduty config.endpoint': (u) => ({ type: 'pagerduty', topics: ['sluice.alert.*'], config: { routing_key: 'R0UT1NG', endpoint: `${u}/v2/enqueue` } }),
};

/** A tenant on the strict Sluice, and a Pub/Sub service-account key: for the URL-field walks. */
async function strictTenant(prefix) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const tenantId = uniqueId(prefix);
  await strict.apiOk('POST', '/v1/tenants', { id: tenantId }, 201);
  return { privateKey, base: `/v1/tenants/${tenantId}/destinations` };
}

test('ALLOW_PRIVATE_DESTINATIONS=false: private, loopback and link-local URLs → 422 in every URL field', { timeout: 300_000 }, async () => {
  const { privateKey, base } = await strictTenant('strict');
  for (const [field, body] of Object.entries(URL_FIELDS)) {
    const name = field.split(' ')[1];
    // A public address is accepted (creating a destination sends nothing)…
    const ok = await strict.api('POST', base, body('https://events.example.com', privateKey));
    assert.equal(ok.status, 201, `${field} with a public URL: ${ok.text}`);
    // …and no spelling of a private one is.
    for (const [i, host] of PRIVATE_HOSTS.entries()) {
      const url = i % 2 ? `http://${host}` : `https://${host}:8443`;
      const r = await strict.api('POST', base, body(url, privateKey));
      const p = checkProblem(r, 422, 'validation', `${field} = ${url}`);
      assert.ok(p.errors.some((e) => e.field === name), `${field} = ${url} names the field: ${r.text}`);
    }
    // Nor may a PATCH move an existing destination there.
    const patch = name.startsWith('config.service_account')
      ? { config: { service_account: { token_uri: 'http://169.254.169.254/token' } } }
      : { config: { [name.split('.')[1]]: name === 'config.queue_url' ? 'http://169.254.169.254/123456789012/q' : 'http://169.254.169.254' } };
    const r = await strict.api('PATCH', `${base}/${ok.json.id}`, patch);
    checkProblem(r, 422, 'validation', `PATCH ${field} to the metadata address`);
  }
  // The development setting (on in every other test file) lets the same URLs through.
  const dev = uniqueId('dev');
  await sluice.apiOk('POST', '/v1/tenants', { id: dev }, 201);
  for (const host of ['127.0.0.1', '[::1]', 'localhost', '10.0.0.1']) {
    await sluice.apiOk('POST', `/v1/tenants/${dev}/destinations`, { type: 'webhook', config: { url: `http://${host}:9/x` } }, 201);
  }
});

// --- §5.4 header injection ---------------------------------------------------------------------

test('CR/LF (and other control characters) in headers, topics and metadata → 422 at the edge', { timeout: 120_000 }, async () => {
  const tenantId = uniqueId('crlf');
  await sluice.apiOk('POST', '/v1/tenants', { id: tenantId }, 201);
  const base = `/v1/tenants/${tenantId}/destinations`;
  const url = 'http://127.0.0.1:9/x';
  const injections = ['a\r\nx-injected: 1', 'a\nx-injected: 1', 'a\rb', 'a\u0000b', '\r\n\r\nHTTP/1.1 200 OK'];
  const refuse = async (r, what, field) => {
    const p = checkProblem(r, 422, 'validation', what);
    if (field) assert.ok(p.errors.some((e) => e.field.startsWith(field)), `${what}: ${r.text}`);
  };
  for (const bad of injections) {
    const what = JSON.stringify(bad);
    await refuse(await sluice.api('POST', base, { type: 'webhook', config: { url, headers: { 'x-ok': bad } } }), `header value ${what}`, 'config.headers');
    await refuse(await sluice.api('POST', base, { type: 'webhook', config: { url, headers: { [`x-${bad}`]: 'v' } } }), `header name ${what}`, 'config.headers');
    await refuse(await sluice.api('POST', base, { type: 'webhook', config: { url, auth: { type: 'bearer', token: bad } } }), `bearer token ${what}`, 'config.auth.token');
    await refuse(await sluice.api('POST', base, { type: 'webhook', config: { url, auth: { type: 'api_key', header: `x-${bad}`, key: 'k' } } }), `api key header ${what}`, 'config.auth.header');
    await refuse(await sluice.api('POST', base, { type: 'webhook', config: { url, auth: { type: 'api_key', header: 'x-key', key: bad } } }), `api key ${what}`, 'config.auth.key');
    await refuse(await sluice.api('POST', base, { type: 'webhook', config: { url, signing: { scheme: 'hmac', header: `x-${bad}` } } }), `hmac header ${what}`, 'config.signing.header');
    await refuse(await sluice.api('POST', base, { type: 'webhook', config: { url }, topics: [`order.${bad}`] }), `subscribed topic ${what}`, 'topics');
    await refuse(await sluice.api('POST', '/v1/topics', { name: `order.${bad}` }), `catalogue topic ${what}`);
    await refuse(await sluice.api('POST', '/v1/publish', { tenant_id: tenantId, topic: `order.${bad}`, data: {} }), `published topic ${what}`, 'topic');
    await refuse(await sluice.api('POST', '/v1/publish', { tenant_id: tenantId, topic: 'order.created', data: {}, metadata: { region: bad } }), `metadata value ${what}`, 'metadata');
    await refuse(await sluice.api('POST', '/v1/publish', { tenant_id: tenantId, topic: 'order.created', data: {}, metadata: { [`r${bad}`]: 'eu' } }), `metadata key ${what}`, 'metadata');
    await refuse(await sluice.api('POST', '/v1/publish', { tenant_id: tenantId, topic: 'order.created', data: {}, id: `evt${bad}` }), `event id ${what}`, 'id');
  }
  // A PATCH cannot slip one in either.
  const d = await sluice.apiOk('POST', base, { type: 'webhook', config: { url, headers: { 'x-ok': 'fine' } } }, 201);
  await refuse(await sluice.api('PATCH', `${base}/${d.json.id}`, { config: { headers: { 'x-ok': 'a\r\nx-injected: 1' } } }), 'PATCH header value', 'config.headers');
  // Nothing was stored: only the one good destination exists, and no event.
  const list = await sluice.apiOk('GET', base);
  assert.equal(list.json.data.length, 1);
  assert.deepEqual(list.json.data[0].config.headers, { 'x-ok': '********' });
  const events = await sluice.apiOk('GET', `/v1/tenants/${tenantId}/events`);
  assert.deepEqual(events.json.data, []);
});

// --- credentials follow their endpoint ---------------------------------------------------------

test('a PATCH that moves the URL to another host must give the credentials again', { timeout: 120_000 }, async () => {
  const rx = await startReceiver();
  try {
    const tenantId = uniqueId('redirect');
    await sluice.apiOk('POST', '/v1/tenants', { id: tenantId }, 201);
    const base = `/v1/tenants/${tenantId}/destinations`;
    const d = await sluice.apiOk('POST', base, {
      type: 'webhook', topics: ['sec.*'],
      config: { url: rx.url, auth: { type: 'bearer', token: 'stored-bearer-secret' }, headers: { 'x-key': 'stored-header-secret' } },
    }, 201);
    const dest = `${base}/${d.json.id}`;
    // A portal user may edit the destination but cannot read its credentials…
    const asPortal = { key: await mint(tenantId) };
    // …so it may not send them to a host of its choosing, neither left out nor masked.
    const elsewhere = 'https://collector.attacker.example/hook';
    for (const config of [
      { url: elsewhere },
      { url: elsewhere, auth: { token: '********' }, headers: { 'x-key': '********' } },
      { url: elsewhere, auth: { token: 'mine' } },
    ]) {
      const r = await sluice.api('PATCH', dest, { config }, asPortal);
      const p = checkProblem(r, 422, 'validation', `PATCH ${JSON.stringify(config)}`);
      const expected = config.auth?.token === 'mine' ? ['config.headers.x-key'] : ['config.auth.token', 'config.headers.x-key'];
      assert.deepEqual(p.errors.map((e) => e.field).sort(), expected, r.text);
    }
    assert.equal((await sluice.apiOk('GET', dest)).json.config.url, rx.url, 'nothing was changed');
    // The same host keeps them (another path, the masks sent back)…
    await sluice.apiOk('PATCH', dest, { config: { url: rx.url.replace('/hook', '/other'), auth: { token: '********' } } }, 200, asPortal);
    await publish(sluice, tenantId, 'sec.redirect', { n: 1 });
    await rx.waitFor(1);
    assert.equal(rx.requests[0].headers.authorization, 'Bearer stored-bearer-secret');
    assert.equal(rx.requests[0].headers['x-key'], 'stored-header-secret');
    // …and given again, they move with the URL (there and back: both are moves).
    await sluice.apiOk('PATCH', dest, { config: { url: elsewhere, auth: { token: 'new-bearer' }, headers: { 'x-key': 'new-header' } } }, 200, asPortal);
    await sluice.apiOk('PATCH', dest, { config: { url: rx.url, auth: { token: 'newer-bearer' }, headers: { 'x-key': 'newer-header' } } }, 200, asPortal);
    await publish(sluice, tenantId, 'sec.redirect', { n: 2 });
    await rx.waitFor(2);
    assert.equal(rx.requests[1].headers.authorization, 'Bearer newer-bearer');
    assert.equal(rx.requests[1].headers['x-key'], 'newer-header');
  } finally {
    await rx.close();
  }
});

// --- issue 13: what a tenant may make the operator's resources do ------------------------------

test('REQUIRE_HTTPS: an http URL in any URL field of any type → 422 naming it; https passes', { timeout: 120_000 }, async () => {
  const { privateKey, base } = await strictTenant('https');
  for (const [field, body] of Object.entries(URL_FIELDS)) {
    const name = field.split(' ')[1];
    const r = await strict.api('POST', base, body('http://events.example.com', privateKey));
    const p = checkProblem(r, 422, 'validation', `${field} over http`);
    assert.ok(p.errors.some((e) => e.field === name && /https/.test(e.message)), `${field}: ${r.text}`);
    const ok = await strict.api('POST', base, body('https://events.example.com', privateKey));
    assert.equal(ok.status, 201, `${field} over https: ${ok.text}`);
  }
  // The development setting (REQUIRE_HTTPS=false, as in .dev.vars) lets http through.
  const dev = uniqueId('devhttp');
  await sluice.apiOk('POST', '/v1/tenants', { id: dev }, 201);
  await sluice.apiOk('POST', `/v1/tenants/${dev}/destinations`, { type: 'webhook', config: { url: 'http://events.example.com/x' } }, 201);
});

test('a PATCH that changes only the scheme or the port must give the credentials again', { timeout: 60_000 }, async () => {
  const tenantId = uniqueId('downgrade');
  await sluice.apiOk('POST', '/v1/tenants', { id: tenantId }, 201);
  const base = `/v1/tenants/${tenantId}/destinations`;
  const url = 'https://hooks.shared.example/acme';
  const d = await sluice.apiOk('POST', base, {
    type: 'webhook', config: { url, auth: { type: 'basic', username: 'acme', password: 'stored-basic-secret' } },
  }, 201);
  const asPortal = { key: await mint(tenantId) };
  for (const moved of ['http://hooks.shared.example/acme', 'https://hooks.shared.example:8443/acme', 'http://hooks.shared.example:443/acme']) {
    const r = await sluice.api('PATCH', `${base}/${d.json.id}`, { config: { url: moved, auth: { password: '********' } } }, asPortal);
    const p = checkProblem(r, 422, 'validation', `PATCH to ${moved}`);
    assert.deepEqual(p.errors.map((e) => e.field), ['config.auth.password'], r.text);
  }
  assert.equal((await sluice.apiOk('GET', `${base}/${d.json.id}`)).json.config.url, url, 'nothing was changed');
  // The same origin (another path, the default port spelled out) keeps them.
  await sluice.apiOk('PATCH', `${base}/${d.json.id}`, { config: { url: 'https://hooks.shared.example:443/acme/v2' } }, 200, asPortal);
});

test('the access_token query parameter takes a tenant token only, never the admin key', { timeout: 60_000 }, async () => {
  const ids = await seedTenant('query');
  const ws = `/v1/tenants/${ids.tenantId}/destinations/${ids.destinationId}/ws?access_token=`;
  const admin = await sluice.api('GET', ws + encodeURIComponent(ADMIN_KEY), undefined, { key: null });
  checkProblem(admin, 401, 'unauthorized', 'the admin key in a URL');
  // A tenant token passes authentication there (the destination is a webhook: 409).
  const token = await sluice.api('GET', ws + encodeURIComponent(await mint(ids.tenantId)), undefined, { key: null });
  checkProblem(token, 409, 'conflict', 'a tenant token in the query');
  // The admin key in the header still reaches the route.
  checkProblem(await sluice.api('GET', ws.replace('?access_token=', '')), 409, 'conflict');
});

test('email channels: a portal user only from and to the operator\'s allowed domains; tests send a fixed sample', { timeout: 120_000 }, async () => {
  const tenantId = uniqueId('email');
  await strict.apiOk('POST', '/v1/tenants', { id: tenantId }, 201);
  const base = `/v1/tenants/${tenantId}/destinations`;
  const r = await strict.api('POST', `/v1/tenants/${tenantId}/portal`, { subject: 'portal:mallory', ttl_seconds: 600 });
  const asPortal = { key: r.json.token };
  const email = (from, to) => ({ type: 'email', topics: ['sluice.alert.*'], config: { from, to } });
  // A relay for spam or phishing: refused, each address named.
  const relay = await strict.api('POST', base, email('security@bank.example', [`ops@${EMAIL_DOMAIN}`, 'victim@elsewhere.example']), asPortal);
  const p = checkProblem(relay, 422, 'validation', 'a portal user relaying email');
  assert.deepEqual(p.errors.map((e) => e.field), ['config.from', 'config.to[1]'], relay.text);
  // The operator's domains are fine; so is anything for the admin key.
  const own = await strict.api('POST', base, email(`alerts@${EMAIL_DOMAIN}`, [`ops@team.${EMAIL_DOMAIN}`]), asPortal);
  assert.equal(own.status, 201, own.text);
  await strict.apiOk('POST', base, email('alerts@sluice.example.com', ['ops@elsewhere.example']), 201);
  // Nor may a PATCH point an existing channel elsewhere.
  const moved = await strict.api('PATCH', `${base}/${own.json.id}`, { config: { to: ['victim@elsewhere.example'] } }, asPortal);
  assert.deepEqual(checkProblem(moved, 422, 'validation').errors.map((e) => e.field), ['config.to[0]'], moved.text);
  // A test send carries a fixed sample alert, never the caller's text.
  const spam = await strict.api('POST', `${base}/${own.json.id}/test`, { data: { summary: 'You won a prize: https://phish.example' } }, asPortal);
  assert.ok(checkProblem(spam, 422, 'validation').errors.some((e) => e.field === 'data'), spam.text);
  const sample = await strict.api('POST', `${base}/${own.json.id}/test`, undefined, asPortal);
  assert.equal(sample.status, 200, sample.text);
  assert.ok(!strict.log.includes('phish.example'), 'the caller\'s text was never sent');
});

test('test sends are rate-limited per destination (429 past 10 a minute)', { timeout: 60_000 }, async () => {
  const ids = await seedTenant('testrate');
  const other = await sluice.apiOk('POST', `/v1/tenants/${ids.tenantId}/destinations`, { type: 'webhook', config: { url: 'http://127.0.0.1:9/other' } }, 201);
  const send = (id) => sluice.api('POST', `/v1/tenants/${ids.tenantId}/destinations/${id}/test`);
  // The budget is per fixed minute (aligned on the clock): start early in one, so that the
  // twelve sends fall in the same window even on a loaded machine.
  const minute = () => Math.floor(Date.now() / 60_000);
  if (new Date().getSeconds() >= 30) {
    const next = (minute() + 1) * 60_000;
    await new Promise((resolve) => setTimeout(resolve, next - Date.now() + 200));
  }
  const started = minute();
  const statuses = [];
  for (let i = 0; i < 11; i += 1) statuses.push((await send(ids.destinationId)).status);
  const last = await send(ids.destinationId);
  if (minute() !== started) return; // the minute turned during the sends: inconclusive
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(200));
  checkProblem(last, 429, 'too-many', 'the 12th test send in a minute');
  assert.match(last.json.detail, /test sends/);
  // Another destination has its own budget.
  assert.equal((await send(other.json.id)).status, 200);
});

test('portal users cannot set alert thresholds under the operator\'s floor', { timeout: 60_000 }, async () => {
  const ids = await seedTenant('floor');
  const base = `/v1/tenants/${ids.tenantId}/destinations`;
  const asPortal = { key: await mint(ids.tenantId) };
  const noisy = { type: 'webhook', config: { url: 'http://127.0.0.1:9/x' }, alerts: { consecutive_failures: 1, failure_rate: { percent: 10, min_attempts: 1 } } };
  const r = await sluice.api('POST', base, noisy, asPortal);
  assert.deepEqual(checkProblem(r, 422, 'validation').errors.map((e) => e.field).sort(), ['alerts.consecutive_failures', 'alerts.failure_rate.min_attempts'], r.text);
  const patched = await sluice.api('PATCH', `${base}/${ids.destinationId}`, { alerts: { consecutive_failures: 2 } }, asPortal);
  checkProblem(patched, 422, 'validation', 'a PATCH under the floor');
  // At the floor, or "never", is fine; and the operator (admin key) is not held to it.
  await sluice.apiOk('PATCH', `${base}/${ids.destinationId}`, { alerts: { consecutive_failures: 5 } }, 200, asPortal);
  await sluice.apiOk('PATCH', `${base}/${ids.destinationId}`, { alerts: { consecutive_failures: 0 } }, 200, asPortal);
  await sluice.apiOk('POST', base, noisy, 201);
});

test('a templated destination\'s URL path (its credential) shows in no view, alert or log, and survives a read-back PATCH', { timeout: 120_000 }, async () => {
  const token = `zap${crypto.randomBytes(8).toString('hex')}`;
  const rx = await startReceiver({ path: `/hooks/catch/123/${token}/` });
  try {
    const tenantId = uniqueId('templated');
    await sluice.apiOk('POST', '/v1/tenants', { id: tenantId }, 201);
    const base = `/v1/tenants/${tenantId}/destinations`;
    const seen = [];
    const call = async (...args) => {
      const r = await sluice.apiOk(...args);
      seen.push(r.text);
      return r;
    };
    const d = await call('POST', base, {
      template: 'zapier', topics: ['sec.*'], config: { url: rx.url },
      retry: { max_retries: 0 }, circuit_breaker: { failure_threshold: 1000, cooldown_ms: 100 },
      alerts: { consecutive_failures: 2, failure_rate: { percent: 0 }, circuit_opened: false, permanent_failure: false },
    }, 201);
    const shown = `http://127.0.0.1:${rx.port}/********`;
    assert.equal(d.json.config.url, shown);
    // The dashboard sends back what it read: the stored URL stays.
    const current = (await call('GET', `${base}/${d.json.id}`)).json;
    await call('PATCH', `${base}/${d.json.id}`, { name: 'zap', config: current.config }, 200);
    await call('GET', `${base}?limit=100`);
    await publish(sluice, tenantId, 'sec.templated', { n: 1 });
    await rx.waitFor(1);
    assert.equal(new URL(rx.requests[0].url, rx.url).pathname, `/hooks/catch/123/${token}/`);
    // Two failures in a row raise an alert; the operator's copy names the target without it.
    rx.setMode({ status: 500 });
    await publish(sluice, tenantId, 'sec.templated', { n: 2 });
    await publish(sluice, tenantId, 'sec.templated', { n: 3 });
    const checked = new Set();
    const alert = await eventually(async () => {
      const list = await sluice.api('GET', '/v1/tenants/sluice-operator/events?limit=100');
      for (const ev of list.json.data.filter((e) => e.topic === 'sluice.alert.triggered' && !checked.has(e.id))) {
        checked.add(ev.id);
        const full = await sluice.api('GET', `/v1/tenants/sluice-operator/events/${encodeURIComponent(ev.id)}`);
        if (full.json.data?.destination?.id === d.json.id) return full;
      }
      return null;
    }, 30_000, { what: 'the operator\'s alert' });
    seen.push(alert.text);
    assert.equal(alert.json.data.destination.target, `http://127.0.0.1:${rx.port}/********`);
    const all = [seen.join('\n'), sluice.log].join('\n');
    assert.equal(all.indexOf(token), -1, `the URL's path shows: …${all.slice(Math.max(0, all.indexOf(token) - 200), all.indexOf(token) + 50)}…`);
  } finally {
    await rx.close();
  }
});

/** Writes `chunk` to `stream` for as long as it is open, at the pace it drains. */
function pumpForever(stream, chunk) {
  const pump = () => {
    while (!stream.destroyed && stream.write(chunk));
  };
  stream.on('drain', pump);
  pump();
}

test('a receiver streaming an endless answer: Sluice reads 1 MiB, cancels the rest, and records the delivery', { timeout: 60_000 }, async () => {
  let cancelled = false;
  let streamed = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.on('close', () => (cancelled = true));
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const count = res.write.bind(res);
    res.write = (c) => ((streamed += c.length), count(c));
    pumpForever(res, chunk);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const tenantId = uniqueId('stream');
    await sluice.apiOk('POST', '/v1/tenants', { id: tenantId }, 201);
    const base = `/v1/tenants/${tenantId}/destinations`;
    const d = await sluice.apiOk('POST', base, {
      type: 'webhook', topics: ['sec.*'], config: { url: `http://127.0.0.1:${server.address().port}/endless` }, retry: { max_retries: 0 }, timeout_ms: 15_000,
    }, 201);
    const ev = await publish(sluice, tenantId, 'sec.stream', { n: 1 });
    const attempts = await eventually(async () => {
      const r = await sluice.api('GET', `${base}/${d.json.id}/deliveries/${ev.deliveries[0].id}/attempts`);
      return r.json?.data?.length ? r.json.data : null;
    }, 30_000, { what: 'the attempt' });
    // Without the cap, the read never ends and the attempt times out after 15 s.
    assert.equal(attempts[0].outcome, 'delivered', JSON.stringify(attempts[0]));
    assert.equal(attempts[0].status_code, 200);
    assert.ok(attempts[0].duration_ms < 15_000, `${attempts[0].duration_ms} ms`);
    assert.ok(attempts[0].response_body.length <= 1024);
    await eventually(() => cancelled, 10_000, { what: 'the rest of the answer cancelled' });
    assert.ok(streamed < 64 * 1024 * 1024, `${streamed} bytes were pulled from the receiver`);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('a request body without Content-Length is counted while it streams: 413 past MAX_BODY_BYTES', { timeout: 60_000 }, async () => {
  const tenantId = uniqueId('chunked');
  await sluice.apiOk('POST', '/v1/tenants', { id: tenantId }, 201);
  const target = new URL('/v1/publish', sluice.url);
  const chunked = { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } };
  // Just past the limit, in chunks, with no length declared: counted while it streams. The
  // big body is sent without its end: Sluice must answer 413 before the body is over. (Had
  // the client ended it, workerd would close the connection with the end chunk unread, and the
  // kernel's reset could drop the 413 before the client read it.)
  const send = (parts, { holdEnd = false } = {}) => new Promise((resolve, reject) => {
    const req = http.request(target, chunked, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        resolve({ status: res.statusCode, text });
        if (holdEnd) req.destroy();
      });
    });
    req.on('error', reject);
    for (const p of parts.slice(0, -1)) req.write(p);
    if (holdEnd) req.write(parts.at(-1));
    else req.end(parts.at(-1));
  });
  const head = `{"tenant_id":"${tenantId}","topic":"sec.big","data":{"pad":"`;
  const pad = 262_144 - head.length;
  const big = await send([head, 'a'.repeat(pad - 100_000), 'a'.repeat(100_000), '"}}'], { holdEnd: true });
  assert.equal(big.status, 413, big.text);
  assert.match(JSON.parse(big.text).type, /payload-too-large/);
  // A small chunked body is read whole and accepted.
  const small = await send([`{"tenant_id":"${tenantId}",`, '"topic":"sec.small","data":{"n":1}}']);
  assert.equal(small.status, 202, small.text);
});

test('a tenant raises at most 20 alerts an hour, however many destinations fail', { timeout: 120_000 }, async () => {
  const tenantId = uniqueId('flood');
  await sluice.apiOk('POST', '/v1/tenants', { id: tenantId }, 201);
  const only = { consecutive_failures: 1, failure_rate: { percent: 0 }, circuit_opened: false, auto_disabled: false, permanent_failure: false };
  for (let i = 0; i < 22; i += 1) {
    await sluice.apiOk('POST', `/v1/tenants/${tenantId}/destinations`, {
      type: 'webhook', topics: ['sec.flood'], config: { url: `http://127.0.0.1:9/flood${i}` }, retry: { max_retries: 0 }, alerts: only,
    }, 201);
  }
  // One event, 22 failing destinations, 22 incidents: the operator hears of 20.
  await publish(sluice, tenantId, 'sec.flood', { n: 1 });
  await eventually(() => sluice.log.includes('"alert_rate_limited"') && sluice.log.includes(tenantId), 60_000, { what: 'the alert rate limit' });
  const alerts = await eventually(async () => {
    const r = await sluice.api('GET', `/v1/tenants/sluice-operator/events?path=tenant_id&value=${tenantId}&limit=100`);
    return r.json?.data?.length >= 20 ? r.json.data : null;
  }, 30_000, { what: '20 alerts in the operator\'s log' });
  await new Promise((r) => setTimeout(r, 1000));
  const again = await sluice.api('GET', `/v1/tenants/sluice-operator/events?path=tenant_id&value=${tenantId}&limit=100`);
  assert.equal(again.json.data.length, 20, JSON.stringify(alerts.map((e) => e.id)));
});
