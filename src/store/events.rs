//! Events, stored with their deliveries in one atomic batch at publish.

use super::{batch, first, rows, stmt, StoreResult};
use crate::core::ids::{DeliveryId, DestinationId, EventId, TenantId};
use crate::core::time::Millis;
use serde::Deserialize;
use worker::D1Database;

#[derive(Debug, Clone, Deserialize)]
pub struct EventRow {
    pub tenant_id: TenantId,
    pub id: EventId,
    pub topic: String,
    /// JSON.
    pub data: String,
    /// JSON object of strings.
    pub metadata: String,
    pub created_at: Millis,
}

/// One delivery to create with the event.
pub struct NewDelivery<'a> {
    pub id: &'a DeliveryId,
    pub destination_id: &'a DestinationId,
    /// `pending` (queued), or `skipped` (the destination is disabled).
    pub status: &'static str,
}

/// Stores the event and its deliveries atomically, unless an event with this id already
/// exists for the tenant: then nothing is written and `false` comes back (a duplicate).
///
/// The deliveries are inserted only if the event row is the one this call wrote
/// (`publish_key` is unique to the call), so a repeated id never creates deliveries twice.
pub async fn insert_with_deliveries(
    db: &D1Database,
    event: &EventRow,
    publish_key: &str,
    deliveries: &[NewDelivery<'_>],
) -> StoreResult<bool> {
    let (t, e) = (event.tenant_id.as_str(), event.id.as_str());
    let mut statements = vec![stmt(
        db,
        "INSERT OR IGNORE INTO events (tenant_id, id, topic, data, metadata, publish_key, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            t.into(),
            e.into(),
            (&event.topic).into(),
            (&event.data).into(),
            (&event.metadata).into(),
            publish_key.into(),
            event.created_at.into(),
        ],
    )?];
    for d in deliveries {
        statements.push(stmt(
            db,
            "INSERT INTO deliveries (id, tenant_id, event_id, destination_id, topic, status, attempts, created_at, updated_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?8, 0, ?6, ?6 FROM events \
             WHERE tenant_id = ?2 AND id = ?3 AND publish_key = ?7",
            &[
                d.id.as_str().into(),
                t.into(),
                e.into(),
                d.destination_id.as_str().into(),
                (&event.topic).into(),
                event.created_at.into(),
                publish_key.into(),
                d.status.into(),
            ],
        )?);
    }
    let changes = batch(db, statements).await?;
    Ok(changes.first().copied().unwrap_or(0) == 1)
}

pub async fn get(
    db: &D1Database,
    tenant: &TenantId,
    id: &EventId,
) -> StoreResult<Option<EventRow>> {
    first(
        db,
        "SELECT tenant_id, id, topic, data, metadata, created_at FROM events WHERE tenant_id = ?1 AND id = ?2",
        &[tenant.as_str().into(), id.as_str().into()],
    )
    .await
}

/// Delivery ids and destinations of an event, for answering a repeated publish.
#[derive(Debug, Clone, Deserialize)]
pub struct EventDelivery {
    pub id: DeliveryId,
    pub destination_id: DestinationId,
    pub status: String,
    pub attempts: u32,
}

pub async fn deliveries(
    db: &D1Database,
    tenant: &TenantId,
    id: &EventId,
) -> StoreResult<Vec<EventDelivery>> {
    rows(
        db,
        "SELECT id, destination_id, status, attempts FROM deliveries WHERE tenant_id = ?1 AND event_id = ?2 ORDER BY id",
        &[tenant.as_str().into(), id.as_str().into()],
    )
    .await
}

/// What the event log can be narrowed to. Every condition is optional but the tenant.
#[derive(Debug, Default)]
pub struct EventQuery {
    pub topic: Option<String>,
    /// Events with at least one delivery in this status (and to `destination`, if given).
    pub status: Option<String>,
    pub destination: Option<DestinationId>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// A JSON path into `data` (`$.order.id`) and the value it must equal, as text.
    pub path_equals: Option<(String, String)>,
    /// Text the serialised `data` contains.
    pub contains: Option<String>,
    pub newest_first: bool,
    /// Continue after this (created_at, id).
    pub after: Option<(Millis, String)>,
    pub limit: usize,
}

/// A query assembled from optional conditions; each fragment has one `?` for its value.
#[derive(Default)]
struct Built {
    text: String,
    args: Vec<Owned>,
}

enum Owned {
    Str(String),
    Int(i64),
}

impl Built {
    fn push(&mut self, fragment: &str, value: Owned) {
        self.args.push(value);
        let n = self.args.len();
        self.text
            .push_str(&fragment.replacen('?', &format!("?{n}"), 1));
    }

    fn args(&self) -> Vec<super::Arg<'_>> {
        self.args
            .iter()
            .map(|a| match a {
                Owned::Str(s) => super::Arg::Str(s),
                Owned::Int(n) => super::Arg::Int(*n),
            })
            .collect()
    }
}

