//! The topic catalogue: the event types the platform publishes, with descriptions. A
//! destination's `topics` subscribe to names from it (exact, `prefix.*`, or `*`).

use super::error::{ApiError, ApiResult};
use super::http::{json, list as list_response, no_content, page_params, read_json, Ctx};
use super::routes::Params;
use crate::core::time::to_rfc3339;
use crate::core::topics::{validate_topic, TopicCreate, MAX_DESCRIPTION_CHARS};
use crate::core::validate::check_text;
use crate::store::{page, topics as store, StoreError};
use serde_json::{json, Value};
use worker::{Request, Response};

fn view(t: &store::TopicRow) -> Value {
    json!({
        "name": t.name,
        "description": t.description,
        "created_at": to_rfc3339(t.created_at),
        "updated_at": to_rfc3339(t.updated_at),
    })
}

/// `POST /v1/topics`.
pub async fn create(req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
    let body: TopicCreate = read_json(req, ctx).await?;
    validate_topic(&body.name).map_err(|e| ApiError::field("name", e))?;
    if let Some(d) = &body.description {
        check_text(d, MAX_DESCRIPTION_CHARS).map_err(|e| ApiError::field("description", e))?;
    }
    let row = store::TopicRow {
        name: body.name,
        description: body.description,
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    match store::insert(&ctx.db, &row).await {
        Err(StoreError::Conflict) => Err(ApiError::Conflict(format!(
            "topic '{}' already exists",
            row.name
        ))),
        other => other.map_err(ApiError::from),
    }?;
    json(201, &view(&row))
}

/// `GET /v1/topics`: in name order, paged.
pub async fn list(req: &Request, ctx: &Ctx) -> ApiResult<Response> {
    let pp = page_params(req)?;
    let rows = store::list(&ctx.db, pp.cursor.as_deref(), pp.limit).await?;
    let (rows, next) = page(rows, pp.limit, |t| t.name.clone());
    list_response(rows.iter().map(view).collect(), next)
}

/// `GET /v1/topics/{topic}`.
pub async fn get(p: &Params, ctx: &Ctx) -> ApiResult<Response> {
    let row = store::get(&ctx.db, p.get("topic"))
        .await?
        .ok_or_else(|| ApiError::NotFound("topic".into()))?;
    json(200, &view(&row))
}

/// `DELETE /v1/topics/{topic}`: later publishes to it are refused; destinations keep their
/// subscriptions (they match again if the topic comes back).
pub async fn delete(p: &Params, ctx: &Ctx) -> ApiResult<Response> {
    if store::delete(&ctx.db, p.get("topic")).await? {
        no_content()
    } else {
        Err(ApiError::NotFound("topic".into()))
    }
}
