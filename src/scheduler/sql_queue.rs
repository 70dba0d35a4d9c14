//! The engine's `QueueStore` on the Durable Object's SQLite storage.

use crate::core::breaker::Breaker;
use crate::core::engine::{AttemptRecord, QueueStore, QueuedDelivery};
use crate::core::ids::{DeliveryId, DestinationId, TenantId};
use crate::core::rate_limit::Bucket;
use crate::core::tagged::{self, Fields, TagFirst};
use crate::core::time::Millis;
use serde::de::{DeserializeOwned, MapAccess};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use worker::{console_error, SqlStorage, SqlStorageValue};

/// Completed deliveries are remembered this long, so that a repeated enqueue of the same
/// delivery (a publish retried after a lost answer) does not send it again.
const DONE_RETENTION_MS: Millis = 7 * 86_400_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue (
  delivery_id TEXT PRIMARY KEY,
  due_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_by_due ON queue (due_at);
CREATE TABLE IF NOT EXISTS done (delivery_id TEXT PRIMARY KEY, done_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS done_by_time ON done (done_at);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL);
";

/// What the scheduler owes others: attempt records (to log shards), an auto-disable (to D1),
/// and alerts to publish.
/// Kept as JSON text in the `outbox` table, read with the tag first (`core::tagged`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboxRecord {
    Attempt(AttemptRecord),
    Disabled(Disabled),
    Alert(Box<super::alerting::AlertEvent>),
    /// A run of a lane other than 0, for the destination's alerting, which lane 0 keeps.
    Observed {
        destination_id: DestinationId,
        run: crate::core::alerts::RunSeen,
    },
}

/// The destination was disabled automatically (`disable_after_failures`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Disabled {
    pub tenant_id: TenantId,
    pub destination_id: DestinationId,
    pub reason: String,
    pub at: Millis,
}

impl TagFirst for OutboxRecord {
    const TAG: &'static str = "kind";
    const VARIANTS: &'static [&'static str] = &["attempt", "disabled", "alert"];

    fn variant<'de, A: MapAccess<'de>>(name: &str, f: Fields<A>) -> Result<Self, A::Error> {
        Ok(match name {
            "attempt" => Self::Attempt(f.read()?),
            "disabled" => Self::Disabled(f.read()?),
            "alert" => Self::Alert(f.read()?),
            _ => return Err(f.unknown::<Self>(name)),
        })
    }
}

tagged::impl_deserialize!(OutboxRecord);

pub struct SqlQueue {
    sql: SqlStorage,
    /// The `kv` table as last read or written, by key (`None`: no row). This object is the
    /// storage's only writer, so the copy stays true; it saves a query for every read of the
    /// breaker, the failure streak, the rate bucket and the rest, and a write for every save
    /// of an unchanged value.
    kv: RefCell<HashMap<String, Option<String>>>,
    /// When `done` was last pruned (in this instance's life).
    pruned_at: Cell<Millis>,
    /// The engine's writes since its last commit (`QueueStore::commit`).
    held: RefCell<Held>,
}

/// Queue changes and attempt records held until the engine commits them, then written a
/// few statements for the whole round (`json_each` over the rows) rather than a few per
/// delivery.
#[derive(Default)]
struct Held {
    /// `(delivery_id, attempts, due_at)`, the last one given per delivery.
    reschedules: Vec<(String, u32, Millis)>,
    /// `(delivery_id, done_at)`.
    removes: Vec<(String, Millis)>,
    /// Outbox records, as JSON text.
    records: Vec<String>,
}

impl Held {
    fn is_empty(&self) -> bool {
        self.reschedules.is_empty() && self.removes.is_empty() && self.records.is_empty()
    }
}

/// `done` is pruned at most this often (its rows are kept for days; an hour late is nothing).
const PRUNE_EVERY_MS: Millis = 3_600_000;

#[derive(Deserialize)]
struct QueueRow {
    due_at: Millis,
    attempts: u32,
    body: String,
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
struct MinDue {
    t: Option<Millis>,
}

#[derive(Deserialize)]
struct OutboxRow {
    id: i64,
    record: String,
}

fn s(v: &str) -> SqlStorageValue {
    SqlStorageValue::String(v.to_string())
}

fn n(v: i64) -> SqlStorageValue {
    SqlStorageValue::Integer(v)
}

impl SqlQueue {
    pub fn new(sql: SqlStorage) -> Self {
        SqlQueue {
            sql,
            kv: RefCell::new(HashMap::new()),
            pruned_at: Cell::new(Millis::MIN),
            held: RefCell::new(Held::default()),
        }
    }

