//! Deliveries and their attempts: what users inspect. The scheduler writes attempts here in
//! batches; the API only reads.

use super::{batch, first, rows, stmt, StoreResult};
use crate::core::engine::{AttemptOutcome, AttemptRecord};
use crate::core::ids::{AttemptId, DeliveryId, DestinationId, EventId, TenantId};
use crate::core::time::Millis;
use serde::Deserialize;
use worker::D1Database;

#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryRow {
    pub id: DeliveryId,
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub destination_id: DestinationId,
    pub topic: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<Millis>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AttemptRow {
    pub id: AttemptId,
    pub delivery_id: DeliveryId,
    pub attempt: u32,
    pub trigger: String,
    pub started_at: Millis,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub outcome: String,
    pub error: Option<String>,
    pub response_body: Option<String>,
}

/// A page of a destination's deliveries, newest first, optionally of one status; `limit + 1` rows.
pub async fn list(
    db: &D1Database,
    tenant: &TenantId,
    destination: &DestinationId,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<DeliveryRow>> {
    rows(
        db,
        "SELECT * FROM deliveries WHERE tenant_id = ?1 AND destination_id = ?2 \
         AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR id < ?4) ORDER BY id DESC LIMIT ?5",
        &[
            tenant.as_str().into(),
            destination.as_str().into(),
            status.into(),
            cursor.into(),
            (limit as i64 + 1).into(),
        ],
    )
    .await
}

pub async fn get(
    db: &D1Database,
    tenant: &TenantId,
    destination: &DestinationId,
    id: &DeliveryId,
) -> StoreResult<Option<DeliveryRow>> {
    first(
        db,
        "SELECT * FROM deliveries WHERE tenant_id = ?1 AND destination_id = ?2 AND id = ?3",
        &[
            tenant.as_str().into(),
            destination.as_str().into(),
            id.as_str().into(),
        ],
    )
    .await
}

/// Every attempt of a delivery, oldest first.
pub async fn attempts(
    db: &D1Database,
    tenant: &TenantId,
    delivery: &DeliveryId,
) -> StoreResult<Vec<AttemptRow>> {
    rows(
        db,
        "SELECT id, delivery_id, attempt, trigger, started_at, duration_ms, status_code, outcome, error, response_body \
         FROM attempts WHERE tenant_id = ?1 AND delivery_id = ?2 ORDER BY attempt, started_at",
        &[tenant.as_str().into(), delivery.as_str().into()],
    )
    .await
}

/// Records attempts and the resulting delivery states in one batch. A delivery's row never
/// goes backwards: an older record arriving late (a retried write) does not overwrite a newer one.
pub async fn record(db: &D1Database, records: &[AttemptRecord]) -> StoreResult<()> {
    let mut statements = Vec::with_capacity(records.len() * 2);
    for r in records {
        let t = r.tenant_id.as_str();
        statements.push(stmt(
            db,
            "INSERT OR IGNORE INTO attempts (id, delivery_id, tenant_id, attempt, trigger, started_at, duration_ms, \
             status_code, outcome, error, response_body) VALUES (?1, ?2, ?3, ?4, 'scheduled', ?5, ?6, ?7, ?8, ?9, ?10)",
            &[
                r.id.as_str().into(),
                r.delivery_id.as_str().into(),
                t.into(),
                (r.attempt as i64).into(),
                r.started_at.into(),
                (r.duration_ms as i64).into(),
                r.status_code.map(i64::from).into(),
                r.outcome.as_str().into(),
                r.error.as_ref().into(),
                r.response_body.as_ref().into(),
            ],
        )?);
        let status = match r.outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retry => "pending",
            AttemptOutcome::Failed => "failed",
        };
        statements.push(stmt(
            db,
            "UPDATE deliveries SET status = ?3, attempts = ?4, next_attempt_at = ?5, last_status_code = ?6, \
             last_error = ?7, updated_at = ?8 WHERE tenant_id = ?1 AND id = ?2 AND attempts <= ?4",
            &[
                t.into(),
                r.delivery_id.as_str().into(),
                status.into(),
                (r.attempt as i64).into(),
                r.next_attempt_at.into(),
                r.status_code.map(i64::from).into(),
                r.error.as_ref().into(),
                (r.started_at + r.duration_ms as i64).into(),
            ],
        )?);
    }
    batch(db, statements).await?;
    Ok(())
}
