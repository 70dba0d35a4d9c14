//! Tenants: the platform's customers. Deleting one deletes its destinations (and purges their
//! schedulers), events and deliveries.

use super::error::{ApiError, ApiResult};
use super::http::{json, list as list_response, no_content, page_params, read_json, Ctx};
use super::routes::Params;
use super::views;
use crate::core::ids::TenantId;
use crate::core::log::MAX_LOG_SHARDS;
use crate::core::tenant::{
    PortalRequest, TenantCreate, TenantUpdate, DEFAULT_PORTAL_SUBJECT, MAX_NAME_CHARS,
};
use crate::core::validate::{check_metadata, check_text, FieldError};
use crate::scheduler::client::SchedulerClient;
use crate::store::{page, tenants as store};
use std::collections::BTreeMap;
use worker::{Request, Response};

/// The data plane's fan-out for a tenant's new buckets: 1 to `MAX_LOG_SHARDS`.
fn check_log_shards(n: Option<u32>) -> ApiResult<()> {
    match n {
        Some(n) if !(1..=MAX_LOG_SHARDS).contains(&n) => Err(ApiError::field(
            "log_shards",
            format!("an integer from 1 to {MAX_LOG_SHARDS}"),
        )),
        _ => Ok(()),
    }
}

fn check(name: Option<&String>, metadata: &BTreeMap<String, String>) -> ApiResult<()> {
    let mut errors: Vec<FieldError> = check_metadata("metadata", metadata);
    if let Some(Err(e)) = name.map(|n| check_text(n, MAX_NAME_CHARS)) {
        errors.push(FieldError::new("name", e));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

pub fn tenant_id(p: &Params) -> ApiResult<TenantId> {
    TenantId::parse(p.get("tenant_id")).map_err(|_| ApiError::NotFound("tenant".into()))
}

/// Loads a tenant or answers 404.
pub async fn existing(ctx: &Ctx, p: &Params) -> ApiResult<TenantId> {
    let id = tenant_id(p)?;
    if store::exists(&ctx.db, &id).await? {
        Ok(id)
    } else {
        Err(ApiError::NotFound("tenant".into()))
    }
}

/// `POST /v1/tenants`: creates a tenant, with the platform's own id or a generated one.
pub async fn create(req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
    let body: TenantCreate = read_json(req, ctx).await?;
    check(body.name.as_ref(), &body.metadata)?;
    check_log_shards(body.log_shards)?;
    let id = body.id.unwrap_or_else(|| {
        TenantId::generate(
            ctx.now as u64,
            u128::from_le_bytes(crate::runtime::random_bytes()),
        )
    });
    let row = store::TenantRow {
        id,
        name: body.name,
        metadata: serde_json::to_string(&body.metadata).unwrap_or_else(|_| "{}".into()),
        created_at: ctx.now,
        updated_at: ctx.now,
        log_shards: body.log_shards.unwrap_or(1),
    };
    match store::insert(&ctx.db, &row).await {
        Err(crate::store::StoreError::Conflict) => Err(ApiError::Conflict(format!(
            "tenant '{}' already exists",
            row.id
        ))),
        other => other.map_err(ApiError::from),
    }?;
    json(201, &views::tenant(&row)?)
}

/// `GET /v1/tenants`: every tenant, in id order, paged.
pub async fn list(req: &Request, ctx: &Ctx) -> ApiResult<Response> {
    let pp = page_params(req)?;
    let rows = store::list(&ctx.db, pp.cursor.as_deref(), pp.limit).await?;
    let (rows, next) = page(rows, pp.limit, |t| t.id.to_string());
    list_response(
        rows.iter()
            .map(views::tenant)
            .collect::<ApiResult<Vec<_>>>()?,
        next,
    )
}

/// `GET /v1/tenants/{tenant_id}`.
pub async fn get(p: &Params, ctx: &Ctx) -> ApiResult<Response> {
    let id = tenant_id(p)?;
    let row = store::get(&ctx.db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("tenant".into()))?;
    json(200, &views::tenant(&row)?)
}

/// `PATCH /v1/tenants/{tenant_id}`: name and metadata.
pub async fn update(p: &Params, req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
    let id = tenant_id(p)?;
    let patch: TenantUpdate = read_json(req, ctx).await?;
    let mut row = store::get(&ctx.db, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("tenant".into()))?;
    check_log_shards(patch.log_shards)?;
    if let Some(name) = patch.name {
        row.name = name;
    }
    if let Some(n) = patch.log_shards {
        row.log_shards = n;
    }
    let metadata = match patch.metadata {
        Some(m) => m,
        // Unreadable stored metadata is a fault to log, not something to overwrite with {}.
        None => crate::core::json::from_str(&row.metadata)
            .map_err(|e| ApiError::Internal(format!("stored metadata of {}: {e}", row.id)))?,
    };
    check(row.name.as_ref(), &metadata)?;
    row.metadata = serde_json::to_string(&metadata).unwrap_or_else(|_| "{}".into());
    row.updated_at = ctx.now;
    store::update(&ctx.db, &row).await?;
    json(200, &views::tenant(&row)?)
}

/// `DELETE /v1/tenants/{tenant_id}`: stops every destination's deliveries, then deletes all.
pub async fn delete(p: &Params, ctx: &Ctx, scheduler: &SchedulerClient<'_>) -> ApiResult<Response> {
    let id = existing(ctx, p).await?;
    if id.as_str() == crate::core::alerts::OPERATOR_TENANT {
        return Err(ApiError::Conflict(
            "the operator tenant receives every tenant's alerts and cannot be deleted".into(),
        ));
    }
    let destinations = store::destination_ids(&ctx.db, &id).await?;
    // At most 6 at a time: an invocation keeps at most 6 connections open in production, and
    // a tenant may have a hundred destinations.
    // One call per lane of each, so that the bound holds over lanes too.
    let purges = destinations
        .iter()
        .flat_map(|(d, span)| (0..*span).map(move |lane| scheduler.purge_lane(d, lane)))
        .collect();
    for result in crate::runtime::bounded(purges).await {
        result?;
    }
    // Its events, deliveries and attempts: every log shard and index object, dropped whole.
    crate::log::tenant::TenantLog::new(&ctx.env, &ctx.db, &id)
        .purge()
        .await?;
    store::delete(&ctx.db, &id).await?;
    no_content()
}

/// The dashboard's portal link: the token rides in the URL fragment, which browsers never send
/// to a server, so it stays out of access logs and `Referer` headers.
fn portal_url(origin: &str, token: &str) -> String {
    format!("{origin}/#/portal?token={token}")
}

/// Mints a tenant token: a session that reaches this tenant's routes and nothing else.
pub async fn mint_portal_token(p: &Params, req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
    use crate::core::tokens::{self, DEFAULT_TTL_SECS, MAX_TTL_SECS, MIN_TTL_SECS};
    let origin = req.url()?.origin().ascii_serialization();
    let body: PortalRequest = super::http::read_optional_json(req, ctx).await?;
    let subject = body
        .subject
        .unwrap_or_else(|| DEFAULT_PORTAL_SUBJECT.into());
    let mut errors = vec![];
    if subject.is_empty() || check_text(&subject, MAX_NAME_CHARS).is_err() {
        errors.push(FieldError::new(
            "subject",
            format!("1 to {MAX_NAME_CHARS} characters, no control characters"),
        ));
    }
    let ttl = body.ttl_seconds.unwrap_or(DEFAULT_TTL_SECS);
    if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&ttl) {
        errors.push(FieldError::new(
            "ttl_seconds",
            format!("between {MIN_TTL_SECS} and {MAX_TTL_SECS}"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = existing(ctx, p).await?;
    let subject = format!("portal:{subject}");
    let key = super::auth::token_key(&ctx.env)?;
    let (token, claims) =
        tokens::mint(&key, id.as_str(), &subject, ctx.now, ttl).map_err(ApiError::Internal)?;
    json(
        201,
        &serde_json::json!({
            "token": token,
            "tenant_id": id.as_str(),
            "subject": subject,
            "expires_at": crate::core::time::to_rfc3339(claims.exp * 1_000),
            "url": portal_url(&origin, &token),
        }),
    )
}
