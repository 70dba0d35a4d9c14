// A local stand-in for Google Cloud Pub/Sub's REST API and Google's OAuth token endpoint, on
// 127.0.0.1. No Pub/Sub server installs from the registries this project may use (the
// emulator ships only with the Google Cloud SDK), so this checks what the real services check:
//
// POST /token (the service account key's token_uri)
//   - form-encoded body, grant_type = urn:ietf:params:oauth:grant-type:jwt-bearer;
//   - the assertion is a JWT whose RS256 signature verifies with the public half of the
//     account's key (looked up by the header's kid), iss = the account's e-mail, aud = this
//     token_uri, scope includes https://www.googleapis.com/auth/pubsub, iat not in the future
//     and exp - iat <= 3600 and not yet passed;
//   - answers {access_token, expires_in, token_type} or 400 {error: invalid_grant, …}.
// POST /v1/projects/{project}/topics/{topic}:publish
//   - Authorization: Bearer <a token it issued and that has not expired>, else 401
//     UNAUTHENTICATED;
//   - the topic exists, else 404 NOT_FOUND; JSON body with 1–1,000 `messages`, each with
//     base64 `data` and/or string `attributes` (keys not starting with "goog"), else 400
//     INVALID_ARGUMENT;
//   - answers {messageIds: [...]}, one per message, and keeps the messages for the test.
//
//   const ps = await startPubSub();
//   const account = ps.serviceAccount('acme-prod');   // a key file's JSON, for a destination
//   ps.createTopic('acme-prod', 'orders');
//   await ps.waitForMessages('acme-prod', 'orders', 3);  // [{data (decoded), attributes, orderingKey, messageId}]
//   ps.failNextPublish(503, 2);  ps.expireTokens();  ps.revokeAccount(email);
//   ps.stats -> {tokenRequests, publishRequests}

import crypto from 'node:crypto';
import http from 'node:http';

const GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const SCOPE = 'https://www.googleapis.com/auth/pubsub';

const b64url = (text) => Buffer.from(text, 'base64url');

export async function startPubSub({ tokenLifetimeSecs = 3599 } = {}) {
  const ps = new PubSubStandIn(tokenLifetimeSecs);
  await new Promise((resolve) => ps.server.listen(0, '127.0.0.1', resolve));
  return ps;
}

