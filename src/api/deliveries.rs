//! Deliveries of a destination and their attempts: what happened to each event.

use super::error::{ApiError, ApiResult};
use super::http::{json, list as list_response, page_params, query_param, Ctx};
use super::routes::Params;
use super::tenants::tenant_id;
use super::views;
use crate::core::delivery::DeliveryStatus;
use crate::core::ids::{DeliveryId, DestinationId};
use crate::log::tenant::TenantLog;
use crate::store::destinations;
use serde_json::json;
use worker::{Request, Response};

/// `GET …/destinations/{destination_id}/deliveries?status=`: newest first, paged (a page reads
/// at most a bounded number of log shards; a short page can still have a `next_cursor`).
pub async fn list(p: &Params, req: &Request, ctx: &Ctx) -> ApiResult<Response> {
    let tenant = tenant_id(p)?;
    let destination = DestinationId::parse(p.get("destination_id"))
        .map_err(|_| ApiError::NotFound("destination".into()))?;
    if destinations::get(&ctx.db, &tenant, &destination)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound("destination".into()));
    }
    let status = query_param(req, "status");
    if let Some(s) = &status {
        if DeliveryStatus::parse(s).is_none() {
            return Err(ApiError::field(
                "status",
                format!("one of {}", DeliveryStatus::names()),
            ));
        }
    }
    let pp = page_params(req)?;
    let cursor = pp
        .cursor
        .as_deref()
        .map(|c| {
            DeliveryId::parse(c)
                .map_err(|_| ApiError::field("cursor", "not a cursor this API returned"))
        })
        .transpose()?;
    let (rows, next) = TenantLog::new(&ctx.env, &ctx.db, &tenant)
        .destination_deliveries(&destination, status.as_deref(), cursor.as_ref(), pp.limit)
        .await?;
    list_response(rows.iter().map(views::delivery).collect(), next)
}

/// `GET …/deliveries/{delivery_id}/attempts`: every attempt, oldest first.
pub async fn attempts(p: &Params, ctx: &Ctx) -> ApiResult<Response> {
    let tenant = tenant_id(p)?;
    let not_found = || ApiError::NotFound("delivery".into());
    let destination = DestinationId::parse(p.get("destination_id")).map_err(|_| not_found())?;
    let delivery = DeliveryId::parse(p.get("delivery_id")).map_err(|_| not_found())?;
    let (_, _, attempts) = TenantLog::new(&ctx.env, &ctx.db, &tenant)
        .delivery(&delivery)
        .await?
        .filter(|(_, d, _)| d.destination_id == destination)
        .ok_or_else(not_found)?;
    json(
        200,
        &json!({ "data": attempts.iter().map(views::attempt).collect::<Vec<_>>() }),
    )
}
