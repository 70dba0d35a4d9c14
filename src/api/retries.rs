//! Manual retries: one delivery, every failed delivery of an event, or a destination's
//! failures in a time range. A manual retry is one attempt, recorded with who asked; each
//! delivery has at most `MAX_MANUAL_RETRIES` of them.

use super::error::{ApiError, ApiResult};
use super::http::{json, read_optional_json, Ctx};
use super::routes::Params;
use super::tenants::tenant_id;
use super::views;
use crate::core::audit::{Change, RetryScope};
use crate::core::engine::QueuedDelivery;
use crate::core::ids::{DeliveryId, DestinationId, EventId, TenantId};
use crate::core::time::Millis;
use crate::runtime::log_change;
use crate::runtime::random_bytes;
use crate::scheduler::client::{SchedulerClient, SchedulerError};
use crate::store::deliveries::{self as store, RetryCandidate};
use crate::store::destinations::{self, DestinationRow};
use chrono::DateTime;
use futures::future::join_all;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use worker::{Request, Response};

pub const DEFAULT_MAX_MANUAL_RETRIES: u32 = 10;
/// One bulk call re-queues at most this many deliveries; the answer says if more remain.
pub const BULK_RETRY_LIMIT: usize = 1_000;
fn cap(ctx: &Ctx) -> u32 {
    Ctx::var(&ctx.env, "MAX_MANUAL_RETRIES")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_MANUAL_RETRIES)
}

fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(what.into())
}

async fn enabled_destination(
    ctx: &Ctx,
    tenant: &TenantId,
    p: &Params,
) -> ApiResult<DestinationRow> {
    let id = DestinationId::parse(p.get("destination_id")).map_err(|_| not_found("destination"))?;
    let row = destinations::get(&ctx.db, tenant, &id)
        .await?
        .ok_or_else(|| not_found("destination"))?;
    if !row.enabled {
        return Err(ApiError::Conflict(
            "the destination is disabled; enable it before retrying".into(),
        ));
    }
    Ok(row)
}

/// Marks the candidates pending in D1, then hands them to their schedulers. If a scheduler
/// cannot be reached, its deliveries are put back as they were and the call answers 503.
/// Returns the ids re-queued.
async fn requeue(
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
    tenant: &TenantId,
    candidates: Vec<RetryCandidate>,
    known: &[DestinationRow],
) -> ApiResult<Vec<DeliveryId>> {
    // Only deliveries whose destination exists and is enabled.
    let candidates: Vec<_> = candidates
        .into_iter()
        .filter(|c| known.iter().any(|d| d.id == c.destination_id && d.enabled))
        .collect();
    let ids: Vec<_> = candidates.iter().map(|c| c.id.clone()).collect();
    let marked =
        store::mark_many_for_manual_retry(&ctx.db, tenant, &ids, cap(ctx), ctx.now).await?;
    let mut by_destination: BTreeMap<&DestinationId, Vec<QueuedDelivery>> = BTreeMap::new();
    for c in candidates.iter().filter(|c| marked.contains(&c.id)) {
        by_destination
            .entry(&c.destination_id)
            .or_default()
            .push(c.queued(tenant, ctx.now, Some(ctx.principal.name())));
    }
    let calls = by_destination.iter().map(|(id, deliveries)| {
        let row = known
            .iter()
            .find(|d| &&d.id == id)
            .expect("filtered to known destinations");
        scheduler.enqueue(row, deliveries.clone())
    });
    let results = join_all(calls).await;
    let mut failed = vec![];
    for ((_, deliveries), result) in by_destination.iter().zip(results) {
        if let Err(SchedulerError::Unavailable(_)) = result {
            for d in deliveries {
                let previous = candidates
                    .iter()
                    .find(|c| c.id == d.delivery_id)
                    .map(|c| c.status.clone());
                failed.push((
                    d.delivery_id.clone(),
                    previous.unwrap_or_else(|| "failed".into()),
                ));
            }
        }
    }
    if !failed.is_empty() {
        store::unmark_manual_retry(&ctx.db, tenant, &failed).await?;
        return Err(ApiError::Unavailable(
            "a scheduler could not take the retries".into(),
        ));
    }
    Ok(marked)
}

