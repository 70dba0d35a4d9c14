//! The SQL of monitoring, as plain text and values (no runtime types), so that native tests
//! run it on SQLite with the real schema: the counters an attempt increments (exactly once,
//! however often its batch is re-sent), what publish counts, the scheduler's state report,
//! and the `/metrics` and stats reads with their query plans.

use super::event_search::SqlValue;
use crate::core::engine::{AttemptOutcome, AttemptRecord};
use crate::core::metrics::{bucket_of, LATENCY_BUCKETS};
use crate::core::stats::minute_of;
use crate::core::time::Millis;

/// Records one attempt. Its counter statements (`counter_statements`) must run before it in
/// the same batch: they are guarded by this row not existing yet.
pub const INSERT_ATTEMPT: &str = "INSERT OR IGNORE INTO attempts (id, delivery_id, tenant_id, attempt, trigger, started_at, \
     duration_ms, status_code, outcome, error, response_body, requested_by, request_headers) \
     VALUES (?1, ?2, ?3, ?4, CASE WHEN ?11 IS NULL THEN 'scheduled' ELSE 'manual' END, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

/// `INSERT_ATTEMPT`'s values.
pub fn attempt_values(r: &AttemptRecord) -> Vec<Option<SqlValue>> {
    use SqlValue::{Int, Str};
    vec![
        Some(Str(r.id.to_string())),
        Some(Str(r.delivery_id.to_string())),
        Some(Str(r.tenant_id.to_string())),
        Some(Int(r.attempt as i64)),
        Some(Int(r.started_at)),
        Some(Int(r.duration_ms as i64)),
        r.status_code.map(|c| Int(c as i64)),
        Some(Str(r.outcome.as_str().into())),
        r.error.clone().map(Str),
        r.response_body.clone().map(Str),
        r.requested_by.clone().map(Str),
        r.request_headers
            .as_ref()
            .map(|h| Str(serde_json::to_string(h).unwrap_or_default())),
    ]
}

/// Latency columns `l0…l13`, comma-separated, each wrapped as `wrap` says (`{}` = the column).
fn latency_columns(wrap: &str) -> String {
    (0..LATENCY_BUCKETS)
        .map(|i| wrap.replace("{}", &format!("l{i}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An upsert adding one attempt to a counter row of `table`, keyed by the delivery's
/// destination (found through the delivery, so the record need not carry it). Nothing
/// happens if the attempt is recorded already: a batch re-sent after a lost answer from D1
/// counts nothing twice.
fn counter_upsert(table: &str, key: &str, key_values: &str, bucket: Option<usize>) -> String {
    let (col, val, set) = match bucket {
        Some(i) => (
            format!(", l{i}"),
            ", 1".to_string(),
            format!(", l{i} = l{i} + 1"),
        ),
        None => Default::default(),
    };
    format!(
        "INSERT INTO {table} ({key}, tenant_id, delivered, failed, retried, latency_sum_ms{col}) \
         SELECT {key_values}, d.tenant_id, ?4, ?5, ?6, ?7{val} FROM deliveries d \
         WHERE d.tenant_id = ?2 AND d.id = ?3 AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.id = ?1) \
         ON CONFLICT ({key}) DO UPDATE SET delivered = delivered + excluded.delivered, \
         failed = failed + excluded.failed, retried = retried + excluded.retried, \
         latency_sum_ms = latency_sum_ms + excluded.latency_sum_ms{set}"
    )
}

/// The statements that count one attempt: the destination's monotonic counters (for
/// `/metrics`) and its per-minute aggregate (for stats). The latency is counted only when a
/// request was sent (the record has its headers).
pub fn counter_statements(r: &AttemptRecord) -> Vec<(String, Vec<Option<SqlValue>>)> {
    use SqlValue::{Int, Str};
    let sent = r.request_headers.is_some();
    let bucket = sent.then(|| bucket_of(r.duration_ms));
    let flag = |o: AttemptOutcome| Some(Int(i64::from(r.outcome == o)));
    let values = vec![
        Some(Str(r.id.to_string())),
        Some(Str(r.tenant_id.to_string())),
        Some(Str(r.delivery_id.to_string())),
        flag(AttemptOutcome::Delivered),
        flag(AttemptOutcome::Failed),
        flag(AttemptOutcome::Retry),
        Some(Int(if sent { r.duration_ms as i64 } else { 0 })),
    ];
    let mut with_minute = values.clone();
    with_minute.push(Some(Int(minute_of(r.started_at))));
    vec![
        (
            counter_upsert(
                "destination_metrics",
                "destination_id",
                "d.destination_id",
                bucket,
            ),
            values,
        ),
        (
            counter_upsert(
                "attempt_stats",
                "destination_id, minute",
                "d.destination_id, ?8",
                bucket,
            ),
            with_minute,
        ),
    ]
}

/// Counts a delivery that publish records without queuing (`filtered` or `skipped`), only
/// if the event row is the one this publish wrote (`?4` its publish key), like the delivery.
/// `None` for statuses that are counted when attempted.
pub fn count_at_publish(status: &str) -> Option<String> {
    let column = match status {
        "filtered" => "filtered",
        "skipped" => "skipped",
        _ => return None,
    };
    Some(format!(
        "INSERT INTO destination_metrics (destination_id, tenant_id, {column}) \
         SELECT ?1, ?2, 1 FROM events WHERE tenant_id = ?2 AND id = ?3 AND publish_key = ?4 \
         ON CONFLICT (destination_id) DO UPDATE SET {column} = {column} + 1"
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

/// Every destination with its counters (zeros before its first attempt) and reported state,
/// for `/metrics`. One pass over `destinations`: this is the full export.
pub fn metrics_sql() -> String {
    format!(
        "SELECT d.tenant_id, d.id AS destination_id, d.type AS kind, d.enabled, \
         COALESCE(m.delivered, 0) AS delivered, COALESCE(m.failed, 0) AS failed, \
         COALESCE(m.retried, 0) AS retried, COALESCE(m.filtered, 0) AS filtered, \
         COALESCE(m.skipped, 0) AS skipped, COALESCE(m.latency_sum_ms, 0) AS latency_sum_ms, \
         json_array({}) AS latency, m.queue_depth, m.circuit_state, m.state_at \
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
];

/// A tenant's monitoring rows (`?1`), deleted with it (before its destinations).
pub const DELETE_FOR_TENANT: &[&str] = &[
    "DELETE FROM attempt_stats WHERE destination_id IN (SELECT id FROM destinations WHERE tenant_id = ?1)",
    "DELETE FROM destination_metrics WHERE tenant_id = ?1",
];

#[cfg(all(test, not(target_arch = "wasm32")))]
#[path = "monitoring_sql_tests.rs"]
mod tests;
