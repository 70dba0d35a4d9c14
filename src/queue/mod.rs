//! The `DeliveryScheduler`'s queue on its Durable Object's SQLite storage (through the
//! `log::sql::Sql` port, so that its SQL runs natively on SQLite in `cargo test`): the
//! deliveries, the `kv` state, the outbox; `engine` is the engine's `QueueStore` over it.
//!
//! One row per delivery the scheduler holds, from its enqueue until a week after it is done:
//! queued (`due_at` set), or done (`due_at` NULL, `done_at` set, the payload dropped), and the
//! attempt records it produced that its log shard has not acknowledged yet (`records`). So one
//! round's outcomes (off the queue or rescheduled, remembered as done, each attempt kept until
//! the shard has it) are one `UPDATE`, and a repeated enqueue of a finished delivery finds its
//! row. The `outbox` table holds what else the scheduler owes (an auto-disable, alerts), as
//! JSON text the shell reads and writes.

use crate::core::engine::{AttemptRecord, QueuedDelivery};
use crate::core::ids::DeliveryId;
use crate::core::json;
use crate::core::time::Millis;
use crate::log::sql::{Arg, Sql};
use engine::Held;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// Completed deliveries are remembered this long, so that a repeated enqueue of the same
/// delivery (a publish retried after a lost answer) does not send it again.
const DONE_RETENTION_MS: Millis = 7 * 86_400_000;

/// `done` is pruned at most this often (its rows are kept for days; an hour late is nothing).
const PRUNE_EVERY_MS: Millis = 3_600_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
  delivery_id TEXT PRIMARY KEY,
  due_at INTEGER,
  attempts INTEGER NOT NULL,
  body TEXT NOT NULL,
  done_at INTEGER,
  records TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_by_due ON deliveries (due_at);
CREATE INDEX IF NOT EXISTS deliveries_done ON deliveries (done_at) WHERE done_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS deliveries_unrecorded ON deliveries (delivery_id) WHERE records IS NOT NULL;
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL);
";

/// The tables of the layout before `deliveries` (a `queue` of pending rows and a `done` table
/// of finished ids), moved into it once, in one synchronous stretch (so atomically).
const FROM_QUEUE_AND_DONE: &str = "
INSERT OR IGNORE INTO deliveries (delivery_id, due_at, attempts, body)
  SELECT delivery_id, due_at, attempts, body FROM queue;
INSERT OR IGNORE INTO deliveries (delivery_id, due_at, attempts, body, done_at)
  SELECT delivery_id, NULL, 0, '', done_at FROM done;
DROP TABLE queue;
DROP TABLE done;
";

/// Logs a failed statement (the Worker's console; stderr in native tests).
fn log_error(message: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_error!("{message}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{message}");
}

pub struct SqlQueue<S: Sql> {
    sql: S,
    /// The `kv` table as last read or written, by key (`None`: no row). This object is the
    /// storage's only writer, so the copy stays true; it saves a query for every read of the
    /// breaker, the failure streak, the rate bucket and the rest, and a write for every save
    /// of an unchanged value.
    kv: RefCell<HashMap<String, Option<String>>>,
    /// When done rows were last pruned (in this instance's life).
    pruned_at: Cell<Millis>,
    /// The engine's writes since its last commit (`QueueStore::commit`).
    held: RefCell<Held>,
    /// `Some(false)`: the `outbox` table is known to be empty (it was read empty and nothing
    /// was pushed since), so a flush need not read it. `None` until first read.
    outbox_nonempty: Cell<Option<bool>>,
}

#[derive(Deserialize)]
struct Value {
    value: String,
}

#[derive(Deserialize)]
struct Count {
    n: u64,
}

#[derive(Deserialize)]
struct OutboxRow {
    id: i64,
    record: String,
}

#[derive(Deserialize)]
struct Unrecorded {
    delivery_id: String,
    records: String,
}

#[derive(Deserialize)]
struct Name {
    #[allow(dead_code)]
    name: String,
}

/// Attempt records read back for their log shards, and what to tell the store once the
/// shards have them (`SqlQueue::recorded`).
pub struct Pending {
    pub attempts: Vec<AttemptRecord>,
    /// `(delivery_id, length of the records text read)`.
    taken: Vec<(String, usize)>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.taken.is_empty()
    }
}

