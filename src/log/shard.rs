//! One log shard's logic, over the `Sql` port: its schema, storing an event with its
//! deliveries (idempotent on the event id), the hand-off outbox to the destinations'
//! schedulers, attempt records, manual retries, the reads the API pages through, and what
//! retention needs to know. The Durable Object is a thin shell around this.

use super::rows::{
    AttemptRow, DeliveryRow, DeliverySummary, EventDetail, EventRow, EventSummary, NewDelivery,
};
use super::search::{scan_end_sql, search_sql, EventQuery, SqlValue};
use super::sql::{Arg, Sql};
use crate::core::engine::{AttemptOutcome, AttemptRecord, QueuedDelivery};
use crate::core::ids::{DeliveryId, DestinationId, EventId, TenantId};
use crate::core::log::ShardRef;
use crate::core::time::Millis;
use serde::de::DeserializeOwned;
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

/// Which failed deliveries a manual retry takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum RetryScope {
    /// One delivery (failed or delivered).
    Delivery { id: DeliveryId },
    /// Every failed delivery of an event, to these destinations (the enabled ones).
    Event {
        id: EventId,
        destinations: Vec<DestinationId>,
    },
    /// One destination's failed deliveries created in `[since, until)`, oldest first.
    Destination {
        id: DestinationId,
        since: Millis,
        until: Millis,
        limit: usize,
    },
}

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
            .and_then(|r| serde_json::from_str(&r.value).ok()))
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

    /// Stores an event with its deliveries and their hand-offs, unless the event is here
    /// already: then nothing is written and the first call's deliveries come back.
    pub fn store(
        &self,
        event: &EventRow,
        deliveries: &[NewDelivery],
        snapshots: &[Snapshot],
        now: Millis,
    ) -> Result<Stored, String> {
        let created = self.sql.exec(
            "INSERT OR IGNORE INTO events (id, topic, data, metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[
                event.id.as_str().into(),
                (&event.topic).into(),
                (&event.data).into(),
                (&event.metadata).into(),
                event.created_at.into(),
            ],
        )? > 0;
        if !created {
            return Ok(Stored {
                created: false,
                deliveries: self.deliveries_of(&event.id)?,
            });
        }
        self.refresh(snapshots)?;
        for d in deliveries {
            self.sql.exec(
                "INSERT INTO deliveries (id, event_id, destination_id, topic, status, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                &[
                    d.id.as_str().into(),
                    event.id.as_str().into(),
                    d.destination_id.as_str().into(),
                    (&event.topic).into(),
                    (&d.status).into(),
                    event.created_at.into(),
                ],
            )?;
            if d.status == "pending" {
                self.owe(&d.id, &d.destination_id, None, now)?;
            } else {
                // Filtered and skipped deliveries are never attempted: counted for /metrics here.
                self.sql.exec(
                    "INSERT INTO counts (destination_id, status, n) VALUES (?1, ?2, 1) \
                     ON CONFLICT (destination_id, status) DO UPDATE SET n = n + 1",
                    &[d.destination_id.as_str().into(), (&d.status).into()],
                )?;
            }
        }
        Ok(Stored {
            created: true,
            deliveries: deliveries
                .iter()
                .map(|d| DeliverySummary {
                    id: d.id.clone(),
                    destination_id: d.destination_id.clone(),
                    status: d.status.clone(),
                })
                .collect(),
        })
    }

    /// Keeps the newest snapshot of each destination (a hand-off is sent with it).
    pub fn refresh(&self, snapshots: &[Snapshot]) -> Result<(), String> {
        for s in snapshots {
            self.sql.exec(
                "INSERT INTO destinations (id, updated_at, row) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at, row = excluded.row \
                 WHERE excluded.updated_at > destinations.updated_at",
                &[
                    s.destination_id.as_str().into(),
                    s.updated_at.into(),
                    (&s.row).into(),
                ],
            )?;
        }
        Ok(())
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

    pub fn deliveries_of(&self, event: &EventId) -> Result<Vec<DeliverySummary>, String> {
        self.query(
            "SELECT id, destination_id, status FROM deliveries WHERE event_id = ?1 ORDER BY id",
            &[event.as_str().into()],
        )
    }

    /// An event with every delivery and attempt.
    pub fn event(&self, id: &EventId) -> Result<Option<EventDetail>, String> {
        let Some(event) = self
            .query::<EventRow>(
                "SELECT id, topic, data, metadata, created_at FROM events WHERE id = ?1",
                &[id.as_str().into()],
            )?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let deliveries = self.query(
            &format!("SELECT {DELIVERY} FROM deliveries WHERE event_id = ?1 ORDER BY id"),
            &[id.as_str().into()],
        )?;
        let attempts = self.query(
            &format!(
                "SELECT {ATTEMPT} FROM attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id = ?1) \
                 ORDER BY started_at, attempt"
            ),
            &[id.as_str().into()],
        )?;
        Ok(Some(EventDetail {
            event,
            deliveries,
            attempts,
        }))
    }

    /// A page (`limit + 1` rows) of the events matching `q`, with their delivery counts, and
    /// where a budgeted scan stopped short of the shard's end (`search::SCAN_BUDGET`).
    pub fn search(&self, q: &EventQuery) -> Result<SearchPage, String> {
        let (sql, values) = search_sql(q);
        let events: Vec<EventRow> = self.query(&sql, &args(values))?;
        let scanned_to = if q.scans() && events.len() <= q.limit {
            #[derive(Deserialize)]
            struct End {
                created_at: Millis,
                id: String,
            }
            let (sql, values) = scan_end_sql(q);
            self.query::<End>(&sql, &args(values))?
                .into_iter()
                .next()
                .map(|e| (e.created_at, e.id))
        } else {
            None
        };
        Ok(SearchPage {
            events: self.with_counts(events)?,
            scanned_to,
        })
    }

    fn with_counts(&self, events: Vec<EventRow>) -> Result<Vec<EventSummary>, String> {
        if events.is_empty() {
            return Ok(vec![]);
        }
        #[derive(Deserialize)]
        struct StatusCount {
            event_id: String,
            status: String,
            n: u32,
        }
        let ids = serde_json::to_string(&events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
            .map_err(|e| e.to_string())?;
        let counts: Vec<StatusCount> = self.query(
            "SELECT event_id, status, COUNT(*) AS n FROM deliveries \
             WHERE event_id IN (SELECT value FROM json_each(?1)) GROUP BY event_id, status",
            &[ids.into()],
        )?;
        let mut by_event: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
        for c in counts {
            by_event
                .entry(c.event_id)
                .or_default()
                .insert(c.status, c.n);
        }
        Ok(events
            .into_iter()
            .map(|event| EventSummary {
                deliveries: by_event.remove(event.id.as_str()).unwrap_or_default(),
                event,
            })
            .collect())
    }

    /// A page (`limit + 1` rows) of one destination's deliveries, newest first.
    pub fn destination_deliveries(
        &self,
        destination: &DestinationId,
        status: Option<&str>,
        before: Option<&DeliveryId>,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>, String> {
        self.query(
            &format!(
                "SELECT {DELIVERY} FROM deliveries WHERE destination_id = ?1 AND (?2 IS NULL OR status = ?2) \
                 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
            ),
            &[
                destination.as_str().into(),
                status.into(),
                before.map(DeliveryId::as_str).into(),
                (limit as i64 + 1).into(),
            ],
        )
    }

    /// One delivery with its attempts, oldest first.
    pub fn delivery(
        &self,
        id: &DeliveryId,
    ) -> Result<Option<(DeliveryRow, Vec<AttemptRow>)>, String> {
        let Some(row) = self
            .query::<DeliveryRow>(
                &format!("SELECT {DELIVERY} FROM deliveries WHERE id = ?1"),
                &[id.as_str().into()],
            )?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let attempts = self.query(
            &format!("SELECT {ATTEMPT} FROM attempts WHERE delivery_id = ?1 ORDER BY attempt, started_at"),
            &[id.as_str().into()],
        )?;
        Ok(Some((row, attempts)))
    }

    /// Records attempts and the delivery states they lead to. A delivery's row never goes
    /// backwards: an older record arriving late does not overwrite a newer one, and a record
    /// sent twice is stored once.
    pub fn record(&self, records: &[AttemptRecord]) -> Result<(), String> {
        for r in records {
            let headers = r
                .request_headers
                .as_ref()
                .map(|h| serde_json::to_string(h).unwrap_or_default());
            self.sql.exec(
                &format!(
                    "INSERT OR IGNORE INTO attempts ({ATTEMPT}) VALUES (?1, ?2, ?3, \
                     CASE WHEN ?10 IS NULL THEN 'scheduled' ELSE 'manual' END, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ),
                &[
                    r.id.as_str().into(),
                    r.delivery_id.as_str().into(),
                    r.attempt.into(),
                    r.started_at.into(),
                    (r.duration_ms as i64).into(),
                    r.status_code.map(u32::from).into(),
                    r.outcome.as_str().into(),
                    r.error.clone().into(),
                    r.response_body.clone().into(),
                    r.requested_by.clone().into(),
                    headers.into(),
                ],
            )?;
            let status = match r.outcome {
                AttemptOutcome::Delivered => "delivered",
                AttemptOutcome::Retry => "pending",
                AttemptOutcome::Failed => "failed",
            };
            self.sql.exec(
                "UPDATE deliveries SET status = ?2, attempts = ?3, next_attempt_at = ?4, last_status_code = ?5, \
                 last_error = ?6, updated_at = ?7 WHERE id = ?1 AND attempts <= ?3",
                &[
                    r.delivery_id.as_str().into(),
                    status.into(),
                    r.attempt.into(),
                    r.next_attempt_at.into(),
                    r.status_code.map(u32::from).into(),
                    r.error.clone().into(),
                    (r.started_at + r.duration_ms as i64).into(),
                ],
            )?;
        }
        Ok(())
    }

    /// Marks deliveries for a manual retry (pending, one more manual retry each, at most
    /// `cap`) and owes them to their schedulers, `requested_by` naming who asked.
    pub fn retry(
        &self,
        scope: &RetryScope,
        cap: u32,
        requested_by: &str,
        now: Millis,
    ) -> Result<Retried, String> {
        #[derive(Deserialize)]
        struct Candidate {
            id: DeliveryId,
            destination_id: DestinationId,
        }
        let (candidates, more): (Vec<Candidate>, bool) = match scope {
            RetryScope::Delivery { id } => (
                self.query(
                    "SELECT id, destination_id FROM deliveries WHERE id = ?1 AND status IN ('failed', 'delivered') \
                     AND manual_retries < ?2",
                    &[id.as_str().into(), cap.into()],
                )?,
                false,
            ),
            RetryScope::Event { id, destinations } => {
                let allowed = serde_json::to_string(destinations).map_err(|e| e.to_string())?;
                (
                    self.query(
                        "SELECT id, destination_id FROM deliveries WHERE event_id = ?1 AND status = 'failed' \
                         AND manual_retries < ?2 AND destination_id IN (SELECT value FROM json_each(?3)) ORDER BY id",
                        &[id.as_str().into(), cap.into(), allowed.into()],
                    )?,
                    false,
                )
            }
            RetryScope::Destination {
                id,
                since,
                until,
                limit,
            } => {
                // Ids only (never payloads): the hand-off reads each payload when it sends.
                let mut found: Vec<Candidate> = self.query(
                    "SELECT id, destination_id FROM deliveries WHERE destination_id = ?1 AND status = 'failed' \
                     AND created_at >= ?2 AND created_at < ?3 AND manual_retries < ?4 ORDER BY created_at, id LIMIT ?5",
                    &[
                        id.as_str().into(),
                        (*since).into(),
                        (*until).into(),
                        cap.into(),
                        (*limit as i64 + 1).into(),
                    ],
                )?;
                let more = found.len() > *limit;
                found.truncate(*limit);
                (found, more)
            }
        };
        let mut ids = vec![];
        for c in candidates {
            let marked = self.sql.exec(
                "UPDATE deliveries SET status = 'pending', manual_retries = manual_retries + 1, next_attempt_at = ?2, \
                 updated_at = ?2 WHERE id = ?1 AND status IN ('failed', 'delivered') AND manual_retries < ?3",
                &[c.id.as_str().into(), now.into(), cap.into()],
            )?;
            if marked > 0 {
                self.owe(&c.id, &c.destination_id, Some(requested_by), now)?;
                ids.push(c.id);
            }
        }
        Ok(Retried { ids, more })
    }

    /// The hand-offs due at `now`, at most `limit` and at most `max_bytes` of payloads (but
    /// always the first), grouped by destination, each delivery with its payload read from
    /// the event. Payloads are up to `MAX_BODY_BYTES` each: the byte budget, not the count,
    /// is what bounds the memory of one hand-off run.
    pub fn due_handoffs(
        &self,
        tenant: &TenantId,
        shard: ShardRef,
        now: Millis,
        (limit, max_bytes): (usize, usize),
    ) -> Result<Vec<Handoff>, String> {
        #[derive(Deserialize)]
        struct Sized {
            delivery_id: String,
            size: usize,
        }
        let sizes: Vec<Sized> = self.query(
            "SELECT h.delivery_id, length(e.data) AS size FROM handoffs h \
             JOIN deliveries d ON d.id = h.delivery_id JOIN events e ON e.id = d.event_id \
             WHERE h.due_at <= ?1 ORDER BY h.destination_id, h.due_at, h.delivery_id LIMIT ?2",
            &[now.into(), (limit as i64).into()],
        )?;
        let mut total = 0;
        let chosen: Vec<&str> = sizes
            .iter()
            .take_while(|r| {
                let first = total == 0;
                total += r.size.max(1);
                first || total <= max_bytes
            })
            .map(|r| r.delivery_id.as_str())
            .collect();
        if chosen.is_empty() {
            return Ok(vec![]);
        }
        let chosen = serde_json::to_string(&chosen).map_err(|e| e.to_string())?;
        #[derive(Deserialize)]
        struct Due {
            delivery_id: DeliveryId,
            destination_id: DestinationId,
            manual: Option<String>,
            attempts: u32,
            event_id: EventId,
            topic: String,
            data: String,
            metadata: String,
            created_at: Millis,
            snapshot_at: Option<Millis>,
            snapshot: Option<String>,
        }
        let due: Vec<Due> = self.query(
            "SELECT h.delivery_id, h.destination_id, h.manual, d.attempts, e.id AS event_id, e.topic, e.data, \
             e.metadata, e.created_at, s.updated_at AS snapshot_at, s.row AS snapshot FROM handoffs h \
             JOIN deliveries d ON d.id = h.delivery_id JOIN events e ON e.id = d.event_id \
             LEFT JOIN destinations s ON s.id = h.destination_id \
             WHERE h.delivery_id IN (SELECT value FROM json_each(?1)) \
             ORDER BY h.destination_id, h.due_at, h.delivery_id",
            &[chosen.into()],
        )?;
        let mut out: Vec<Handoff> = vec![];
        for d in due {
            let (Some(row), Some(updated_at)) = (d.snapshot, d.snapshot_at) else {
                continue;
            };
            let queued = QueuedDelivery {
                delivery_id: d.delivery_id,
                tenant_id: tenant.clone(),
                event_id: d.event_id,
                topic: d.topic,
                payload: d.data,
                metadata: serde_json::from_str(&d.metadata).unwrap_or_default(),
                attempts: d.attempts,
                due_at: now,
                created_at: d.created_at,
                manual: d.manual,
                shard,
            };
            match out.last_mut() {
                Some(h) if h.destination.destination_id == d.destination_id => {
                    h.deliveries.push(queued)
                }
                _ => out.push(Handoff {
                    destination: Snapshot {
                        destination_id: d.destination_id,
                        updated_at,
                        row,
                    },
                    deliveries: vec![queued],
                }),
            }
        }
        Ok(out)
    }

    /// The scheduler has these: they are owed no more.
    pub fn handed_off(&self, ids: &[DeliveryId]) -> Result<(), String> {
        for id in ids {
            self.sql.exec(
                "DELETE FROM handoffs WHERE delivery_id = ?1",
                &[id.as_str().into()],
            )?;
        }
        Ok(())
    }

    /// A scheduler that could not take its hand-offs: try them again at `at`.
    pub fn postpone(&self, destination: &DestinationId, at: Millis) -> Result<(), String> {
        self.sql
            .exec(
                "UPDATE handoffs SET due_at = ?2 WHERE destination_id = ?1",
                &[destination.as_str().into(), at.into()],
            )
            .map(|_| ())
    }

    /// The destination was deleted: what it was owed fails, with the reason.
    pub fn destination_gone(&self, destination: &DestinationId, now: Millis) -> Result<(), String> {
        self.sql.exec(
            "UPDATE deliveries SET status = 'failed', last_error = 'the destination was deleted', updated_at = ?2 \
             WHERE destination_id = ?1 AND status = 'pending'",
            &[destination.as_str().into(), now.into()],
        )?;
        self.sql
            .exec(
                "DELETE FROM handoffs WHERE destination_id = ?1",
                &[destination.as_str().into()],
            )
            .map(|_| ())
    }

    /// When the next hand-off is due.
    pub fn next_handoff(&self) -> Result<Option<Millis>, String> {
        #[derive(Deserialize)]
        struct Next {
            t: Option<Millis>,
        }
        Ok(self
            .query::<Next>("SELECT MIN(due_at) AS t FROM handoffs", &[])?
            .into_iter()
            .next()
            .and_then(|n| n.t))
    }

    /// The destinations that deliveries not finished yet are for.
    pub fn pending_destinations(&self) -> Result<Vec<DestinationId>, String> {
        #[derive(Deserialize)]
        struct Row {
            destination_id: DestinationId,
        }
        Ok(self
            .query::<Row>(
                "SELECT DISTINCT destination_id FROM deliveries WHERE status = 'pending'",
                &[],
            )?
            .into_iter()
            .map(|r| r.destination_id)
            .collect())
    }

    /// Deliveries not finished yet (retention keeps the shard while there are any).
    pub fn pending(&self) -> Result<u64, String> {
        Ok(self
            .query::<Count>(
                "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'",
                &[],
            )?
            .first()
            .map_or(0, |c| c.n))
    }

    /// The filtered and skipped deliveries not yet added to `/metrics`, per destination and
    /// status.
    pub fn counts(&self) -> Result<Vec<(DestinationId, String, u64)>, String> {
        #[derive(Deserialize)]
        struct Row {
            destination_id: DestinationId,
            status: String,
            n: u64,
        }
        let rows: Vec<Row> = self.query(
            "SELECT destination_id, status, n FROM counts ORDER BY destination_id, status",
            &[],
        )?;
        Ok(rows
            .into_iter()
            .map(|r| (r.destination_id, r.status, r.n))
            .collect())
    }

    /// `/metrics` has these counts (from `counts`): only later ones remain.
    pub fn counted(&self, flushed: &[(DestinationId, String, u64)]) -> Result<(), String> {
        for (destination, status, n) in flushed {
            self.sql.exec(
                "UPDATE counts SET n = n - ?3 WHERE destination_id = ?1 AND status = ?2",
                &[
                    destination.as_str().into(),
                    status.into(),
                    (*n as i64).into(),
                ],
            )?;
        }
        self.sql
            .exec("DELETE FROM counts WHERE n <= 0", &[])
            .map(|_| ())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