/// A page of the event log (`limit + 1` rows), served by `events_by_time` /
/// `events_by_topic`: the tenant (and topic) prefix, then (created_at, id) order.
pub async fn search(
    db: &D1Database,
    tenant: &TenantId,
    q: &EventQuery,
) -> StoreResult<Vec<EventRow>> {
    let mut b = Built::default();
    b.text
        .push_str("SELECT tenant_id, id, topic, data, metadata, created_at FROM events e WHERE");
    b.push(" e.tenant_id = ?", Owned::Str(tenant.to_string()));
    if let Some(t) = &q.topic {
        b.push(" AND e.topic = ?", Owned::Str(t.clone()));
    }
    if let Some(t) = q.since {
        b.push(" AND e.created_at >= ?", Owned::Int(t));
    }
    if let Some(t) = q.until {
        b.push(" AND e.created_at < ?", Owned::Int(t));
    }
    if q.status.is_some() || q.destination.is_some() {
        b.text.push_str(" AND EXISTS (SELECT 1 FROM deliveries d WHERE d.tenant_id = e.tenant_id AND d.event_id = e.id");
        if let Some(s) = &q.status {
            b.push(" AND d.status = ?", Owned::Str(s.clone()));
        }
        if let Some(d) = &q.destination {
            b.push(" AND d.destination_id = ?", Owned::Str(d.to_string()));
        }
        b.text.push(')');
    }
    if let Some((path, value)) = &q.path_equals {
        b.push(" AND CAST(json_extract(e.data, ?", Owned::Str(path.clone()));
        b.push(") AS TEXT) = ?", Owned::Str(value.clone()));
    }
    if let Some(text) = &q.contains {
        b.push(" AND instr(e.data, ?) > 0", Owned::Str(text.clone()));
    }
    let (cmp, dir) = if q.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some((t, id)) = &q.after {
        b.push(&format!(" AND (e.created_at {cmp} ?"), Owned::Int(*t));
        b.push(" OR (e.created_at = ?", Owned::Int(*t));
        b.push(&format!(" AND e.id {cmp} ?))"), Owned::Str(id.clone()));
    }
    b.push(
        &format!(" ORDER BY e.created_at {dir}, e.id {dir} LIMIT ?"),
        Owned::Int(q.limit as i64 + 1),
    );
    rows(db, &b.text, &b.args()).await
}

/// Every delivery of an event.
pub async fn deliveries_full(
    db: &D1Database,
    tenant: &TenantId,
    id: &EventId,
) -> StoreResult<Vec<super::deliveries::DeliveryRow>> {
    rows(
        db,
        "SELECT * FROM deliveries WHERE tenant_id = ?1 AND event_id = ?2 ORDER BY id",
        &[tenant.as_str().into(), id.as_str().into()],
    )
    .await
}

/// Every attempt of every delivery of an event, oldest first.
pub async fn attempts(
    db: &D1Database,
    tenant: &TenantId,
    id: &EventId,
) -> StoreResult<Vec<super::deliveries::AttemptRow>> {
    rows(
        db,
        "SELECT a.id, a.delivery_id, a.attempt, a.trigger, a.started_at, a.duration_ms, a.status_code, a.outcome, \
         a.error, a.response_body, a.requested_by FROM attempts a JOIN deliveries d ON d.id = a.delivery_id \
         WHERE d.tenant_id = ?1 AND d.event_id = ?2 AND a.tenant_id = ?1 ORDER BY a.started_at, a.attempt",
        &[tenant.as_str().into(), id.as_str().into()],
    )
    .await
}

/// How many deliveries of each event in a page are in each status.
#[derive(Debug, Clone, Deserialize)]
pub struct StatusCount {
    pub event_id: EventId,
    pub status: String,
    pub n: u32,
}

pub async fn status_counts(
    db: &D1Database,
    tenant: &TenantId,
    ids: &[EventId],
) -> StoreResult<Vec<StatusCount>> {
    let list = serde_json::to_string(&ids.iter().map(EventId::as_str).collect::<Vec<_>>())?;
    rows(
        db,
        "SELECT event_id, status, COUNT(*) AS n FROM deliveries WHERE tenant_id = ?1 \
         AND event_id IN (SELECT value FROM json_each(?2)) GROUP BY event_id, status",
        &[tenant.as_str().into(), (&list).into()],
    )
    .await
}

/// What a publish needs to know before writing, read in one round trip.
pub struct PublishContext {
    pub tenant_exists: bool,
    pub topic_known: bool,
    /// The tenant's destinations (topic matching happens in Rust).
    pub destinations: Vec<super::destinations::DestinationRow>,
}

pub async fn publish_context(
    db: &D1Database,
    tenant: &TenantId,
    topic: &str,
) -> StoreResult<PublishContext> {
    let t = tenant.as_str();
    let results = db
        .batch(vec![
            stmt(
                db,
                "SELECT COUNT(*) AS n FROM tenants WHERE id = ?1",
                &[t.into()],
            )?,
            stmt(
                db,
                "SELECT COUNT(*) AS n FROM topics WHERE name = ?1",
                &[topic.into()],
            )?,
            super::destinations::for_tenant_stmt(db, tenant)?,
        ])
        .await?;
    #[derive(Deserialize)]
    struct Count {
        n: u32,
    }
    let count = |i: usize| -> StoreResult<bool> {
        Ok(results[i]
            .results::<Count>()?
            .first()
            .is_some_and(|c| c.n > 0))
    };
    Ok(PublishContext {
        tenant_exists: count(0)?,
        topic_known: count(1)?,
        destinations: results[2].results()?,
    })
}