impl<S: Sql> SqlQueue<S> {
    pub fn new(sql: S) -> Self {
        SqlQueue {
            sql,
            kv: RefCell::new(HashMap::new()),
            pruned_at: Cell::new(Millis::MIN),
            held: RefCell::new(Held::default()),
            outbox_nonempty: Cell::new(None),
        }
    }

    /// Creates the tables, and moves the rows of the layout before (`queue`, `done`) into
    /// `deliveries` if this object still has them.
    pub fn migrate(&self) -> Result<(), String> {
        self.sql.exec(SCHEMA, &[])?;
        let old: Vec<Name> = self.sql.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
            &["done".into()],
        )?;
        if !old.is_empty() {
            self.sql.exec(FROM_QUEUE_AND_DONE, &[])?;
        }
        Ok(())
    }

    fn exec(&self, query: &str, args: &[Arg]) -> Option<usize> {
        match self.sql.exec(query, args) {
            Ok(n) => Some(n),
            Err(e) => {
                log_error(&format!("scheduler sql failed: {query}: {e}"));
                None
            }
        }
    }

    fn query<T: DeserializeOwned>(&self, query: &str, args: &[Arg]) -> Vec<T> {
        // Whatever reads the storage sees the engine's writes.
        self.write_held();
        match self.sql.query(query, args) {
            Ok(rows) => rows,
            Err(e) => {
                log_error(&format!("scheduler sql failed: {query}: {e}"));
                vec![]
            }
        }
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        // A stored value that no longer parses (a destination snapshot with an unreadable
        // column) reads as absent, and says so in the log.
        let raw = self.get_text(key)?;
        json::from_str(&raw).map_err(|e| unreadable(key, &e)).ok()
    }

    /// The JSON text under `key` (the part of `get` that does not depend on the type: one copy
    /// in the wasm rather than one per type read).
    fn get_text(&self, key: &str) -> Option<String> {
        let cached = self.kv.borrow().get(key).cloned();
        match cached {
            Some(raw) => raw,
            None => {
                let rows: Vec<Value> =
                    self.query("SELECT value FROM kv WHERE key = ?", &[key.into()]);
                let raw = rows.into_iter().next().map(|r| r.value);
                self.kv.borrow_mut().insert(key.to_string(), raw.clone());
                raw
            }
        }
    }

    /// Writes the value unless the row holds it already.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) {
        self.put_text(key, serde_json::to_string(value).unwrap_or_default());
    }

    fn put_text(&self, key: &str, json: String) {
        if self
            .kv
            .borrow()
            .get(key)
            .is_some_and(|v| v.as_ref() == Some(&json))
        {
            return;
        }
        let written = self.exec(
            "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)",
            &[key.into(), json.as_str().into()],
        );
        let mut kv = self.kv.borrow_mut();
        if written.is_some() {
            kv.insert(key.to_string(), Some(json));
        } else {
            // Unknown now: read it again next time.
            kv.remove(key);
        }
    }

    /// Queues each delivery unless it is queued already or was completed recently (a manual
    /// retry is asked for on purpose: it is queued again even though it was done). Returns
    /// the due times of those newly queued. One statement for them all.
    pub fn enqueue_all(&self, deliveries: &[QueuedDelivery]) -> Vec<Millis> {
        if deliveries.is_empty() {
            return vec![];
        }
        self.write_held();
        #[derive(Deserialize)]
        struct Queued {
            due_at: Millis,
        }
        let rows = serde_json::to_string(deliveries).unwrap_or_default();
        // A done row comes back to the queue for a manual retry; its unacknowledged records
        // stay. `RETURNING` names the rows inserted or queued again, not those left alone.
        match self.sql.query::<Queued>(
            "INSERT INTO deliveries (delivery_id, due_at, attempts, body) \
             SELECT json_extract(value, '$.delivery_id'), json_extract(value, '$.due_at'), \
             json_extract(value, '$.attempts'), value FROM json_each(?1) WHERE true \
             ON CONFLICT (delivery_id) DO UPDATE SET due_at = excluded.due_at, \
             attempts = excluded.attempts, body = excluded.body, done_at = NULL \
             WHERE deliveries.due_at IS NULL AND json_extract(excluded.body, '$.manual') IS NOT NULL \
             RETURNING due_at",
            &[rows.into()],
        ) {
            Ok(queued) => queued.into_iter().map(|q| q.due_at).collect(),
            Err(e) => {
                log_error(&format!("enqueue failed: {e}"));
                vec![]
            }
        }
    }

    /// Deliveries waiting to be sent (done ones are not counted).
    pub fn depth(&self) -> u64 {
        let rows: Vec<Count> = self.query(
            "SELECT COUNT(*) AS n FROM deliveries WHERE due_at IS NOT NULL",
            &[],
        );
        rows.first().map_or(0, |r| r.n)
    }

    /// Forgets every delivery and all state: the destination is gone.
    pub fn clear(&self) {
        self.held.replace(Held::default());
        for table in ["deliveries", "kv", "outbox"] {
            self.exec(&format!("DELETE FROM {table}"), &[]);
        }
        self.kv.borrow_mut().clear();
        self.outbox_nonempty.set(Some(false));
    }

    /// Forgets completed deliveries past `DONE_RETENTION_MS` (at most once an hour), once
    /// their records are in their shards.
    pub fn prune_done(&self, now: Millis) {
        if now.saturating_sub(self.pruned_at.get()) < PRUNE_EVERY_MS {
            return;
        }
        self.pruned_at.set(now);
        self.write_held();
        self.exec(
            "DELETE FROM deliveries WHERE done_at < ? AND due_at IS NULL AND records IS NULL",
            &[(now - DONE_RETENTION_MS).into()],
        );
    }

    /// Keeps records (JSON text) until the shell has delivered them.
    pub fn push_outbox(&self, records: &[String]) {
        self.write_held();
        for r in records {
            self.exec(
                "INSERT INTO outbox (record) VALUES (?)",
                &[r.as_str().into()],
            );
        }
        if !records.is_empty() {
            self.outbox_nonempty.set(Some(true));
        }
    }

    /// The oldest records of the `outbox` table, with their ids (none read when it is known
    /// to be empty).
    pub fn outbox(&self, limit: usize) -> Vec<(i64, String)> {
        if self.outbox_nonempty.get() == Some(false) {
            return vec![];
        }
        let rows: Vec<OutboxRow> = self.query(
            "SELECT id, record FROM outbox ORDER BY id LIMIT ?",
            &[(limit as i64).into()],
        );
        if rows.is_empty() {
            self.outbox_nonempty.set(Some(false));
        }
        rows.into_iter().map(|r| (r.id, r.record)).collect()
    }

    pub fn drop_outbox_through(&self, last_id: i64) {
        self.write_held();
        self.exec("DELETE FROM outbox WHERE id <= ?", &[last_id.into()]);
    }

    /// Attempt records not yet acknowledged by their shards, of at most `limit` deliveries.
    pub fn unrecorded(&self, limit: usize) -> Pending {
        let rows: Vec<Unrecorded> = self.query(
            "SELECT delivery_id, records FROM deliveries WHERE records IS NOT NULL LIMIT ?",
            &[(limit as i64).into()],
        );
        let mut pending = Pending {
            attempts: vec![],
            taken: vec![],
        };
        for r in rows {
            match json::from_str::<Vec<AttemptRecord>>(&format!("[{}]", r.records)) {
                Ok(attempts) => pending.attempts.extend(attempts),
                // Unreadable (never expected): dropped with the rest, and said so.
                Err(e) => log_error(&format!(
                    "scheduler attempt records of {} unreadable, dropped: {e}",
                    r.delivery_id
                )),
            }
            pending.taken.push((r.delivery_id, r.records.len()));
        }
        pending
    }

    /// The shards have `pending`'s records: forget them (records added since stay).
    pub fn recorded(&self, pending: &Pending) {
        if pending.taken.is_empty() {
            return;
        }
        self.write_held();
        let taken = serde_json::to_string(&pending.taken).unwrap_or_default();
        self.exec(
            "UPDATE deliveries SET records = CASE WHEN length(records) <= json_extract(j.value, '$[1]') \
             THEN NULL ELSE substr(records, json_extract(j.value, '$[1]') + 2) END \
             FROM json_each(?) AS j WHERE deliveries.delivery_id = json_extract(j.value, '$[0]')",
            &[taken.into()],
        );
    }
}

/// Logs a stored value that no longer parses.
fn unreadable(key: &str, e: &serde_json::Error) {
    log_error(
        &serde_json::json!({ "event": "scheduler_state_unreadable", "key": key, "error": e.to_string() })
            .to_string(),
    );
}

mod engine;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
