// moto in server mode on 127.0.0.1: the stand-in for AWS SQS, EventBridge and S3 (installed
// into .venv by scripts/backends.sh). Small clients for what the tests read back.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, freePort, sleep } from './sluice.mjs';

const MOTO = path.join(REPO_ROOT, '.venv', 'bin', 'moto_server');
export const REGION = 'us-east-1';
// moto reads the region from the credential scope and does not check signatures.
const AUTH = `AWS4-HMAC-SHA256 Credential=test/20260101/${REGION}/SERVICE/aws4_request, SignedHeaders=host, Signature=0`;

export async function startMoto() {
  if (!fs.existsSync(MOTO)) throw new Error(`${MOTO} is missing: run bash scripts/backends.sh install`);
  const port = await freePort();
  const proc = spawn(MOTO, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => (log += d));
  proc.stderr.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`${url}/moto-api/`);
      if (r.status < 500) break;
    } catch {
      /* not up yet */
    }
    await sleep(100);
  }

  async function json(service, target, body, contentType) {
    const r = await fetch(`${url}/`, {
      method: 'POST',
      headers: { 'x-amz-target': target, 'content-type': contentType, authorization: AUTH.replace('SERVICE', service) },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`${target} -> ${r.status}: ${text}`);
    return text ? JSON.parse(text) : {};
  }
  const sqs = (action, body) => json('sqs', `AmazonSQS.${action}`, body, 'application/x-amz-json-1.0');
  const events = (action, body) => json('events', `AWSEvents.${action}`, body, 'application/x-amz-json-1.1');

  return {
    url,
    log: () => log,
    sqs,
    events,
    async createQueue(name, attributes = {}) {
      return (await sqs('CreateQueue', { QueueName: name, Attributes: attributes })).QueueUrl;
    },
    /** Every message currently in the queue (reads until empty). */
    async drain(queueUrl, { waitFor = 1, timeoutMs = 10_000 } = {}) {
      const got = [];
      const deadline = Date.now() + timeoutMs;
      while (got.length < waitFor && Date.now() < deadline) {
        const r = await sqs('ReceiveMessage', {
          QueueUrl: queueUrl, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'], AttributeNames: ['All'], VisibilityTimeout: 300,
        });
        got.push(...(r.Messages ?? []));
        if (!r.Messages?.length) await sleep(100);
      }
      return got;
    },
    async createBucket(name) {
      const r = await fetch(`${url}/${name}`, { method: 'PUT', headers: { authorization: AUTH.replace('SERVICE', 's3') } });
      if (r.status !== 200) throw new Error(`CreateBucket -> ${r.status}: ${await r.text()}`);
    },
    async getObject(bucket, key) {
      const r = await fetch(`${url}/${bucket}/${key}`, { headers: { authorization: AUTH.replace('SERVICE', 's3') } });
      return { status: r.status, headers: r.headers, body: await r.text() };
    },
    async listKeys(bucket) {
      const r = await fetch(`${url}/${bucket}?list-type=2`, { headers: { authorization: AUTH.replace('SERVICE', 's3') } });
      const xml = await r.text();
      return [...xml.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]);
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((resolve) => (proc.exitCode !== null ? resolve() : proc.once('exit', resolve)));
    },
  };
}
