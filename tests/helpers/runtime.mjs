// The runtime process of the test and bench harness: one Miniflare (one workerd) running
// Sluice, started by tests/helpers/sluice.mjs as a child process so that a test can SIGKILL
// it (node and its workerd, one process group) and start another over the same persisted
// state, as a crash would leave it.
//
//   node tests/helpers/runtime.mjs      options as JSON in SLUICE_RUNTIME_OPTIONS (see sluice.mjs),
//                                        an IPC channel to the parent (scheduled runs)
//
// It starts Miniflare on 127.0.0.1:<port> with the worker options wrangler derives from
// wrangler.toml (D1, the Durable Object classes, vars and .dev.vars, the dashboard's assets),
// persisted under <persistDir>/v3 exactly where `wrangler dev --persist-to` keeps them,
// applies the D1 migrations that are not applied yet (the statements wrangler's splitter
// made, plus the same d1_migrations bookkeeping as `wrangler d1 migrations apply`), then
// prints one line `SLUICE_RUNTIME_READY <url>`. The Worker's console output (the structured
// log lines the tests read) goes to stdout. SIGTERM/SIGINT dispose Miniflare and exit.

import path from 'node:path';
import { Miniflare, Log, LogLevel } from 'miniflare';

const o = JSON.parse(process.env.SLUICE_RUNTIME_OPTIONS);
const v3 = path.join(o.persistDir, 'v3');

const mf = new Miniflare({
  host: '127.0.0.1',
  port: o.port,
  ...(o.inspectorPort ? { inspectorPort: o.inspectorPort } : {}),
  // INFO: Miniflare's own messages (e.g. the local send_email binding's record of a mail);
  // no line per request.
  log: new Log(LogLevel.INFO),
  logRequests: false,
  ...(process.env.SLUICE_RUNTIME_VERBOSE ? { verbose: true } : {}),
  cf: false,
  d1Persist: path.join(v3, 'd1'),
  durableObjectsPersist: path.join(v3, 'do'),
  cachePersist: path.join(v3, 'cache'),
  workers: [
    {
      ...o.workerOptions,
      name: o.name,
      modules: true,
      // build/ and the repo are ES modules ("type": "module"), so is every .js or .mjs the entry
      // imports (bench/entry.mjs imports build/entry.mjs, which imports build/index.js); the
      // rest are wrangler's rules (the wasm).
      modulesRules: [{ type: 'ESModule', include: ['**/*.js', '**/*.mjs'] }, ...(o.workerOptions.modulesRules ?? [])],
      modulesRoot: o.modulesRoot,
      scriptPath: o.scriptPath,
    },
  ],
});

let closing = false;
async function close(code) {
  if (closing) return;
  closing = true;
  try {
    await mf.dispose();
  } finally {
    process.exit(code);
  }
}
process.on('SIGTERM', () => close(0));
process.on('SIGINT', () => close(0));

// The parent's requests over the IPC channel: {id, scheduled: cron} runs the Worker's
// scheduled handler (what wrangler's --test-scheduled offered at /__scheduled; Miniflare's own
// /cdn-cgi/handler/scheduled would reach the assets router, not the Worker); {id, object:
// {binding, name, body}} posts `body` straight to the Durable Object named `name`, as another
// version of the Worker would send it (the objects answer a message by `fetch` as by RPC).
process.on('message', async (m) => {
  try {
    if (m.object) {
      const ns = await mf.getDurableObjectNamespace(m.object.binding, o.name);
      const stub = ns.get(ns.idFromName(m.object.name));
      const r = await stub.fetch('http://object/', { method: 'POST', body: m.object.body });
      process.send({ id: m.id, result: { status: r.status, text: await r.text() } });
      return;
    }
    const worker = await mf.getWorker(o.name);
    const result = await worker.scheduled({ cron: m.scheduled });
    process.send({ id: m.id, result });
  } catch (err) {
    process.send({ id: m.id, error: String(err?.stack ?? err) });
  }
});

try {
  const url = await mf.ready;
  if (o.migrations?.length) await migrate(await mf.getD1Database(o.d1Binding));
  process.stdout.write(`SLUICE_RUNTIME_READY ${url.href}\n`);
} catch (err) {
  process.stderr.write(`runtime failed to start: ${err?.stack ?? err}\n`);
  await close(1);
}

/** What `wrangler d1 migrations apply --local` does, through the binding. */
async function migrate(db) {
  await db.batch([db.prepare(o.migrationsTable)]);
  const applied = new Set(
    ((await db.prepare('SELECT name FROM d1_migrations').all()).results ?? []).map((r) => r.name),
  );
  for (const m of o.migrations) {
    if (applied.has(m.name)) continue;
    await db.batch(m.statements.map((s) => db.prepare(s)));
  }
}
