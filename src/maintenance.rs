//! The daily cron: what retention leaves in D1. Events, deliveries and attempts need none:
//! each log shard drops itself whole from its own alarm once expired, and each index object
//! forgets ids past the dedup window. Here: per-minute stats past their window, and the
//! directory rows of buckets whose shards have expired.

use crate::core::stats::STATS_RETENTION_MS;
use crate::log::client::LogSettings;
use crate::runtime::now;
use crate::store::{log_buckets, monitoring};
use serde_json::json;
use worker::{console_error, console_log, Env};

/// A directory row outlives its bucket's expiry by this much: a shard kept past its expiry
/// by a pending delivery stays listed (and found by a tenant delete) for this long. Rows of
/// dropped shards cost one empty read per page meanwhile.
const DIRECTORY_GRACE_MS: i64 = 30 * 86_400_000;

pub async fn daily(env: &Env) {
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => return console_error!("retention: D1 binding DB: {e}"),
    };
    let settings = LogSettings::from_env(env);
    let t = now();
    let stats = monitoring::purge_stats(&db, t - STATS_RETENTION_MS).await;
    let buckets = log_buckets::forget_before(
        &db,
        t - settings.retention_ms - settings.layout.bucket_ms - DIRECTORY_GRACE_MS,
    )
    .await;
    match (stats, buckets) {
        (Ok(stats), Ok(buckets)) => console_log!(
            "{}",
            json!({ "event": "retention_purge", "stats_rows": stats, "buckets": buckets })
        ),
        (stats, buckets) => console_error!(
            "{}",
            json!({ "event": "retention_purge_failed", "stats": format!("{stats:?}"), "buckets": format!("{buckets:?}") })
        ),
    }
}
