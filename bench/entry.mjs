// The Worker the benchmark runs: build/entry.mjs unchanged, plus counters of what it costs.
// The harness runs this module instead of `main` (startSluice({script: 'bench/entry.mjs'})).
//
// Counted in this isolate (the Worker and its Durable Objects run in the same one locally):
// - D1: statements executed (`all`/`run`/`first`/`raw` on a statement: 1; `batch(list)`:
//   list.length) and round trips (each of those calls: 1), split into reads and writes by
//   the statement's first word;
// - the Durable Objects' own SQLite (`ctx.storage.sql.exec`): statements;
// - requests to the Durable Objects (RPC `message`, `fetch` and `alarm` calls), per class;
// - outbound `fetch` (the subrequests a delivery makes), per host:port.
// GET /__bench/counters answers them as JSON; nothing else changes.
// GET /__bench/counters?by_sql=1 also starts counting the Durable Objects' statements by their
// text (`do_sql.by_sql`; off until asked, so that the harness's CPU figures do not pay for it).

import { env } from 'cloudflare:workers';
import Sluice, {
  DeliveryScheduler as Scheduler,
  EventLog as Log,
  EventIndex as Index,
} from '../build/entry.mjs';

const counters = {
  // Changes when the isolate starts again (a restart of the runtime,
  // for one): counters from two boots cannot be subtracted. Set at the first request (random
  // values are not allowed in the global scope).
  boot: null,
  d1: { statements: 0, calls: 0, reads: 0, writes: 0, batches: 0 },
  do_sql: { statements: 0, by_sql: null },
  do_requests: { total: 0, by_class: {} },
  fetch: { total: 0, by_host: {} },
};

const sqlOf = new WeakMap(); // prepared statement -> its SQL
const isWrite = (sql) => /^\s*(insert|update|delete|replace|create|drop|alter)\b/i.test(sql ?? '');
let inBatch = 0;

function countStatement(stmt) {
  counters.d1.statements += 1;
  if (isWrite(sqlOf.get(stmt))) counters.d1.writes += 1;
  else counters.d1.reads += 1;
}

function patchD1(db) {
  const dbProto = Object.getPrototypeOf(db);
  if (dbProto.__benchPatched) return;
  const probe = db.prepare('SELECT 1');
  const stmtProto = Object.getPrototypeOf(probe);
  const { prepare, batch, exec } = dbProto;
  dbProto.prepare = function (sql) {
    const s = prepare.call(this, sql);
    sqlOf.set(s, sql);
    return s;
  };
  dbProto.batch = async function (statements) {
    counters.d1.calls += 1;
    counters.d1.batches += 1;
    for (const s of statements) countStatement(s);
    inBatch += 1;
    try {
      return await batch.call(this, statements);
    } finally {
      inBatch -= 1;
    }
  };
  dbProto.exec = async function (sql) {
    counters.d1.calls += 1;
    const n = sql.split(';').filter((x) => x.trim()).length;
    counters.d1.statements += n;
    if (isWrite(sql)) counters.d1.writes += n;
    else counters.d1.reads += n;
    return exec.call(this, sql);
  };
  const { bind } = stmtProto;
  stmtProto.bind = function (...values) {
    const s = bind.apply(this, values);
    sqlOf.set(s, sqlOf.get(this));
    return s;
  };
  for (const name of ['all', 'run', 'first', 'raw']) {
    const original = stmtProto[name];
    if (typeof original !== 'function') continue;
    stmtProto[name] = function (...args) {
      if (inBatch === 0) {
        counters.d1.calls += 1;
        countStatement(this);
      }
      return original.apply(this, args);
    };
  }
  dbProto.__benchPatched = true;
}

function patchDoSql(state) {
  const sql = state?.storage?.sql;
  if (!sql) return;
  const proto = Object.getPrototypeOf(sql);
  if (proto.__benchPatched) return;
  const { exec } = proto;
  proto.exec = function (...args) {
    counters.do_sql.statements += 1;
    const bySql = counters.do_sql.by_sql;
    if (bySql) {
      const key = String(args[0]).replace(/\s+/g, ' ').trim().slice(0, 100);
      bySql[key] = (bySql[key] ?? 0) + 1;
    }
    return exec.apply(this, args);
  };
  proto.__benchPatched = true;
}

const originalFetch = globalThis.fetch;
globalThis.fetch = function (input, init) {
  counters.fetch.total += 1;
  let host = '?';
  try {
    host = new URL(typeof input === 'string' ? input : input.url).host;
  } catch {
    // counted under '?'
  }
  counters.fetch.by_host[host] = (counters.fetch.by_host[host] ?? 0) + 1;
  return originalFetch.call(this, input, init);
};

patchD1(env.DB);

/** A Durable Object class whose instances count their SQL statements and their requests. */
function counted(name, Class) {
  const count = () => {
    counters.do_requests.total += 1;
    counters.do_requests.by_class[name] = (counters.do_requests.by_class[name] ?? 0) + 1;
  };
  // A subclass, not a Proxy of the instance: the runtime offers RPC methods only on the class's
  // prototype chain.
  return class extends Class {
    constructor(ctx, env) {
      patchDoSql(ctx);
      super(ctx, env);
    }
    message(text) {
      count();
      return super.message(text);
    }
    fetch(request) {
      count();
      return super.fetch(request);
    }
    alarm(info) {
      count();
      return super.alarm(info);
    }
  };
}

export const DeliveryScheduler = counted('DeliveryScheduler', Scheduler);
export const EventLog = counted('EventLog', Log);
export const EventIndex = counted('EventIndex', Index);

export default class BenchEntry extends Sluice {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/__bench/counters') {
      counters.boot ??= crypto.randomUUID();
      if (url.searchParams.get('by_sql') === '1') counters.do_sql.by_sql ??= {};
      return Response.json(counters);
    }
    return super.fetch(request);
  }
}
