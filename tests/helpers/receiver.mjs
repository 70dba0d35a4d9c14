// A real HTTP webhook receiver on 127.0.0.1 for the integration tests.
//
//   const rx = await startReceiver();
//   rx.url                      -> "http://127.0.0.1:<port>/hook"
//   rx.setMode({ status: 500 }) -> every request answered 500 from now on
//   rx.failNext(2)              -> next 2 requests answered 500, then 200
//   rx.setMode({ hang: true })  -> never answer (socket kept open)
//   await rx.refuse()           -> stop listening: connections are refused
//   await rx.restore()          -> listen again on the SAME port
//   await rx.waitFor(3)         -> until 3 requests were recorded
//   await rx.waitFor((reqs) => reqs.some(...), 10_000)
//   await rx.close()
//
// Every request is recorded as
//   { method, url, headers (lower-case names), body (raw string), receivedAt (ms),
//     respondedStatus (number, or null when hung) }.

import http from 'node:http';

export async function startReceiver(options = {}) {
  const rx = new Receiver(options);
  await rx.listen(0);
  return rx;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Receiver {
  constructor({ path = '/hook' } = {}) {
    this.path = path;
    this.port = null;
    this.requests = [];
    this.mode = { status: 200, body: '{"ok":true}', headers: {}, delayMs: 0, hang: false };
    this.failQueue = []; // statuses to use for the next requests before `mode`
    this.server = null;
    this.sockets = new Set();
    this.hung = new Set(); // responses we never answer
  }

  get url() {
    return `http://127.0.0.1:${this.port}${this.path}`;
  }

  get origin() {
    return `http://127.0.0.1:${this.port}`;
  }

  get count() {
    return this.requests.length;
  }

  /** Replace the behaviour. Unspecified fields get defaults (200, no hang, no delay). */
  setMode(mode = {}) {
    this.mode = {
      status: 200,
      body: '{"ok":true}',
      headers: {},
      delayMs: 0,
      hang: false,
      ...mode,
    };
  }

  /** The next `n` requests get `status`; afterwards the current mode applies (200 by default). */
  failNext(n, status = 500) {
    for (let i = 0; i < n; i++) this.failQueue.push(status);
  }

  hang() {
    this.setMode({ hang: true });
  }

  /** Clear recorded requests. */
  reset() {
    this.requests = [];
  }

  listen(port) {
    return new Promise((resolve, reject) => {
      const server = http.createServer((req, res) => this.#handle(req, res));
      server.keepAliveTimeout = 1000;
      server.on('connection', (socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
      });
      const onError = (err) => reject(err);
      server.once('error', onError);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', onError);
        this.server = server;
        this.port = server.address().port;
        resolve();
      });
    });
  }

  #handle(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const record = {
        method: req.method,
        url: req.url,
        headers: { ...req.headers },
        body: Buffer.concat(chunks).toString('utf8'),
        receivedAt: Date.now(),
        respondedStatus: null,
      };
      this.requests.push(record);

      let status;
      if (this.failQueue.length > 0) {
        status = this.failQueue.shift();
      } else if (this.mode.hang) {
        this.hung.add(res);
        res.on('close', () => this.hung.delete(res));
        return; // never answer
      } else {
        status = this.mode.status;
      }
      record.respondedStatus = status;
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': 'application/json', ...this.mode.headers });
        res.end(status >= 200 && status < 300 ? this.mode.body : JSON.stringify({ error: status }));
      };
      if (this.mode.delayMs > 0) setTimeout(send, this.mode.delayMs);
      else send();
    });
  }

  #destroySockets() {
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Close the listening socket (and open connections): new connections are refused. */
  refuse() {
    const server = this.server;
    this.server = null;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      this.#destroySockets();
    });
  }

  /** Listen again on the same port after refuse(). */
  async restore() {
    if (this.server) return;
    let lastErr;
    for (let i = 0; i < 50; i++) {
      try {
        await this.listen(this.port);
        return;
      } catch (err) {
        lastErr = err;
        await sleep(100);
      }
    }
    throw lastErr;
  }

  /**
   * Poll until `predicate(requests)` is truthy, or until at least `n` requests
   * were recorded when given a number. Resolves with the requests array.
   */
  async waitFor(predicateOrCount, timeoutMs = 10_000, { intervalMs = 25 } = {}) {
    const pred =
      typeof predicateOrCount === 'number'
        ? (reqs) => reqs.length >= predicateOrCount
        : predicateOrCount;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pred(this.requests)) return this.requests;
      if (Date.now() > deadline) {
        const what =
          typeof predicateOrCount === 'number'
            ? `${predicateOrCount} request(s)`
            : 'predicate';
        throw new Error(
          `receiver ${this.url}: timed out after ${timeoutMs} ms waiting for ${what}; ` +
            `got ${this.requests.length} request(s): ` +
            JSON.stringify(
              this.requests.map((r) => ({
                id: r.headers['webhook-id'],
                attempt: r.headers['x-sluice-attempt'],
                at: r.receivedAt,
                status: r.respondedStatus,
              })),
            ),
        );
      }
      await sleep(intervalMs);
    }
  }

  async close() {
    await this.refuse();
  }
}
