// A local stand-in for the Confluent REST Proxy's produce endpoints, for the integration tests.
// No real proxy installs from the registries here (Confluent's is Java from its own
// repository, karapace's needs a Kafka broker), so this checks what the real one checks on
// produce and answers in its shapes:
//
//   v3  POST /v3/clusters/{cluster_id}/topics/{topic}/records   (Content-Type application/json)
//       body {key?: {type, data}, value?: {type, data}, headers?: [{name, value: base64}],
//             partition_id?, timestamp?}; types BINARY (base64 data), JSON, STRING (string data)
//       → 200 {error_code: 200, cluster_id, topic_name, partition_id, offset, timestamp,
//              key: {type, size}, value: {type, size}}
//   v2  POST /topics/{topic}   (Content-Type application/vnd.kafka.json.v2+json)
//       body {records: [{key?, value, partition?}, ...]}
//       → 200 {key_schema_id: null, value_schema_id: null,
//              offsets: [{partition, offset, error_code: null|1|2, error: null|"…"}, ...]}
//
// Errors as the proxy sends them, `{"error_code": …, "message": …}`: 415 for a wrong content
// type, 406 for an Accept it cannot serve, 401 (with WWW-Authenticate) without the right basic
// credentials when `auth` is set, 400 for a body that is not JSON, 422 for a body of the wrong
// shape (bad key/value type, header value that is not base64, empty records), 404 with
// 40401 for an unknown topic and 404 for an unknown cluster.
//
//   const kafka = await startKafkaRest({ clusterId: 'lkc-test', auth: { username, password } });
//   kafka.createTopic('orders', { partitions: 3 });
//   kafka.records('orders')      -> [{ api, partition, offset, key, value, headers: {name: text} }]
//   kafka.produceRequests        -> [{ api, topic, records (count), status, body (the raw request text) }]
//   kafka.failNext(2, 503)       -> the next 2 produce requests answered 503
//   kafka.failRecords((r) => r.value.n === 2, 2, 1)
//                                -> in v2 batches, the first matching record gets error_code 2
//                                   (retriable; 1 = non-retriable) and is not written
//   kafka.hold() / kafka.release() -> keep answers back until released (to queue up a batch)
//   await kafka.close()

import http from 'node:http';
import { Buffer } from 'node:buffer';

const V2_CONTENT_TYPES = ['application/vnd.kafka.json.v2+json'];
const V2_ACCEPTS = ['application/vnd.kafka.v2+json', 'application/vnd.kafka+json', 'application/json', '*/*'];

export async function startKafkaRest(options = {}) {
  const k = new KafkaRest(options);
  await k.listen();
  return k;
}

class HttpError extends Error {
  constructor(status, errorCode, message, headers = {}) {
    super(message);
    this.status = status;
    this.errorCode = errorCode;
    this.headers = headers;
  }
}

const isBase64 = (s) => typeof s === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(s) && s.length % 4 === 0;

