//! Deliveries and their attempts: what users inspect. The scheduler writes attempts here in
//! batches; the API only reads.

use super::monitoring::args;
use super::monitoring_sql::{attempt_values, counter_statements, INSERT_ATTEMPT};
use super::{batch, first, rows, stmt, StoreResult};
use crate::core::engine::{AttemptOutcome, AttemptRecord, QueuedDelivery};
use crate::core::ids::{AttemptId, DeliveryId, DestinationId, EventId, TenantId};
use crate::core::time::Millis;
use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement};

/// Every status a delivery can have. Two were never queued: `skipped` (the destination was
/// disabled when the event came) and `filtered` (its payload filter did not match); the
/// others are the scheduler's.
pub const STATUSES: &[&str] = &["pending", "delivered", "failed", "skipped", "filtered"];

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
    #[serde(default)]
    pub manual_retries: u32,
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
    pub requested_by: Option<String>,
    /// JSON `[[name, value], …]`, credentials masked.
    #[serde(default)]
    pub request_headers: Option<String>,
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
        "SELECT id, delivery_id, attempt, trigger, started_at, duration_ms, status_code, outcome, error, response_body, \
         requested_by, request_headers \
         FROM attempts WHERE tenant_id = ?1 AND delivery_id = ?2 ORDER BY attempt, started_at",
        &[tenant.as_str().into(), delivery.as_str().into()],
    )
    .await
}

