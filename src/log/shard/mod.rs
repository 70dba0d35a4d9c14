//! One log shard's logic, over the `Sql` port: its schema, storing an event with its
//! deliveries (idempotent on the event id), the hand-off outbox to the destinations'
//! schedulers, attempt records, manual retries, the reads the API pages through, and what
//! retention needs to know. The Durable Object is a thin shell around this.

use super::rows::{AttemptRow, DeliveryRow, DeliverySummary, EventDetail, EventRow, EventSummary};
use super::search::{scan_end_sql, search_sql, EventQuery, SqlValue};
use super::sql::{Arg, Sql};
use crate::core::delivery::DeliveryStatus;
use crate::core::engine::{AttemptRecord, QueuedDelivery};
use crate::core::ids::{DeliveryId, DestinationId, EventId, TenantId};
use crate::core::json;
use crate::core::log::ShardRef;
use crate::core::tagged::{self, Fields, TagFirst};
use crate::core::time::Millis;
use serde::de::{DeserializeOwned, MapAccess};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The shard's tables. `handoffs` is the outbox of deliveries owed to a scheduler (a new
/// event's pending ones, and manual retries); `destinations` the snapshot each hand-off is
/// sent with; `counts` the filtered and skipped deliveries not yet added to `/metrics`.
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY, topic TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_time ON events (created_at, id);
CREATE INDEX IF NOT EXISTS events_by_topic ON events (topic, created_at, id);
CREATE TABLE IF NOT EXISTS deliveries (
  id TEXT PRIMARY KEY, event_id TEXT NOT NULL, destination_id TEXT NOT NULL, topic TEXT NOT NULL,
  status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER,
  last_status_code INTEGER, last_error TEXT, manual_retries INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS deliveries_by_event ON deliveries (event_id);
CREATE INDEX IF NOT EXISTS deliveries_by_destination ON deliveries (destination_id, id);
CREATE INDEX IF NOT EXISTS deliveries_by_destination_status ON deliveries (destination_id, status, id);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (status) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS attempts (
  id TEXT PRIMARY KEY, delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, trigger TEXT NOT NULL,
  started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL, status_code INTEGER, outcome TEXT NOT NULL,
  error TEXT, response_body TEXT, requested_by TEXT, request_headers TEXT);
CREATE INDEX IF NOT EXISTS attempts_by_delivery ON attempts (delivery_id, attempt);
CREATE TABLE IF NOT EXISTS handoffs (
  delivery_id TEXT PRIMARY KEY, destination_id TEXT NOT NULL, manual TEXT, due_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS handoffs_by_due ON handoffs (due_at);
CREATE TABLE IF NOT EXISTS destinations (id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, row TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counts (
  destination_id TEXT NOT NULL, status TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY (destination_id, status));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// What storing an event did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stored {
    /// This call wrote the event; `false`: the id was here already (a repeated publish).
    pub created: bool,
    /// The event's deliveries: this call's, or for a repeated id the first call's.
    pub deliveries: Vec<DeliverySummary>,
}

/// A page of one shard's event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    pub events: Vec<EventSummary>,
    /// The scan budget ended at this `(created_at, id)` before the shard's events did:
    /// nothing after it was looked at.
    pub scanned_to: Option<(Millis, String)>,
}

/// A destination as its scheduler is told about it (`store::destinations::DestinationRow`,
/// kept as JSON text here so that the shard's logic needs no runtime type), with the time
/// it was last changed: only a newer snapshot replaces an older one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub destination_id: DestinationId,
    pub updated_at: Millis,
    pub row: String,
}

/// Deliveries owed to one destination's scheduler.
#[derive(Debug, Clone, PartialEq)]
pub struct Handoff {
    pub destination: Snapshot,
    pub deliveries: Vec<QueuedDelivery>,
}

/// Which failed deliveries a manual retry takes (read with the tag first, `core::tagged`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum RetryScope {
    /// One delivery (failed or delivered).
    Delivery(DeliveryScope),
    /// Every failed delivery of an event, to these destinations (the enabled ones).
    Event(EventScope),
    /// One destination's failed deliveries created in `[since, until)`, oldest first.
    Destination(DestinationScope),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryScope {
    pub id: DeliveryId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventScope {
    pub id: EventId,
    pub destinations: Vec<DestinationId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestinationScope {
    pub id: DestinationId,
    pub since: Millis,
    pub until: Millis,
    pub limit: usize,
}

impl TagFirst for RetryScope {
    const TAG: &'static str = "scope";
    const VARIANTS: &'static [&'static str] = &["delivery", "event", "destination"];

    fn variant<'de, A: MapAccess<'de>>(name: &str, f: Fields<A>) -> Result<Self, A::Error> {
        Ok(match name {
            "delivery" => Self::Delivery(f.read()?),
            "event" => Self::Event(f.read()?),
            "destination" => Self::Destination(f.read()?),
            _ => return Err(f.unknown::<Self>(name)),
        })
    }
}

tagged::impl_deserialize!(RetryScope);

/// What a manual retry marked, and whether the scope held more than it took.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Retried {
    pub ids: Vec<DeliveryId>,
    pub more: bool,
}

pub struct Shard<'a, S: Sql> {
    sql: &'a S,
}