    pub fn migrate(&self) -> worker::Result<()> {
        self.sql.exec(SCHEMA, None)?;
        Ok(())
    }

    fn exec(&self, query: &str, args: Vec<SqlStorageValue>) -> bool {
        match self.sql.exec(query, args) {
            Ok(_) => true,
            Err(e) => {
                console_error!("scheduler sql failed: {query}: {e}");
                false
            }
        }
    }

    fn query<T: DeserializeOwned>(&self, query: &str, args: Vec<SqlStorageValue>) -> Vec<T> {
        // Whatever reads the storage sees the engine's writes.
        self.write_held();
        match self.sql.exec(query, args).and_then(|c| c.to_array::<T>()) {
            Ok(rows) => rows,
            Err(e) => {
                console_error!("scheduler sql failed: {query}: {e}");
                vec![]
            }
        }
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        // A stored value that no longer parses (a destination snapshot with an unreadable
        // column) reads as absent, and says so in the log.
        let raw = self.get_text(key)?;
        serde_json::from_str(&raw)
            .map_err(|e| unreadable(key, &e))
            .ok()
    }

    /// The JSON text under `key` (the part of `get` that does not depend on the type: one copy
    /// in the wasm rather than one per type read).
    fn get_text(&self, key: &str) -> Option<String> {
        let cached = self.kv.borrow().get(key).cloned();
        match cached {
            Some(raw) => raw,
            None => {
                let rows: Vec<Value> =
                    self.query("SELECT value FROM kv WHERE key = ?", vec![s(key)]);
                let raw = rows.into_iter().next().map(|r| r.value);
                self.kv.borrow_mut().insert(key.to_string(), raw.clone());
                raw
            }
        }
    }

    /// Writes the value unless the row holds it already.
    pub fn put<T: serde::Serialize>(&self, key: &str, value: &T) {
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
            vec![s(key), s(&json)],
        );
        let mut kv = self.kv.borrow_mut();
        if written {
            kv.insert(key.to_string(), Some(json));
        } else {
            // Unknown now: read it again next time.
            kv.remove(key);
        }
    }

    /// Queues a delivery unless it is queued already or was completed recently.
    /// Returns whether it was newly queued.
    pub fn enqueue(&self, d: &QueuedDelivery) -> bool {
        self.write_held();
        let body = serde_json::to_string(d).unwrap_or_default();
        let id = d.delivery_id.as_str();
        if d.manual.is_some() {
            // A manual retry is asked for on purpose: it is sent even though it was done.
            self.exec("DELETE FROM done WHERE delivery_id = ?", vec![s(id)]);
        }
        match self.sql.exec(
            "INSERT OR IGNORE INTO queue (delivery_id, due_at, attempts, body) \
             SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM done WHERE delivery_id = ?)",
            vec![s(id), n(d.due_at), n(d.attempts as i64), s(&body), s(id)],
        ) {
            Ok(c) => c.rows_written() > 0,
            Err(e) => {
                console_error!("enqueue failed: {e}");
                false
            }
        }
    }

    pub fn depth(&self) -> u64 {
        let rows: Vec<Count> = self.query("SELECT COUNT(*) AS n FROM queue", vec![]);
        rows.first().map_or(0, |r| r.n)
    }

    /// Forgets every delivery and all state: the destination is gone.
    pub fn clear(&self) {
        self.held.replace(Held::default());
        for table in ["queue", "done", "kv", "outbox"] {
            self.exec(&format!("DELETE FROM {table}"), vec![]);
        }
        self.kv.borrow_mut().clear();
    }

    /// Forgets completed deliveries past `DONE_RETENTION_MS` (at most once an hour).
    pub fn prune_done(&self, now: Millis) {
        if now.saturating_sub(self.pruned_at.get()) < PRUNE_EVERY_MS {
            return;
        }
        self.pruned_at.set(now);
        self.exec(
            "DELETE FROM done WHERE done_at < ?",
            vec![n(now - DONE_RETENTION_MS)],
        );
    }

    /// Keeps records until D1 has them.
    pub fn push_outbox(&self, records: &[OutboxRecord]) {
        self.write_held();
        for r in records {
            let json = serde_json::to_string(r).unwrap_or_default();
            self.exec("INSERT INTO outbox (record) VALUES (?)", vec![s(&json)]);
        }
    }

