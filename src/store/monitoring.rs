//! Monitoring reads and writes on D1 (the SQL is in `monitoring_sql`): the `/metrics` export,
//! a destination's per-interval stats, and the scheduler's state report.

use super::monitoring_sql::{metrics_sql, stats_sql, REPORT_LANE_DEPTH, REPORT_STATE};
use super::SqlValue;
use super::{rows, stmt, Arg, StoreResult};
use crate::core::breaker::CircuitState;
use crate::core::delivery::DeliveryStatus;
use crate::core::ids::{DestinationId, TenantId};
use crate::core::json;
use crate::core::metrics::{DestinationMetrics, Histogram};
use crate::core::tally::Tally;
use crate::core::time::Millis;
use serde::Deserialize;
use worker::D1Database;

/// Bound values as D1 arguments (`None` is NULL).
pub(crate) fn args(values: &[Option<SqlValue>]) -> Vec<Arg<'_>> {
    values
        .iter()
        .map(|v| match v {
            Some(SqlValue::Str(s)) => Arg::Str(s),
            Some(SqlValue::Int(n)) => Arg::Int(*n),
            None => Arg::Null,
        })
        .collect()
}

fn histogram(raw: &str) -> Histogram {
    let counts: Vec<u64> = json::from_str(raw).unwrap_or_default();
    let mut h = Histogram::default();
    for (slot, n) in h.iter_mut().zip(counts) {
        *slot = n;
    }
    h
}

/// Every destination of every tenant with its counters and last reported state.
pub async fn metrics(db: &D1Database) -> StoreResult<Vec<DestinationMetrics>> {
    #[derive(Deserialize)]
    struct Row {
        tenant_id: String,
        destination_id: String,
        kind: String,
        enabled: i64,
        delivered: u64,
        failed: u64,
        retried: u64,
        filtered: u64,
        skipped: u64,
        latency_sum_ms: u64,
        latency: String,
        queue_depth: Option<u64>,
        circuit_state: Option<CircuitState>,
        state_at: Option<Millis>,
    }
    let found: Vec<Row> = rows(db, &metrics_sql(), &[]).await?;
    Ok(found
        .into_iter()
        .map(|r| DestinationMetrics {
            tenant_id: r.tenant_id,
            destination_id: r.destination_id,
            kind: r.kind,
            enabled: r.enabled != 0,
            delivered: r.delivered,
            failed: r.failed,
            retried: r.retried,
            filtered: r.filtered,
            skipped: r.skipped,
            latency_sum_ms: r.latency_sum_ms,
            latency: histogram(&r.latency),
            queue_depth: r.queue_depth.unwrap_or(0),
            circuit: r.circuit_state.unwrap_or_default(),
            state_at: r.state_at,
        })
        .collect())
}

/// A destination's monotonic counters (zeros before anything was counted).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Counters {
    pub delivered: u64,
    pub failed: u64,
    pub filtered: u64,
    pub skipped: u64,
}

pub async fn counters(
    db: &D1Database,
    tenant: &TenantId,
    destination: &DestinationId,
) -> StoreResult<Counters> {
    Ok(super::first(
        db,
        "SELECT delivered, failed, filtered, skipped FROM destination_metrics \
         WHERE destination_id = ?1 AND tenant_id = ?2",
        &[destination.as_str().into(), tenant.as_str().into()],
    )
    .await?
    .unwrap_or_default())
}

/// One interval's sums.
#[derive(Debug, Clone)]
pub struct StatsRow {
    /// Intervals since `from`.
    pub slot: usize,
    pub delivered: u64,
    pub failed: u64,
    pub retried: u64,
    pub latency_sum_ms: u64,
    pub latency: Histogram,
}

/// A tenant's destination's sums per interval in `[from, to)`; intervals without attempts
/// are absent.
pub async fn stats(
    db: &D1Database,
    tenant: &TenantId,
    destination: &DestinationId,
    from: Millis,
    to: Millis,
    interval_ms: i64,
) -> StoreResult<Vec<StatsRow>> {
    #[derive(Deserialize)]
    struct Row {
        slot: i64,
        delivered: u64,
        failed: u64,
        retried: u64,
        latency_sum_ms: u64,
        latency: String,
    }
    let (sql, values) = stats_sql(tenant.as_str(), destination.as_str(), from, to, interval_ms);
    let found: Vec<Row> = rows(db, &sql, &args(&values)).await?;
    Ok(found
        .into_iter()
        .filter(|r| r.slot >= 0)
        .map(|r| StatsRow {
            slot: r.slot as usize,
            delivered: r.delivered,
            failed: r.failed,
            retried: r.retried,
            latency_sum_ms: r.latency_sum_ms,
            latency: histogram(&r.latency),
        })
        .collect())
}

