//! The cron jobs: the daily retention purge, and the sweep that hands to their schedulers any
//! deliveries that a publish stored but could not hand off (the Worker died in between and
//! the publisher never retried). Enqueueing is idempotent, so the sweep is safe to repeat.

use super::http::Ctx;
use crate::core::engine::QueuedDelivery;
use crate::scheduler::client::SchedulerClient;
use crate::store::{deliveries, destinations};
use futures::future::join_all;
use serde_json::json;
use std::collections::BTreeMap;
use worker::{console_error, console_log, Env};

pub const DEFAULT_RETENTION_DAYS: f64 = 30.0;
/// A delivery not attempted this long after its publish may have missed its hand-off.
pub const STRANDED_AFTER_MS: i64 = 5 * 60_000;
/// Deliveries looked at per sweep.
const SWEEP_LIMIT: usize = 500;

/// The cron expression of the sweep in wrangler.toml; any other cron runs the purge.
pub const SWEEP_CRON: &str = "*/5 * * * *";

fn now() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// Deletes finished history older than `RETENTION_DAYS` (default 30; fractions allowed).
/// Pending deliveries and their events are never purged.
pub async fn purge_history(env: &Env) {
    let days = Ctx::var(env, "RETENTION_DAYS")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0)
        .unwrap_or(DEFAULT_RETENTION_DAYS);
    let cutoff = now() - (days * 86_400_000.0) as i64;
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => return console_error!("retention: D1 binding DB: {e}"),
    };
    match crate::store::retention::purge(
        &db,
        cutoff,
        now() - crate::core::stats::STATS_RETENTION_MS,
    )
    .await
    {
        Ok(purged) => console_log!(
            "{}",
            json!({ "event": "retention_purge", "days": days, "purged": purged })
        ),
        Err(e) => console_error!(
            "{}",
            json!({ "event": "retention_purge_failed", "error": format!("{e:?}") })
        ),
    }
}

/// Hands never-attempted pending deliveries older than `STRANDED_AFTER_MS` (or
/// `STRANDED_AFTER_MS_OVERRIDE`, for tests) to their schedulers again. A scheduler that has
/// the delivery queued, or has finished it, ignores it.
pub async fn requeue_stranded(env: &Env) {
    let after = Ctx::var(env, "STRANDED_AFTER_MS_OVERRIDE")
        .and_then(|v| v.parse().ok())
        .unwrap_or(STRANDED_AFTER_MS);
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => return console_error!("sweep: D1 binding DB: {e}"),
    };
    let stranded = match deliveries::stranded(&db, now() - after, SWEEP_LIMIT).await {
        Ok(s) => s,
        Err(e) => {
            return console_error!(
                "{}",
                json!({ "event": "sweep_failed", "error": format!("{e:?}") })
            )
        }
    };
    let mut by_destination: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for (tenant, c) in stranded {
        by_destination
            .entry((tenant, c.destination_id.clone()))
            .or_default()
            .push(c);
    }
    let scheduler = &SchedulerClient::new(env);
    let mut calls = vec![];
    for ((tenant, destination), candidates) in &by_destination {
        let row = match destinations::get(&db, tenant, destination).await {
            Ok(Some(row)) if row.enabled => row,
            _ => continue,
        };
        let queued: Vec<QueuedDelivery> = candidates
            .iter()
            .map(|c| c.queued(tenant, now(), None))
            .collect();
        calls.push(async move { (row.id.clone(), scheduler.enqueue(&row, queued).await) });
    }
    for (destination, result) in join_all(calls).await {
        match result {
            Ok(e) if e.queued > 0 => console_log!(
                "{}",
                json!({ "event": "stranded_requeued", "destination_id": destination, "count": e.queued })
            ),
            Ok(_) => {}
            Err(e) => console_error!(
                "{}",
                json!({ "event": "sweep_enqueue_failed", "destination_id": destination, "error": format!("{e:?}") })
            ),
        }
    }
}
