//! Retention: finished history older than the cutoff is deleted; anything still pending
//! (and its event) is kept, however old.

use super::{batch, stmt, StoreResult};
use crate::core::time::Millis;
use worker::D1Database;

/// Rows deleted per statement: D1 limits how long one statement may run, so big purges go
/// in slices.
const SLICE: i64 = 2_000;
/// Slices per table per run; a daily run that cannot finish continues the next day.
const MAX_SLICES: usize = 50;

#[derive(Debug, Default, serde::Serialize)]
pub struct Purged {
    pub attempts: usize,
    pub deliveries: usize,
    pub events: usize,
    /// Per-minute stats rows (kept `STATS_RETENTION_MS`, whatever `RETENTION_DAYS` says).
    pub stats: usize,
}

async fn purge_in_slices(db: &D1Database, sql: &str, cutoff: Millis) -> StoreResult<usize> {
    let mut total = 0;
    for _ in 0..MAX_SLICES {
        let changed = batch(db, vec![stmt(db, sql, &[cutoff.into(), SLICE.into()])?]).await?;
        let n = changed.first().copied().unwrap_or(0);
        total += n;
        if (n as i64) < SLICE {
            break;
        }
    }
    Ok(total)
}

/// Deletes attempts, finished deliveries and events older than `cutoff`, and per-minute stats
/// older than `stats_cutoff`. An event is kept while any of its deliveries is pending.
/// (The monotonic counters of `/metrics` are never purged.)
pub async fn purge(db: &D1Database, cutoff: Millis, stats_cutoff: Millis) -> StoreResult<Purged> {
    let attempts = purge_in_slices(
        db,
        "DELETE FROM attempts WHERE rowid IN (SELECT a.rowid FROM attempts a JOIN deliveries d ON d.id = a.delivery_id \
         WHERE a.started_at < ?1 AND d.status != 'pending' LIMIT ?2)",
        cutoff,
    )
    .await?;
    let deliveries = purge_in_slices(
        db,
        "DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries WHERE created_at < ?1 \
         AND status != 'pending' AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.delivery_id = deliveries.id) LIMIT ?2)",
        cutoff,
    )
    .await?;
    let events = purge_in_slices(
        db,
        "DELETE FROM events WHERE rowid IN (SELECT e.rowid FROM events e WHERE e.created_at < ?1 AND NOT EXISTS \
         (SELECT 1 FROM deliveries d WHERE d.tenant_id = e.tenant_id AND d.event_id = e.id) LIMIT ?2)",
        cutoff,
    )
    .await?;
    Ok(Purged {
        attempts,
        deliveries,
        events,
        stats: purge_in_slices(db, super::monitoring_sql::PURGE_STATS, stats_cutoff).await?,
    })
}
