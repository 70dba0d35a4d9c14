//! The SQL of monitoring, as plain text and values (no runtime types), so that native tests
//! run it on SQLite with the real schema: the sums a scheduler's tally adds, the filtered and
//! skipped counts a log shard adds, the scheduler's state report, and the `/metrics` and
//! stats reads with their query plans.

use super::SqlValue;
use crate::core::delivery::DeliveryStatus;
use crate::core::metrics::LATENCY_BUCKETS;
use crate::core::tally::{Counts, Tally};
use crate::core::time::Millis;

/// Latency columns `l0…l13`, comma-separated, each wrapped as `wrap` says (`{}` = the column).
fn latency_columns(wrap: &str) -> String {
    (0..LATENCY_BUCKETS)
        .map(|i| wrap.replace("{}", &format!("l{i}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An upsert adding sums to a counter row of `table` (`?1` destination, `?2` tenant, then
/// `extra` key values, then delivered, failed, retried, latency sum and `l0…l13`); nothing
/// for a destination deleted meanwhile.
fn tally_upsert(table: &str, key: &str, extra: &str) -> String {
    let first = 3 + extra.matches('?').count();
    let values: Vec<String> = (first..first + 4 + LATENCY_BUCKETS)
        .map(|i| format!("?{i}"))
        .collect();
    format!(
        "INSERT INTO {table} (destination_id{extra_cols}, tenant_id, delivered, failed, retried, latency_sum_ms, {l}) \
         SELECT id{extra}, tenant_id, {values} FROM destinations WHERE id = ?1 AND tenant_id = ?2 \
         ON CONFLICT ({key}) DO UPDATE SET delivered = delivered + excluded.delivered, \
         failed = failed + excluded.failed, retried = retried + excluded.retried, \
         latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms, {sums}",
        extra_cols = if extra.is_empty() { "" } else { ", minute" },
        l = latency_columns("{}"),
        values = values.join(", "),
        sums = latency_columns("{} = {} + excluded.{}"),
    )
}

fn counts_values(c: &Counts) -> impl Iterator<Item = Option<SqlValue>> + '_ {
    [c.delivered, c.failed, c.retried, c.latency_sum_ms]
        .into_iter()
        .chain(c.latency.iter().copied())
        .map(|n| Some(SqlValue::Int(n as i64)))
}

/// The statements that add a scheduler's tally (its attempts since the last flush) to the
/// destination's monotonic counters (for `/metrics`) and to its per-minute aggregates (for
/// stats).
pub fn tally_statements(
    tenant: &str,
    destination: &str,
    tally: &Tally,
) -> Vec<(String, Vec<Option<SqlValue>>)> {
    use SqlValue::{Int, Str};
    let key = || vec![Some(Str(destination.into())), Some(Str(tenant.into()))];
    let mut out = vec![(
        tally_upsert("destination_metrics", "destination_id", ""),
        key()
            .into_iter()
            .chain(counts_values(&tally.total))
            .collect(),
    )];
    let per_minute = tally_upsert("attempt_stats", "destination_id, minute", ", ?3");
    for (minute, counts) in &tally.per_minute {
        let mut values = key();
        values.push(Some(Int(*minute)));
        values.extend(counts_values(counts));
        out.push((per_minute.clone(), values));
    }
    out
}

/// Adds `?3` deliveries that were never attempted (`filtered` or `skipped`, as counted by a
/// log shard) to a destination's counters (`?1` destination, `?2` tenant); nothing for a
/// destination deleted meanwhile. `None` for other statuses.
pub fn add_count(status: DeliveryStatus) -> Option<String> {
    if !status.never_attempted() {
        return None;
    }
    let column = status.as_str();
    Some(format!(
        "INSERT INTO destination_metrics (destination_id, tenant_id, {column}) \
         SELECT id, tenant_id, ?3 FROM destinations WHERE id = ?1 AND tenant_id = ?2 \
         ON CONFLICT (destination_id) DO UPDATE SET {column} = {column} + excluded.{column}"
    ))
}

/// The scheduler's report of its queue depth and circuit (`?1` destination, `?2` tenant,
/// `?3` depth, `?4` state, `?5` consecutive failures, `?6` when). A destination deleted
/// meanwhile gets no row; an older report never overwrites a newer one.
pub const REPORT_STATE: &str = "INSERT INTO destination_metrics (destination_id, tenant_id, queue_depth, circuit_state, \
     consecutive_failures, state_at) SELECT id, tenant_id, ?3, ?4, ?5, ?6 FROM destinations WHERE id = ?1 AND tenant_id = ?2 \
     ON CONFLICT (destination_id) DO UPDATE SET queue_depth = excluded.queue_depth, circuit_state = excluded.circuit_state, \
     consecutive_failures = excluded.consecutive_failures, state_at = excluded.state_at \
     WHERE excluded.state_at >= COALESCE(destination_metrics.state_at, 0)";

/// The queue depth of a lane above 0 (`?1` destination, `?2` tenant, `?3` lane, `?4` depth,
/// `?5` when); as `REPORT_STATE`, nothing for a deleted destination and never an older report
/// over a newer one.
pub const REPORT_LANE_DEPTH: &str = "INSERT INTO lane_depths (destination_id, lane, tenant_id, queue_depth, state_at) \
     SELECT id, ?3, tenant_id, ?4, ?5 FROM destinations WHERE id = ?1 AND tenant_id = ?2 \
     ON CONFLICT (destination_id, lane) DO UPDATE SET queue_depth = excluded.queue_depth, state_at = excluded.state_at \
     WHERE excluded.state_at >= lane_depths.state_at";

/// Every destination with its counters (zeros before its first attempt) and reported state,
/// for `/metrics`. One pass over `destinations`: this is the full export.
pub fn metrics_sql() -> String {
    format!(
        "SELECT d.tenant_id, d.id AS destination_id, d.type AS kind, d.enabled, \
         COALESCE(m.delivered, 0) AS delivered, COALESCE(m.failed, 0) AS failed, \
         COALESCE(m.retried, 0) AS retried, COALESCE(m.filtered, 0) AS filtered, \
         COALESCE(m.skipped, 0) AS skipped, COALESCE(m.latency_sum_ms, 0) AS latency_sum_ms, \
         json_array({}) AS latency, \
         COALESCE(m.queue_depth, 0) + COALESCE((SELECT SUM(l.queue_depth) FROM lane_depths l \
         WHERE l.destination_id = d.id), 0) AS queue_depth, m.circuit_state, m.state_at \
         FROM destinations d LEFT JOIN destination_metrics m ON m.destination_id = d.id \
         ORDER BY d.tenant_id, d.id",
        latency_columns("COALESCE(m.{}, 0)")
    )
}

/// One destination's aggregates in `[from, to)`, summed per interval (`slot` counts
/// intervals from `from`; the casts make it an integer division, as D1 binds every number
/// as a float); only intervals with attempts come back. Served by the primary
/// key (destination, minute).
pub fn stats_sql(
    tenant: &str,
    destination: &str,
    from: Millis,
    to: Millis,
    interval_ms: i64,
) -> (String, Vec<Option<SqlValue>>) {
    use SqlValue::{Int, Str};
    (
        format!(
            "SELECT (minute - CAST(?3 AS INTEGER)) / CAST(?5 AS INTEGER) AS slot, SUM(delivered) AS delivered, SUM(failed) AS failed, \
             SUM(retried) AS retried, SUM(latency_sum_ms) AS latency_sum_ms, json_array({}) AS latency \
             FROM attempt_stats WHERE destination_id = ?2 AND minute >= ?3 AND minute < ?4 AND tenant_id = ?1 \
             GROUP BY slot ORDER BY slot",
            latency_columns("SUM({})")
        ),
        vec![
            Some(Str(tenant.into())),
            Some(Str(destination.into())),
            Some(Int(from)),
            Some(Int(to)),
            Some(Int(interval_ms)),
        ],
    )
}

/// Deletes per-minute aggregates older than `?1`, at most `?2` rows (the retention purge's
/// slices).
pub const PURGE_STATS: &str = "DELETE FROM attempt_stats WHERE (destination_id, minute) IN \
     (SELECT destination_id, minute FROM attempt_stats WHERE minute < ?1 LIMIT ?2)";

/// A destination's monitoring rows (`?1` tenant, `?2` destination), deleted with it.
pub const DELETE_FOR_DESTINATION: &[&str] = &[
    "DELETE FROM destination_metrics WHERE tenant_id = ?1 AND destination_id = ?2",
    "DELETE FROM attempt_stats WHERE destination_id = ?2 AND tenant_id = ?1",
    "DELETE FROM lane_depths WHERE tenant_id = ?1 AND destination_id = ?2",
];

/// A tenant's monitoring rows (`?1`), deleted with it (before its destinations).
pub const DELETE_FOR_TENANT: &[&str] = &[
    "DELETE FROM attempt_stats WHERE destination_id IN (SELECT id FROM destinations WHERE tenant_id = ?1)",
    "DELETE FROM destination_metrics WHERE tenant_id = ?1",
    "DELETE FROM lane_depths WHERE tenant_id = ?1",
];

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