/// `POST …/deliveries/{delivery_id}/retry`: sends a failed (or delivered) delivery again.
pub async fn retry_delivery(
    p: &Params,
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
) -> ApiResult<Response> {
    let tenant = tenant_id(p)?;
    let destination = enabled_destination(ctx, &tenant, p).await?;
    let id = DeliveryId::parse(p.get("delivery_id")).map_err(|_| not_found("delivery"))?;
    let candidate = store::candidate(&ctx.db, &tenant, &id)
        .await?
        .filter(|c| c.destination_id == destination.id)
        .ok_or_else(|| not_found("delivery"))?;
    if candidate.status == "pending" {
        return Err(ApiError::Conflict("the delivery is already pending".into()));
    }
    let cap = cap(ctx);
    if candidate.manual_retries >= cap {
        return Err(ApiError::Conflict(format!(
            "this delivery had its {cap} manual retries"
        )));
    }
    let requeued = requeue(
        ctx,
        scheduler,
        &tenant,
        vec![candidate],
        std::slice::from_ref(&destination),
    )
    .await?;
    if requeued.is_empty() {
        return Err(ApiError::Conflict(
            "the delivery changed meanwhile; look at it again".into(),
        ));
    }
    log_change(
        &Change::ManualRetryRequested {
            scope: RetryScope::Delivery(id.as_str()),
            count: 1,
            requested_by: ctx.principal.name(),
        },
        &tenant,
        Some(&destination.id),
    );
    let row = store::get(&ctx.db, &tenant, &destination.id, &id)
        .await?
        .ok_or_else(|| not_found("delivery"))?;
    json(202, &views::delivery(&row))
}

/// `POST /v1/tenants/{tenant_id}/events/{event_id}/retry`: every failed delivery of the event.
pub async fn retry_event(
    p: &Params,
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
) -> ApiResult<Response> {
    let tenant = tenant_id(p)?;
    let event = EventId::parse(p.get("event_id")).map_err(|_| not_found("event"))?;
    if crate::store::events::get(&ctx.db, &tenant, &event)
        .await?
        .is_none()
    {
        return Err(not_found("event"));
    }
    let candidates = store::failed_for_event(&ctx.db, &tenant, &event).await?;
    let mut known = vec![];
    for c in &candidates {
        if !known
            .iter()
            .any(|d: &DestinationRow| d.id == c.destination_id)
        {
            known.extend(destinations::get(&ctx.db, &tenant, &c.destination_id).await?);
        }
    }
    let requeued = requeue(ctx, scheduler, &tenant, candidates, &known).await?;
    log_change(
        &Change::ManualRetryRequested {
            scope: RetryScope::Event(event.as_str()),
            count: requeued.len(),
            requested_by: ctx.principal.name(),
        },
        &tenant,
        None,
    );
    json(
        202,
        &json!({ "count": requeued.len(), "deliveries": requeued }),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BulkRetry {
    /// RFC 3339; deliveries created at or after. Default: the beginning.
    since: Option<String>,
    /// RFC 3339; deliveries created before. Default: now.
    until: Option<String>,
}

fn parse_time(field: &str, raw: Option<&str>, default: Millis) -> ApiResult<Millis> {
    match raw {
        None => Ok(default),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .map_err(|_| ApiError::field(field, "an RFC 3339 time, e.g. 2026-11-23T10:00:00Z")),
    }
}

/// `POST …/destinations/{destination_id}/retry`: the destination's failed deliveries created
/// in `[since, until)`, oldest first, up to `BULK_RETRY_LIMIT` per call.
pub async fn retry_destination(
    p: &Params,
    req: &mut Request,
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
) -> ApiResult<Response> {
    let tenant = tenant_id(p)?;
    let destination = enabled_destination(ctx, &tenant, p).await?;
    let body: BulkRetry = read_optional_json(req, ctx).await?;
    let since = parse_time("since", body.since.as_deref(), 0)?;
    let until = parse_time("until", body.until.as_deref(), ctx.now + 1)?;
    if until <= since {
        return Err(ApiError::field("until", "must be after since"));
    }
    let candidates = store::failed_in_range(
        &ctx.db,
        &tenant,
        &destination.id,
        since,
        until,
        cap(ctx),
        BULK_RETRY_LIMIT,
    )
    .await?;
    let more = candidates.len() == BULK_RETRY_LIMIT;
    let requeued = requeue(
        ctx,
        scheduler,
        &tenant,
        candidates,
        std::slice::from_ref(&destination),
    )
    .await?;
    let job_id = format!(
        "rtj_{}",
        crate::core::ids::new_ulid(ctx.now as u64, u128::from_le_bytes(random_bytes()))
    );
    log_change(
        &Change::ManualRetryRequested {
            scope: RetryScope::Bulk { job_id: &job_id },
            count: requeued.len(),
            requested_by: ctx.principal.name(),
        },
        &tenant,
        Some(&destination.id),
    );
    json(
        202,
        &json!({ "job_id": job_id, "count": requeued.len(), "more": more }),
    )
}