/// Adds a log shard's filtered and skipped counts to its tenant's destinations' counters, in
/// one batch.
pub async fn add_counts(
    db: &D1Database,
    tenant: &TenantId,
    counts: &[(DestinationId, DeliveryStatus, u64)],
) -> StoreResult<()> {
    let mut statements = vec![];
    for (destination, status, n) in counts {
        if let Some(sql) = super::monitoring_sql::add_count(*status) {
            statements.push(stmt(
                db,
                &sql,
                &[
                    destination.as_str().into(),
                    tenant.as_str().into(),
                    (*n as i64).into(),
                ],
            )?);
        }
    }
    super::batch(db, statements).await.map(|_| ())
}

/// What a scheduler knows and `/metrics` shows: its queue depth and circuit.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct SchedulerState {
    pub tenant_id: TenantId,
    pub destination_id: DestinationId,
    pub queue_depth: u64,
    pub circuit: CircuitState,
    pub consecutive_failures: u32,
    pub at: Millis,
    /// The reporting scheduler's lane (`core::lanes`): only lane 0 writes the state, so that
    /// the lanes of one destination do not overwrite each other's; every lane adds its tally.
    #[serde(default)]
    pub lane: u32,
}

/// Writes a scheduler's tally and state report in one batch.
pub async fn flush(db: &D1Database, state: &SchedulerState, tally: &Tally) -> StoreResult<()> {
    let mut statements = vec![];
    statements.push(report_state_stmt(db, state)?);
    if !tally.is_empty() {
        let (t, d) = (state.tenant_id.as_str(), state.destination_id.as_str());
        for (sql, values) in super::monitoring_sql::tally_statements(t, d, tally) {
            statements.push(stmt(db, &sql, &args(&values))?);
        }
    }
    if statements.is_empty() {
        return Ok(());
    }
    super::batch(db, statements).await.map(|_| ())
}

/// Lane 0's depth and circuit, or another lane's depth (the circuit is one across lanes).
fn report_state_stmt(
    db: &D1Database,
    s: &SchedulerState,
) -> StoreResult<worker::D1PreparedStatement> {
    if s.lane > 0 {
        return stmt(
            db,
            REPORT_LANE_DEPTH,
            &[
                s.destination_id.as_str().into(),
                s.tenant_id.as_str().into(),
                i64::from(s.lane).into(),
                (s.queue_depth as i64).into(),
                s.at.into(),
            ],
        );
    }
    let circuit = serde_json::to_value(s.circuit)?;
    stmt(
        db,
        REPORT_STATE,
        &[
            s.destination_id.as_str().into(),
            s.tenant_id.as_str().into(),
            (s.queue_depth as i64).into(),
            circuit.as_str().unwrap_or("closed").into(),
            i64::from(s.consecutive_failures).into(),
            s.at.into(),
        ],
    )
}

/// Rows deleted per statement: D1 limits how long one statement may run.
const PURGE_SLICE: i64 = 2_000;
/// Slices per run; a daily run that cannot finish continues the next day.
const PURGE_SLICES: usize = 50;

/// Deletes per-minute stats older than `cutoff`, in slices; how many.
pub async fn purge_stats(db: &D1Database, cutoff: Millis) -> StoreResult<usize> {
    let mut total = 0;
    for _ in 0..PURGE_SLICES {
        let changed = super::batch(
            db,
            vec![stmt(
                db,
                super::monitoring_sql::PURGE_STATS,
                &[cutoff.into(), PURGE_SLICE.into()],
            )?],
        )
        .await?;
        let n = changed.first().copied().unwrap_or(0);
        total += n;
        if (n as i64) < PURGE_SLICE {
            break;
        }
    }
    Ok(total)
}
