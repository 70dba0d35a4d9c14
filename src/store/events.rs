//! Events, stored with their deliveries in one atomic batch at publish.

pub use super::event_search::EventQuery;
use super::event_search::{search_sql, SqlValue};
use super::routing_sql::insert_event_sql;
pub use super::routing_sql::RoutingGuard;
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
    /// `pending` (queued), `skipped` (the destination is disabled) or `filtered`.
    pub status: &'static str,
}

/// Stores the event and its deliveries atomically, unless an event with this id already
/// exists for the tenant, or a guard no longer holds: then nothing is written and `false`
/// comes back (a duplicate, or a stale cache: the caller reads the context and decides).
///
/// The deliveries are inserted only if the event row is the one this call wrote
/// (`publish_key` is unique to the call), so a repeated id never creates deliveries twice.
pub async fn insert_with_deliveries(
    db: &D1Database,
    event: &EventRow,
    publish_key: &str,
    deliveries: &[NewDelivery<'_>],
    guard: Option<&RoutingGuard>,
) -> StoreResult<bool> {
    let (t, e) = (event.tenant_id.as_str(), event.id.as_str());
    let mut args = vec![
        t.into(),
        e.into(),
        (&event.topic).into(),
        (&event.data).into(),
        (&event.metadata).into(),
        publish_key.into(),
        event.created_at.into(),
    ];
    if let Some(g) = guard {
        args.push(g.version.into());
    }
    let mut statements = vec![stmt(db, &insert_event_sql(guard), &args)?];
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
    // Filtered and skipped deliveries are never attempted: they are counted here, for
    // /metrics, under the same condition as their rows.
    for d in deliveries {
        if let Some(sql) = super::monitoring_sql::count_at_publish(d.status) {
            statements.push(stmt(
                db,
                &sql,
                &[
                    d.destination_id.as_str().into(),
                    t.into(),
                    e.into(),
                    publish_key.into(),
                ],
            )?);
        }
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

/// A page of the event log (`limit + 1` rows); the SQL comes from `event_search`.
pub async fn search(
    db: &D1Database,
    tenant: &TenantId,
    q: &EventQuery,
) -> StoreResult<Vec<EventRow>> {
    let (sql, values) = search_sql(Some(tenant.as_str()), q);
    let args: Vec<super::Arg> = values
        .iter()
        .map(|v| match v {
            SqlValue::Str(s) => super::Arg::Str(s),
            SqlValue::Int(n) => super::Arg::Int(*n),
        })
        .collect();
    rows(db, &sql, &args).await
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
         a.error, a.response_body, a.requested_by, a.request_headers FROM attempts a JOIN deliveries d ON d.id = a.delivery_id \
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
    /// The tenant's routing version; `None` when there is no such tenant.
    pub routing_version: Option<i64>,
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
                "SELECT routing_version AS v FROM tenants WHERE id = ?1",
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
    #[derive(Deserialize)]
    struct Version {
        v: i64,
    }
    Ok(PublishContext {
        routing_version: results[0].results::<Version>()?.first().map(|r| r.v),
        topic_known: results[1]
            .results::<Count>()?
            .first()
            .is_some_and(|c| c.n > 0),
        destinations: results[2].results()?,
    })
}
