//! Deliveries of a destination and their attempts: what happened to each event.

use super::error::{ApiError, ApiResult};
use super::http::{json, list as list_response, page_params, query_param, Ctx};
use super::routes::Params;
use super::tenants::tenant_id;
use super::views;
use crate::core::ids::{DeliveryId, DestinationId};
use crate::store::{deliveries as store, destinations, page};
use serde_json::json;
use worker::{Request, Response};

use crate::store::deliveries::STATUSES;

/// `GET …/destinations/{destination_id}/deliveries?status=`: newest first, paged.
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
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::field(
                "status",
                format!("one of {}", STATUSES.join(", ")),
            ));
        }
    }
    let pp = page_params(req)?;
    let rows = store::list(
        &ctx.db,
        &tenant,
        &destination,
        status.as_deref(),
        pp.cursor.as_deref(),
        pp.limit,
    )
    .await?;
    let (rows, next) = page(rows, pp.limit, |d| d.id.to_string());
    list_response(rows.iter().map(views::delivery).collect(), next)
}

/// `GET …/deliveries/{delivery_id}/attempts`: every attempt, oldest first.
pub async fn attempts(p: &Params, ctx: &Ctx) -> ApiResult<Response> {
    let tenant = tenant_id(p)?;
    let not_found = || ApiError::NotFound("delivery".into());
    let destination = DestinationId::parse(p.get("destination_id")).map_err(|_| not_found())?;
    let delivery = DeliveryId::parse(p.get("delivery_id")).map_err(|_| not_found())?;
    store::get(&ctx.db, &tenant, &destination, &delivery)
        .await?
        .ok_or_else(not_found)?;
    let rows = store::attempts(&ctx.db, &tenant, &delivery).await?;
    json(
        200,
        &json!({ "data": rows.iter().map(views::attempt).collect::<Vec<_>>() }),
    )
}