#[derive(Deserialize)]
struct Count {
    n: u64,
}

#[derive(Deserialize)]
struct Value {
    value: String,
}

fn args(values: Vec<SqlValue>) -> Vec<Arg> {
    values
        .into_iter()
        .map(|v| match v {
            SqlValue::Str(s) => Arg::Str(s),
            SqlValue::Int(n) => Arg::Int(n),
        })
        .collect()
}

/// The delivery columns, in `DeliveryRow` order.
const DELIVERY: &str = "id, event_id, destination_id, topic, status, attempts, next_attempt_at, \
    last_status_code, last_error, manual_retries, created_at, updated_at";
const ATTEMPT: &str = "id, delivery_id, attempt, trigger, started_at, duration_ms, status_code, \
    outcome, error, response_body, requested_by, request_headers";

impl<'a, S: Sql> Shard<'a, S> {
    pub fn new(sql: &'a S) -> Self {
        Shard { sql }
    }

    pub fn migrate(&self) -> Result<(), String> {
        self.sql.exec(SCHEMA, &[]).map(|_| ())
    }

    fn query<T: DeserializeOwned>(&self, sql: &str, args: &[Arg]) -> Result<Vec<T>, String> {
        self.sql.query(sql, args)
    }

    pub fn meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, String> {
        let rows: Vec<Value> =
            self.query("SELECT value FROM meta WHERE key = ?1", &[key.into()])?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| json::from_str(&r.value).ok()))
    }

    pub fn set_meta<T: Serialize>(&self, key: &str, value: &T) -> Result<(), String> {
        let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
        self.sql
            .exec(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                &[key.into(), json.into()],
            )
            .map(|_| ())
    }

    fn owe(
        &self,
        delivery: &DeliveryId,
        destination: &DestinationId,
        manual: Option<&str>,
        due_at: Millis,
    ) -> Result<(), String> {
        self.sql
            .exec(
                "INSERT OR REPLACE INTO handoffs (delivery_id, destination_id, manual, due_at) VALUES (?1, ?2, ?3, ?4)",
                &[
                    delivery.as_str().into(),
                    destination.as_str().into(),
                    manual.into(),
                    due_at.into(),
                ],
            )
            .map(|_| ())
    }

    /// Records attempts and the delivery states they lead to, in two statements however many
    /// there are. A delivery's row never goes backwards: an older record arriving late does not
    /// overwrite a newer one, and a record sent twice is stored once.
    pub fn record(&self, records: &[AttemptRecord]) -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        let json = |v: serde_json::Value| v.to_string();
        let rows: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                let headers = r
                    .request_headers
                    .as_ref()
                    .map(|h| serde_json::to_string(h).unwrap_or_default());
                serde_json::json!([
                    r.id,
                    r.delivery_id,
                    r.attempt,
                    r.started_at,
                    r.duration_ms,
                    r.status_code,
                    r.outcome.as_str(),
                    r.error,
                    r.response_body,
                    r.requested_by,
                    headers
                ])
            })
            .collect();
        self.sql.exec(
            &format!(
                "INSERT OR IGNORE INTO attempts ({ATTEMPT}) SELECT json_extract(value, '$[0]'), \
                 json_extract(value, '$[1]'), json_extract(value, '$[2]'), \
                 CASE WHEN json_extract(value, '$[9]') IS NULL THEN 'scheduled' ELSE 'manual' END, \
                 json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), \
                 json_extract(value, '$[6]'), json_extract(value, '$[7]'), json_extract(value, '$[8]'), \
                 json_extract(value, '$[9]'), json_extract(value, '$[10]') FROM json_each(?1)"
            ),
            &[json(serde_json::Value::Array(rows)).into()],
        )?;
        // The latest record of each delivery (by attempt; a later one of equal number wins).
        let mut latest: BTreeMap<&str, &AttemptRecord> = BTreeMap::new();
        for r in records {
            let slot = latest.entry(r.delivery_id.as_str()).or_insert(r);
            if r.attempt >= slot.attempt {
                *slot = r;
            }
        }
        let states: Vec<serde_json::Value> = latest
            .values()
            .map(|r| {
                serde_json::json!([
                    r.delivery_id,
                    DeliveryStatus::after(r.outcome).as_str(),
                    r.attempt,
                    r.next_attempt_at,
                    r.status_code,
                    r.error,
                    r.started_at + r.duration_ms as i64
                ])
            })
            .collect();
        self.sql
            .exec(
                "UPDATE deliveries SET status = json_extract(j.value, '$[1]'), \
                 attempts = json_extract(j.value, '$[2]'), next_attempt_at = json_extract(j.value, '$[3]'), \
                 last_status_code = json_extract(j.value, '$[4]'), last_error = json_extract(j.value, '$[5]'), \
                 updated_at = json_extract(j.value, '$[6]') FROM json_each(?1) AS j \
                 WHERE deliveries.id = json_extract(j.value, '$[0]') \
                 AND deliveries.attempts <= json_extract(j.value, '$[2]')",
                &[json(serde_json::Value::Array(states)).into()],
            )
            .map(|_| ())
    }
}

mod outbox;
mod reads;
mod store;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
mod upkeep;
