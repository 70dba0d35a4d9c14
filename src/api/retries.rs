//! Manual retries: one delivery, every failed delivery of an event, or a destination's
//! failures in a time range. A manual retry is one attempt, recorded with who asked; each
//! delivery has at most `MAX_MANUAL_RETRIES` of them.

use super::error::{ApiError, ApiResult};
use super::http::{json, read_optional_json, Ctx};
use super::routes::Params;
use super::tenants::tenant_id;
use super::views;
use crate::core::audit::{Change, RetryScope};
use crate::core::delivery::{BulkRetry, DeliveryStatus};
use crate::core::ids::{DeliveryId, DestinationId, EventId, TenantId};
use crate::core::time::{parse_rfc3339, Millis};
use crate::intake;
use crate::log::shard::{DeliveryScope, EventScope, RetryScope as Scope, Snapshot};
use crate::log::tenant::TenantLog;
use crate::runtime::log_change;
use crate::runtime::random_bytes;
use crate::store::destinations::{self, DestinationRow};
use serde_json::json;
use worker::{Request, Response};

/// One bulk call re-queues at most this many deliveries; the answer says if more remain.
const BULK_RETRY_LIMIT: usize = 1_000;
fn cap(ctx: &Ctx) -> u32 {
    ctx.settings.max_manual_retries
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

fn snapshot(row: &DestinationRow) -> ApiResult<Snapshot> {
    intake::snapshot(row).ok_or_else(|| ApiError::Internal("destination snapshot".into()))
}

/// `POST …/deliveries/{delivery_id}/retry`: sends a failed (or delivered) delivery again.
pub async fn retry_delivery(p: &Params, ctx: &Ctx) -> ApiResult<Response> {
    let tenant = tenant_id(p)?;
    let destination = enabled_destination(ctx, &tenant, p).await?;
    let id = DeliveryId::parse(p.get("delivery_id")).map_err(|_| not_found("delivery"))?;
    let log = TenantLog::new(&ctx.env, &ctx.db, &tenant);
    let (shard, row, _) = log
        .delivery(&id)
        .await?
        .filter(|(_, d, _)| d.destination_id == destination.id)
        .ok_or_else(|| not_found("delivery"))?;
    if row.status == DeliveryStatus::Pending {
        return Err(ApiError::Conflict("the delivery is already pending".into()));
    }
    let cap = cap(ctx);
    if row.manual_retries >= cap {
        return Err(ApiError::Conflict(format!(
            "this delivery had its {cap} manual retries"
        )));
    }
    let retried = log
        .retry(
            shard,
            Scope::Delivery(DeliveryScope { id: id.clone() }),
            cap,
            ctx.principal.name(),
            vec![snapshot(&destination)?],
        )
        .await?;
    if retried.ids.is_empty() {
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
    let (_, row, _) = log
        .delivery(&id)
        .await?
        .ok_or_else(|| not_found("delivery"))?;
    json(202, &views::delivery(&row))
}

/// `POST /v1/tenants/{tenant_id}/events/{event_id}/retry`: every failed delivery of the event
/// to a destination that exists and is enabled.
pub async fn retry_event(p: &Params, ctx: &Ctx) -> ApiResult<Response> {
    let tenant = tenant_id(p)?;
    let event = EventId::parse(p.get("event_id")).map_err(|_| not_found("event"))?;
    let log = TenantLog::new(&ctx.env, &ctx.db, &tenant);
    let shard = log
        .locate(&event)
        .await?
        .ok_or_else(|| not_found("event"))?;
    let enabled: Vec<DestinationRow> = destinations::list_all(&ctx.db, &tenant)
        .await?
        .into_iter()
        .filter(|d| d.enabled)
        .collect();
    let retried = log
        .retry(
            shard,
            Scope::Event(EventScope {
                id: event.clone(),
                destinations: enabled.iter().map(|d| d.id.clone()).collect(),
            }),
            cap(ctx),
            ctx.principal.name(),
            enabled
                .iter()
                .map(snapshot)
                .collect::<ApiResult<Vec<_>>>()?,
        )
        .await?;
    log_change(
        &Change::ManualRetryRequested {
            scope: RetryScope::Event(event.as_str()),
            count: retried.ids.len(),
            requested_by: ctx.principal.name(),
        },
        &tenant,
        None,
    );
    json(
        202,
        &json!({ "count": retried.ids.len(), "deliveries": retried.ids }),
    )
}

fn parse_time(field: &str, raw: Option<&str>, default: Millis) -> ApiResult<Millis> {
    match raw {
        None => Ok(default),
        Some(s) => parse_rfc3339(s)
            .ok_or_else(|| ApiError::field(field, "an RFC 3339 time, e.g. 2026-11-23T10:00:00Z")),
    }
}

/// `POST …/destinations/{destination_id}/retry`: the destination's failed deliveries created
/// in `[since, until)`, oldest first, up to `BULK_RETRY_LIMIT` per call.
pub async fn retry_destination(p: &Params, req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
    let tenant = tenant_id(p)?;
    let destination = enabled_destination(ctx, &tenant, p).await?;
    let body: BulkRetry = read_optional_json(req, ctx).await?;
    let since = parse_time("since", body.since.as_deref(), 0)?;
    let until = parse_time("until", body.until.as_deref(), ctx.now + 1)?;
    if until <= since {
        return Err(ApiError::field("until", "must be after since"));
    }
    let retried = TenantLog::new(&ctx.env, &ctx.db, &tenant)
        .retry_range(
            &destination.id,
            (since, until),
            BULK_RETRY_LIMIT,
            cap(ctx),
            ctx.principal.name(),
            snapshot(&destination)?,
        )
        .await?;
    let (requeued, more) = (retried.ids, retried.more);
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
