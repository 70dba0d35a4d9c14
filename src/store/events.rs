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
             SELECT ?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6 FROM events \
             WHERE tenant_id = ?2 AND id = ?3 AND publish_key = ?7",
            &[
                d.id.as_str().into(),
                t.into(),
                e.into(),
                d.destination_id.as_str().into(),
                (&event.topic).into(),
                event.created_at.into(),
                publish_key.into(),
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
