//! The event log of a tenant: search by topic, delivery status, destination, time range and
//! payload content, and one event with every delivery and attempt.

use super::error::{ApiError, ApiResult};
use super::http::{json, list as list_response, page_params, query_param, Ctx};
use super::routes::Params;
use super::tenants::existing;
use super::views;
use crate::core::delivery::DeliveryStatus;
use crate::core::ids::{DestinationId, EventId};
use crate::core::time::parse_rfc3339;
use crate::log::rows::EventDetail;
use crate::log::search::EventQuery;
use crate::log::tenant::TenantLog;
use serde_json::{json, Value};
use worker::{Request, Response};

const MAX_SEARCH_CHARS: usize = 256;

fn time_param(req: &Request, name: &str) -> ApiResult<Option<i64>> {
    query_param(req, name)
        .map(|raw| {
            parse_rfc3339(&raw)
                .ok_or_else(|| ApiError::field(name, "an RFC 3339 time, e.g. 2026-11-23T10:00:00Z"))
        })
        .transpose()
}

fn json_path(raw: &str) -> ApiResult<String> {
    if raw.len() > MAX_SEARCH_CHARS {
        return Err(ApiError::field(
            "path",
            format!("at most {MAX_SEARCH_CHARS} characters"),
        ));
    }
    crate::core::validate::sqlite_json_path(raw).map_err(|e| ApiError::field("path", e))
}

fn cursor(raw: &str) -> ApiResult<(i64, String)> {
    raw.split_once(':')
        .and_then(|(t, id)| Some((t.parse().ok()?, id.to_string())))
        .ok_or_else(|| ApiError::field("cursor", "not a cursor this API returned"))
}

/// `GET /v1/tenants/{tenant_id}/events`: newest first unless `order=asc`.
pub async fn list(p: &Params, req: &Request, ctx: &Ctx) -> ApiResult<Response> {
    let tenant = existing(ctx, p).await?;
    let pp = page_params(req)?;
    let status = query_param(req, "status");
    if status
        .as_ref()
        .is_some_and(|s| DeliveryStatus::parse(s).is_none())
    {
        return Err(ApiError::field(
            "status",
            format!("one of {}", DeliveryStatus::names()),
        ));
    }
    let destination = query_param(req, "destination_id")
        .map(|d| DestinationId::parse(&d).map_err(|e| ApiError::field("destination_id", e.0)))
        .transpose()?;
    let newest_first = match query_param(req, "order").as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(_) => return Err(ApiError::field("order", "asc or desc")),
    };
    let path_equals = match (query_param(req, "path"), query_param(req, "value")) {
        (None, None) => None,
        (Some(path), Some(value)) => Some((json_path(&path)?, value)),
        _ => return Err(ApiError::field("path", "path and value go together")),
    };
    let contains = query_param(req, "contains");
    if contains
        .as_ref()
        .is_some_and(|c| c.is_empty() || c.len() > MAX_SEARCH_CHARS)
    {
        return Err(ApiError::field(
            "contains",
            format!("1 to {MAX_SEARCH_CHARS} characters"),
        ));
    }
    let query = EventQuery {
        topic: query_param(req, "topic"),
        status,
        destination,
        since: time_param(req, "since")?,
        until: time_param(req, "until")?,
        path_equals,
        contains,
        newest_first,
        after: pp.cursor.as_deref().map(cursor).transpose()?,
        limit: pp.limit,
    };
    let (rows, next) = TenantLog::new(&ctx.env, &ctx.db, &tenant)
        .search(&query)
        .await?;
    let data = rows
        .iter()
        .map(|e| {
            let mut v = views::event(&e.event)?;
            v["deliveries"] = json!(e.deliveries);
            Ok(v)
        })
        .collect::<ApiResult<Vec<Value>>>()?;
    list_response(data, next)
}

/// `GET /v1/tenants/{tenant_id}/events/{event_id}`: payload, metadata, and per destination the
/// delivery with every attempt.
pub async fn get(p: &Params, ctx: &Ctx) -> ApiResult<Response> {
    let tenant = existing(ctx, p).await?;
    let id = EventId::parse(p.get("event_id")).map_err(|_| ApiError::NotFound("event".into()))?;
    let (_, detail) = TenantLog::new(&ctx.env, &ctx.db, &tenant)
        .event(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound("event".into()))?;
    let EventDetail {
        event,
        deliveries,
        attempts,
    } = detail;
    let mut view = views::event(&event)?;
    view["data"] = crate::core::json::from_str(&event.data).unwrap_or(Value::Null);
    view["deliveries"] = deliveries
        .iter()
        .map(|d| {
            let mut v = views::delivery(d);
            v["history"] = attempts
                .iter()
                .filter(|a| a.delivery_id == d.id)
                .map(views::attempt)
                .collect();
            v
        })
        .collect();
    json(200, &view)
}