class KafkaRest {
  constructor({ clusterId = 'lkc-test', auth = null } = {}) {
    this.clusterId = clusterId;
    this.auth = auth;
    this.topics = new Map(); // name -> { partitions, offsets: number[], records: [] }
    this.produceRequests = [];
    this.failQueue = [];
    this.recordFailures = [];
    this.held = null; // { promise, resolve } while holding
    this.server = null;
    this.port = null;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  createTopic(name, { partitions = 1 } = {}) {
    this.topics.set(name, { partitions, offsets: new Array(partitions).fill(0), records: [] });
  }

  records(topic) {
    return this.topics.get(topic)?.records ?? [];
  }

  failNext(n, status = 503) {
    for (let i = 0; i < n; i++) this.failQueue.push(status);
  }

  failRecords(predicate, errorCode, times = 1) {
    this.recordFailures.push({ predicate, errorCode, left: times });
  }

  hold() {
    let resolve;
    const promise = new Promise((r) => { resolve = r; });
    this.held = { promise, resolve };
  }

  release() {
    const h = this.held;
    this.held = null;
    h?.resolve();
  }

  /** Produce requests received so far that are waiting on `hold()`. */
  get waiting() {
    return this.produceRequests.filter((r) => r.status === null).length;
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server = http.createServer((req, res) => this.#handle(req, res));
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve();
      });
    });
  }

  close() {
    this.release();
    return new Promise((resolve) => {
      this.server.closeAllConnections?.();
      this.server.close(() => resolve());
    });
  }

  async #handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString('utf8');
    const path = new URL(req.url, 'http://x').pathname;
    const v3 = path.match(/^\/v3\/clusters\/([^/]+)\/topics\/([^/]+)\/records$/);
    const v2 = path.match(/^\/topics\/([^/]+)$/);
    const entry = v3 || v2 ? { api: v3 ? 'v3' : 'v2', topic: decodeURIComponent((v3 ? v3[2] : v2[1])), records: 0, status: null, body: raw } : null;
    if (entry) this.produceRequests.push(entry);
    let status;
    let body;
    let headers = {};
    try {
      if (!entry || req.method !== 'POST') throw new HttpError(404, 404, 'HTTP 404 Not Found');
      this.#checkAuth(req);
      body = v3 ? this.#produceV3(req, raw, decodeURIComponent(v3[1]), entry) : this.#produceV2(req, raw, entry);
      status = 200;
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      status = e.status;
      body = { error_code: e.errorCode, message: e.message };
      headers = e.headers;
    }
    if (this.held) await this.held.promise;
    if (entry) entry.status = status;
    const contentType = entry?.api === 'v2' ? 'application/vnd.kafka.v2+json' : 'application/json';
    res.writeHead(status, { 'content-type': contentType, ...headers });
    res.end(JSON.stringify(body));
  }

  #checkAuth(req) {
    if (!this.auth) return;
    const expected = `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}`;
    if (req.headers.authorization !== expected) {
      throw new HttpError(401, 401, 'Unauthorized', { 'www-authenticate': 'Basic realm="KafkaRest"' });
    }
  }

  #injectedFailure() {
    const status = this.failQueue.shift();
    if (status !== undefined) {
      const message = status === 503 ? 'Service Unavailable' : `HTTP ${status}`;
      throw new HttpError(status, status, message);
    }
  }

  #topic(name) {
    const t = this.topics.get(name);
    if (!t) throw new HttpError(404, 40401, 'Topic not found.');
    return t;
  }

  #parse(raw) {
    try {
      return JSON.parse(raw);
    } catch (e) {
      throw new HttpError(400, 400, `Unexpected character in the request body: ${e.message}`);
    }
  }

  #append(t, api, key, value, headers, partition) {
    const keyText = key === null || key === undefined ? '' : JSON.stringify(key);
    let p = partition;
    if (p === undefined || p === null) {
      let h = 0;
      for (const ch of keyText) h = (h * 31 + ch.codePointAt(0)) >>> 0;
      p = h % t.partitions;
    } else if (!Number.isInteger(p) || p < 0 || p >= t.partitions) {
      throw new HttpError(404, 40402, 'Partition not found.');
    }
    const offset = t.offsets[p]++;
    t.records.push({ api, partition: p, offset, key, value, headers });
    return { partition: p, offset };
  }

  #produceV3(req, raw, clusterId, entry) {
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      throw new HttpError(415, 415, 'HTTP 415 Unsupported Media Type');
    }
    const accept = req.headers.accept ?? '*/*';
    if (!accept.split(',').some((a) => ['application/json', '*/*'].includes(a.split(';')[0].trim()))) {
      throw new HttpError(406, 406, 'HTTP 406 Not Acceptable');
    }
    if (clusterId !== this.clusterId) throw new HttpError(404, 404, `Cluster ${clusterId} cannot be found.`);
    const t = this.#topic(entry.topic);
    const body = this.#parse(raw);
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new HttpError(422, 422, 'The request body must be a JSON object.');
    }
    const data = (field) => {
      const d = body[field];
      if (d === undefined || d === null) return { value: null, type: null, size: 0 };
      if (typeof d !== 'object' || !['BINARY', 'JSON', 'STRING'].includes(d.type)) {
        throw new HttpError(422, 422, `${field}.type must be one of BINARY, JSON, STRING without a schema.`);
      }
      if (d.type === 'STRING') {
        if (typeof d.data !== 'string') throw new HttpError(422, 422, `${field}.data must be a string for type STRING.`);
        return { value: d.data, type: d.type, size: Buffer.byteLength(d.data) };
      }
      if (d.type === 'BINARY') {
        if (!isBase64(d.data)) throw new HttpError(422, 422, `${field}.data must be base64 for type BINARY.`);
        return { value: Buffer.from(d.data, 'base64'), type: d.type, size: Buffer.from(d.data, 'base64').length };
      }
      return { value: d.data, type: d.type, size: Buffer.byteLength(JSON.stringify(d.data)) };
    };
    const key = data('key');
    const value = data('value');
    const headers = {};
    if (body.headers !== undefined) {
      if (!Array.isArray(body.headers)) throw new HttpError(422, 422, 'headers must be an array.');
      for (const h of body.headers) {
        if (typeof h?.name !== 'string' || !h.name) throw new HttpError(422, 422, 'Every header needs a name.');
        if (h.value !== null && h.value !== undefined && !isBase64(h.value)) {
          throw new HttpError(422, 422, `Header ${h.name}: the value must be base64-encoded bytes.`);
        }
        headers[h.name] = h.value == null ? null : Buffer.from(h.value, 'base64').toString('utf8');
      }
    }
    this.#injectedFailure();
    entry.records = 1;
    const at = this.#append(t, 'v3', key.value, value.value, headers, body.partition_id);
    return {
      error_code: 200,
      cluster_id: this.clusterId,
      topic_name: entry.topic,
      partition_id: at.partition,
      offset: at.offset,
      timestamp: new Date().toISOString(),
      key: key.type ? { type: key.type, size: key.size } : null,
      value: value.type ? { type: value.type, size: value.size } : null,
    };
  }

  #produceV2(req, raw, entry) {
    const ct = (req.headers['content-type'] ?? '').split(';')[0].trim();
    if (!V2_CONTENT_TYPES.includes(ct)) throw new HttpError(415, 415, 'HTTP 415 Unsupported Media Type');
    const accept = req.headers.accept ?? '*/*';
    if (!accept.split(',').some((a) => V2_ACCEPTS.includes(a.split(';')[0].trim()))) {
      throw new HttpError(406, 406, 'HTTP 406 Not Acceptable');
    }
    const t = this.#topic(entry.topic);
    const body = this.#parse(raw);
    if (!Array.isArray(body?.records) || body.records.length === 0) {
      throw new HttpError(422, 422, 'records may not be empty');
    }
    for (const r of body.records) {
      if (r === null || typeof r !== 'object' || !('value' in r)) {
        throw new HttpError(422, 422, 'Every record needs a value.');
      }
    }
    this.#injectedFailure();
    entry.records = body.records.length;
    const offsets = body.records.map((r) => {
      const rule = this.recordFailures.find((f) => f.left > 0 && f.predicate({ key: r.key ?? null, value: r.value }));
      if (rule) {
        rule.left -= 1;
        const error = rule.errorCode === 2
          ? 'NotEnoughReplicasException: Messages are rejected since there are fewer in-sync replicas than required.'
          : 'RecordTooLargeException: The message is too large.';
        return { partition: null, offset: null, error_code: rule.errorCode, error };
      }
      const at = this.#append(t, 'v2', r.key ?? null, r.value, {}, r.partition);
      return { partition: at.partition, offset: at.offset, error_code: null, error: null };
    });
    return { key_schema_id: null, value_schema_id: null, offsets };
  }
}