/// Records attempts, their counters (`monitoring_sql`) and the resulting delivery states in
/// one batch. A delivery's row never goes backwards: an older record arriving late (a
/// retried write) does not overwrite a newer one; a re-sent batch counts nothing twice.
/// `also` goes in the same batch (the scheduler's state report: one round trip for both).
pub async fn record(
    db: &D1Database,
    records: &[AttemptRecord],
    also: Option<D1PreparedStatement>,
) -> StoreResult<()> {
    let mut statements = Vec::with_capacity(records.len() * 4 + 1);
    for r in records {
        let t = r.tenant_id.as_str();
        // The counters first: they count only an attempt not recorded yet.
        for (sql, values) in counter_statements(r) {
            statements.push(stmt(db, &sql, &args(&values))?);
        }
        let values = attempt_values(r);
        statements.push(stmt(db, INSERT_ATTEMPT, &args(&values))?);
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
    statements.extend(also);
    batch(db, statements).await?;
    Ok(())
}

/// A delivery with what it takes to send it again: its event.
#[derive(Debug, Clone, Deserialize)]
pub struct RetryCandidate {
    pub id: DeliveryId,
    pub status: String,
    pub manual_retries: u32,
    pub destination_id: DestinationId,
    pub event_id: EventId,
    pub attempts: u32,
    pub topic: String,
    pub data: String,
    pub metadata: String,
    pub event_created_at: Millis,
}

impl RetryCandidate {
    /// The delivery as its scheduler queues it, due at `now`; `manual` names who asked.
    pub fn queued(&self, tenant: &TenantId, now: Millis, manual: Option<&str>) -> QueuedDelivery {
        QueuedDelivery {
            delivery_id: self.id.clone(),
            tenant_id: tenant.clone(),
            event_id: self.event_id.clone(),
            topic: self.topic.clone(),
            payload: self.data.clone(),
            metadata: serde_json::from_str(&self.metadata).unwrap_or_default(),
            attempts: self.attempts,
            due_at: now,
            created_at: self.event_created_at,
            manual: manual.map(str::to_string),
            shard: Default::default(),
        }
    }
}

const CANDIDATE_COLUMNS: &str = "d.id, d.status, d.manual_retries, d.destination_id, d.event_id, d.attempts, e.topic, e.data, e.metadata, \
     e.created_at AS event_created_at";

/// Failed deliveries of one destination created in `[since, until)`, with their events,
/// oldest first, at most `limit`, that have manual retries left.
pub async fn failed_in_range(
    db: &D1Database,
    tenant: &TenantId,
    destination: &DestinationId,
    since: Millis,
    until: Millis,
    cap: u32,
    limit: usize,
) -> StoreResult<Vec<RetryCandidate>> {
    rows(
        db,
        &format!(
            "SELECT {CANDIDATE_COLUMNS} FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
             WHERE d.tenant_id = ?1 AND d.destination_id = ?2 AND d.status = 'failed' AND d.created_at >= ?3 \
             AND d.created_at < ?4 AND d.manual_retries < ?5 ORDER BY d.created_at, d.id LIMIT ?6"
        ),
        &[
            tenant.as_str().into(),
            destination.as_str().into(),
            since.into(),
            until.into(),
            (cap as i64).into(),
            (limit as i64).into(),
        ],
    )
    .await
}

/// The failed deliveries of one event, with the event.
pub async fn failed_for_event(
    db: &D1Database,
    tenant: &TenantId,
    event: &EventId,
) -> StoreResult<Vec<RetryCandidate>> {
    rows(
        db,
        &format!(
            "SELECT {CANDIDATE_COLUMNS} FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
             WHERE d.tenant_id = ?1 AND d.event_id = ?2 AND d.status = 'failed' ORDER BY d.id"
        ),
        &[tenant.as_str().into(), event.as_str().into()],
    )
    .await
}

/// One delivery with its event, for a single manual retry.
pub async fn candidate(
    db: &D1Database,
    tenant: &TenantId,
    id: &DeliveryId,
) -> StoreResult<Option<RetryCandidate>> {
    first(
        db,
        &format!(
            "SELECT {CANDIDATE_COLUMNS} FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id AND e.id = d.event_id \
             WHERE d.tenant_id = ?1 AND d.id = ?2"
        ),
        &[tenant.as_str().into(), id.as_str().into()],
    )
    .await
}

/// Marks many deliveries pending for a manual retry in one batch; the cap is checked per row.
/// Returns the ids that were marked.
pub async fn mark_many_for_manual_retry(
    db: &D1Database,
    tenant: &TenantId,
    ids: &[DeliveryId],
    cap: u32,
    now: Millis,
) -> StoreResult<Vec<DeliveryId>> {
    let mut statements = Vec::with_capacity(ids.len());
    for id in ids {
        statements.push(stmt(
            db,
            "UPDATE deliveries SET status = 'pending', manual_retries = manual_retries + 1, next_attempt_at = ?3, \
             updated_at = ?3 WHERE tenant_id = ?1 AND id = ?2 AND status IN ('failed', 'delivered') \
             AND manual_retries < ?4",
            &[tenant.as_str().into(), id.as_str().into(), now.into(), (cap as i64).into()],
        )?);
    }
    let changes = batch(db, statements).await?;
    Ok(ids
        .iter()
        .zip(changes)
        .filter(|(_, c)| *c == 1)
        .map(|(id, _)| id.clone())
        .collect())
}

/// Puts deliveries back as they were before `mark_many_for_manual_retry`, when their
/// scheduler could not take them.
pub async fn unmark_manual_retry(
    db: &D1Database,
    tenant: &TenantId,
    previous: &[(DeliveryId, String)],
) -> StoreResult<()> {
    let mut statements = Vec::with_capacity(previous.len());
    for (id, status) in previous {
        statements.push(stmt(
            db,
            "UPDATE deliveries SET status = ?3, manual_retries = manual_retries - 1 \
             WHERE tenant_id = ?1 AND id = ?2 AND status = 'pending'",
            &[tenant.as_str().into(), id.as_str().into(), status.into()],
        )?);
    }
    batch(db, statements).await?;
    Ok(())
}

/// Pending deliveries never attempted and created before `before`, across tenants (the
/// maintenance sweep's query), with their events; oldest first.
pub async fn stranded(
    db: &D1Database,
    before: Millis,
    limit: usize,
) -> StoreResult<Vec<(TenantId, RetryCandidate)>> {
    #[derive(Deserialize)]
    struct Row {
        tenant_id: TenantId,
        #[serde(flatten)]
        candidate: RetryCandidate,
    }
    let found: Vec<Row> = rows(
        db,
        &format!(
            "SELECT d.tenant_id, {CANDIDATE_COLUMNS} FROM deliveries d JOIN events e ON e.tenant_id = d.tenant_id \
             AND e.id = d.event_id WHERE d.status = 'pending' AND d.attempts = 0 AND d.created_at < ?1 \
             ORDER BY d.created_at LIMIT ?2"
        ),
        &[before.into(), (limit as i64).into()],
    )
    .await?;
    Ok(found
        .into_iter()
        .map(|r| (r.tenant_id, r.candidate))
        .collect())
}

/// How many of a destination's deliveries are in each status (filtered and skipped
/// included: what the destination was spared is visible too).
pub async fn counts(
    db: &D1Database,
    tenant: &TenantId,
    destination: &DestinationId,
) -> StoreResult<Vec<(String, u64)>> {
    #[derive(Deserialize)]
    struct Row {
        status: String,
        n: u64,
    }
    let found: Vec<Row> = rows(
        db,
        "SELECT status, COUNT(*) AS n FROM deliveries WHERE tenant_id = ?1 AND destination_id = ?2 GROUP BY status",
        &[tenant.as_str().into(), destination.as_str().into()],
    )
    .await?;
    Ok(found.into_iter().map(|r| (r.status, r.n)).collect())
}