    /// Writes the held changes: at most one statement for the due times, two for the
    /// deliveries done (off the queue, into `done`) and one for the outbox records.
    fn write_held(&self) {
        if self.held.borrow().is_empty() {
            return;
        }
        let held = self.held.take();
        fn rows<T: Serialize>(v: &T) -> String {
            serde_json::to_string(v).unwrap_or_default()
        }
        if !held.reschedules.is_empty() {
            self.exec(
                "UPDATE queue SET attempts = json_extract(j.value, '$[1]'), \
                 due_at = json_extract(j.value, '$[2]') FROM json_each(?) AS j \
                 WHERE queue.delivery_id = json_extract(j.value, '$[0]')",
                vec![s(&rows(&held.reschedules))],
            );
        }
        if !held.removes.is_empty() {
            let removes = rows(&held.removes);
            self.exec(
                "DELETE FROM queue WHERE delivery_id IN \
                 (SELECT json_extract(value, '$[0]') FROM json_each(?))",
                vec![s(&removes)],
            );
            self.exec(
                "INSERT OR REPLACE INTO done (delivery_id, done_at) \
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)",
                vec![s(&removes)],
            );
        }
        if !held.records.is_empty() {
            // In the order given: the outbox flushes by id.
            self.exec(
                "INSERT INTO outbox (record) SELECT value FROM json_each(?) ORDER BY key",
                vec![s(&format!("[{}]", held.records.join(",")))],
            );
        }
    }

    /// The oldest unflushed records, with their outbox ids.
    pub fn outbox(&self, limit: usize) -> Vec<(i64, OutboxRecord)> {
        let rows: Vec<OutboxRow> = self.query(
            "SELECT id, record FROM outbox ORDER BY id LIMIT ?",
            vec![n(limit as i64)],
        );
        rows.into_iter()
            .filter_map(|r| serde_json::from_str(&r.record).ok().map(|rec| (r.id, rec)))
            .collect()
    }

    pub fn drop_outbox_through(&self, last_id: i64) {
        self.write_held();
        self.exec("DELETE FROM outbox WHERE id <= ?", vec![n(last_id)]);
    }
}

/// Logs a stored value that no longer parses.
fn unreadable(key: &str, e: &serde_json::Error) {
    worker::console_error!(
        "{}",
        serde_json::json!({ "event": "scheduler_state_unreadable", "key": key, "error": e.to_string() })
    );
}

const BREAKER_KEY: &str = "breaker";
const STREAK_KEY: &str = "failure_streak";
const BUCKET_KEY: &str = "rate_bucket";

impl QueueStore for SqlQueue {
    fn due(&self, now: Millis, limit: usize) -> Vec<QueuedDelivery> {
        let rows: Vec<QueueRow> = self.query(
            "SELECT due_at, attempts, body FROM queue WHERE due_at <= ? ORDER BY due_at, delivery_id LIMIT ?",
            vec![n(now), n(limit as i64)],
        );
        rows.into_iter()
            .filter_map(|r| {
                let mut d: QueuedDelivery = serde_json::from_str(&r.body).ok()?;
                d.due_at = r.due_at;
                d.attempts = r.attempts;
                Some(d)
            })
            .collect()
    }

    fn reschedule(&self, id: &DeliveryId, attempts: u32, due_at: Millis) {
        let mut held = self.held.borrow_mut();
        held.reschedules.retain(|(held, ..)| held != id.as_str());
        held.reschedules
            .push((id.as_str().to_string(), attempts, due_at));
    }

    fn remove(&self, id: &DeliveryId, now: Millis) {
        let mut held = self.held.borrow_mut();
        held.reschedules.retain(|(held, ..)| held != id.as_str());
        held.removes.push((id.as_str().to_string(), now));
    }

    fn record(&self, attempt: &AttemptRecord) {
        let json =
            serde_json::to_string(&OutboxRecord::Attempt(attempt.clone())).unwrap_or_default();
        self.held.borrow_mut().records.push(json);
    }

    fn commit(&self) {
        self.write_held();
    }

    fn next_due(&self) -> Option<Millis> {
        let rows: Vec<MinDue> = self.query("SELECT MIN(due_at) AS t FROM queue", vec![]);
        rows.into_iter().next().and_then(|r| r.t)
    }

    fn breaker(&self) -> Breaker {
        self.get(BREAKER_KEY).unwrap_or_default()
    }

    fn save_breaker(&self, breaker: &Breaker) {
        self.put(BREAKER_KEY, breaker);
    }

    fn failure_streak(&self) -> u32 {
        self.get(STREAK_KEY).unwrap_or(0)
    }

    fn save_failure_streak(&self, n: u32) {
        self.put(STREAK_KEY, &n);
    }

    fn bucket(&self) -> Bucket {
        self.get(BUCKET_KEY).unwrap_or_default()
    }

    fn save_bucket(&self, bucket: &Bucket) {
        self.put(BUCKET_KEY, bucket);
    }
}