class PubSubStandIn {
  constructor(tokenLifetimeSecs) {
    this.tokenLifetimeSecs = tokenLifetimeSecs;
    this.accounts = new Map(); // kid -> {email, publicKey, revoked}
    this.tokens = new Map(); // token -> {email, expiresAt}
    this.topics = new Map(); // "project/topic" -> messages[]
    this.failures = []; // statuses for the next publish requests
    this.stats = { tokenRequests: 0, publishRequests: 0, rejectedTokens: 0 };
    this.nextId = 1;
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        try {
          this.handle(req, Buffer.concat(chunks).toString('utf8'), res);
        } catch (err) {
          send(res, 500, { error: { code: 500, message: String(err), status: 'INTERNAL' } });
        }
      });
    });
  }

  get url() {
    return `http://127.0.0.1:${this.server.address().port}`;
  }

  /** A new service account with its own RSA key: the key file's JSON. */
  serviceAccount(projectId, name = 'sluice-publisher') {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const kid = crypto.randomBytes(20).toString('hex');
    const email = `${name}-${kid.slice(0, 6)}@${projectId}.iam.gserviceaccount.com`;
    this.accounts.set(kid, { email, publicKey, revoked: false });
    return {
      type: 'service_account',
      project_id: projectId,
      private_key_id: kid,
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      client_email: email,
      client_id: '1000000000000',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: `${this.url}/token`,
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      universe_domain: 'googleapis.com',
    };
  }

  /** The key is deleted: its assertions are refused from now on. */
  revokeAccount(email) {
    for (const a of this.accounts.values()) if (a.email === email) a.revoked = true;
    for (const [t, info] of this.tokens) if (info.email === email) this.tokens.delete(t);
  }

  /** Every issued token stops working (as after an hour). */
  expireTokens() {
    this.tokens.clear();
  }

  createTopic(project, topic) {
    this.topics.set(`${project}/${topic}`, []);
  }

  failNextPublish(status, times = 1) {
    for (let i = 0; i < times; i++) this.failures.push(status);
  }

  messages(project, topic) {
    return this.topics.get(`${project}/${topic}`) ?? [];
  }

  async waitForMessages(project, topic, n, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const m = this.messages(project, topic);
      if (m.length >= n) return m;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`waited ${timeoutMs} ms for ${n} messages on ${project}/${topic}; have ${this.messages(project, topic).length}`);
  }

  close() {
    return new Promise((resolve) => {
      this.server.closeAllConnections?.();
      this.server.close(() => resolve());
    });
  }

  handle(req, body, res) {
    const url = new URL(req.url, this.url);
    if (req.method === 'POST' && url.pathname === '/token') return this.token(req, body, res);
    const m = url.pathname.match(/^\/v1\/projects\/([^/]+)\/topics\/([^/:]+):publish$/);
    if (req.method === 'POST' && m) return this.publish(req, body, res, decodeURIComponent(m[1]), decodeURIComponent(m[2]));
    return send(res, 404, { error: { code: 404, message: `no such method: ${req.method} ${url.pathname}`, status: 'NOT_FOUND' } });
  }

  token(req, body, res) {
    this.stats.tokenRequests++;
    const grantError = (description) => send(res, 400, { error: 'invalid_grant', error_description: description });
    if (!(req.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded')) {
      return send(res, 400, { error: 'invalid_request', error_description: 'expected a form-encoded body' });
    }
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== GRANT) {
      return send(res, 400, { error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${form.get('grant_type')}` });
    }
    const parts = (form.get('assertion') || '').split('.');
    if (parts.length !== 3) return grantError('Invalid JWT: Token must be a short-lived token and in a reasonable timeframe');
    let header;
    let claims;
    try {
      header = JSON.parse(b64url(parts[0]).toString('utf8'));
      claims = JSON.parse(b64url(parts[1]).toString('utf8'));
    } catch {
      return grantError('Invalid JWT: not JSON');
    }
    if (header.alg !== 'RS256') return grantError(`Invalid JWT: alg ${header.alg}`);
    const account = this.accounts.get(header.kid);
    if (!account || account.revoked) return grantError('Invalid JWT Signature.');
    const signed = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), account.publicKey, b64url(parts[2]));
    if (!signed) return grantError('Invalid JWT Signature.');
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== account.email) return grantError('Invalid JWT: iss is not the key\'s account');
    if (claims.aud !== `${this.url}/token`) return grantError(`Invalid JWT: aud ${claims.aud}`);
    if (!String(claims.scope || '').split(' ').includes(SCOPE)) return send(res, 400, { error: 'invalid_scope', error_description: 'the pubsub scope is required' });
    if (!(claims.iat <= now + 60) || !(claims.exp > now) || claims.exp - claims.iat > 3600) {
      return grantError('Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values');
    }
    const token = `ya29.${crypto.randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, { email: account.email, expiresAt: Date.now() + this.tokenLifetimeSecs * 1000 });
    return send(res, 200, { access_token: token, expires_in: this.tokenLifetimeSecs, token_type: 'Bearer' });
  }

  publish(req, body, res, project, topic) {
    this.stats.publishRequests++;
    const auth = req.headers.authorization || '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const issued = this.tokens.get(token);
    if (!issued || issued.expiresAt <= Date.now()) {
      this.stats.rejectedTokens++;
      return send(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials. Expected OAuth 2 access token.', status: 'UNAUTHENTICATED' } });
    }
    if (this.failures.length) {
      const status = this.failures.shift();
      return send(res, status, { error: { code: status, message: 'The service was unable to fulfill your request. Please try again.', status: 'UNAVAILABLE' } });
    }
    const stored = this.topics.get(`${project}/${topic}`);
    if (!stored) return send(res, 404, { error: { code: 404, message: `Resource not found (resource=${topic}).`, status: 'NOT_FOUND' } });
    if (!(req.headers['content-type'] || '').startsWith('application/json')) {
      return send(res, 400, { error: { code: 400, message: 'expected application/json', status: 'INVALID_ARGUMENT' } });
    }
    let parsed;
    try {
      parsed = JSON.parse(body);
    } catch {
      return send(res, 400, { error: { code: 400, message: 'Invalid JSON payload received.', status: 'INVALID_ARGUMENT' } });
    }
    const messages = parsed.messages;
    const invalid = (message) => send(res, 400, { error: { code: 400, message, status: 'INVALID_ARGUMENT' } });
    if (!Array.isArray(messages) || messages.length === 0) return invalid('The request must contain at least one message.');
    if (messages.length > 1000) return invalid('The value for message_count is too large. You passed 1001 in the request, but the maximum value is 1000.');
    const accepted = [];
    for (const m of messages) {
      if (m.data !== undefined && (typeof m.data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(m.data) || m.data.length % 4 !== 0)) {
        return invalid('Invalid value at \'messages[0].data\' (TYPE_BYTES), Base64 decoding failed');
      }
      const attributes = m.attributes ?? {};
      if (typeof attributes !== 'object' || Object.entries(attributes).some(([k, v]) => typeof v !== 'string' || k.startsWith('goog'))) {
        return invalid('Invalid attributes');
      }
      if (!m.data && Object.keys(attributes).length === 0) return invalid('Some messages contain no data and no attribute.');
      accepted.push({
        data: Buffer.from(m.data || '', 'base64').toString('utf8'),
        attributes,
        orderingKey: m.orderingKey,
        messageId: String(this.nextId++),
        batchSize: messages.length,
      });
    }
    stored.push(...accepted);
    return send(res, 200, { messageIds: accepted.map((m) => m.messageId) });
  }
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}
