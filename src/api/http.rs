//! Request and response plumbing shared by every handler: the context, bounded JSON bodies,
//! pagination parameters, JSON responses.

use super::error::{ApiError, ApiResult};
use crate::core::settings::Settings;
use crate::core::time::Millis;
use crate::core::validate::{from_slice, BodyError};
use crate::core::wire::read_capped;
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{D1Database, Env, Headers, Request, Response};

const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

/// What every handler gets.
pub struct Ctx {
    /// Who is calling (the admin, or a tenant token's session).
    pub principal: super::auth::Principal,
    pub env: Env,
    pub db: D1Database,
    pub now: Millis,
    /// The deployment's settings, read once (`runtime::settings`).
    pub settings: Settings,
}

/// Reads a JSON body of at most `ctx.settings.max_body_bytes` bytes into `T`: 413 if larger, 400 if it is
/// not JSON, 422 naming the field if it does not fit `T`.
pub async fn read_json<T: DeserializeOwned>(req: &mut Request, ctx: &Ctx) -> ApiResult<T> {
    read_json_raw_within(req, ctx.settings.max_body_bytes).await
}

pub async fn read_value(req: &mut Request, ctx: &Ctx) -> ApiResult<serde_json::Value> {
    let bytes = read_bytes(req, ctx.settings.max_body_bytes).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson("a JSON body is required".into()));
    }
    // Read as text, like every other JSON the Worker reads: one reader (`StrRead`) compiled.
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::MalformedJson("the body is not UTF-8 text".into()))?;
    crate::core::json::from_str(text).map_err(|e| ApiError::MalformedJson(e.to_string()))
}

/// Like `read_json`, read straight from the bytes: fields typed `Box<RawValue>` keep the
/// text exactly as sent (the publish body's `data`).
pub async fn read_json_raw<T: DeserializeOwned>(req: &mut Request, ctx: &Ctx) -> ApiResult<T> {
    read_json_raw_within(req, ctx.settings.max_body_bytes).await
}

/// `read_json_raw` with a body limit of its own (a batch of events is larger than one).
pub async fn read_json_raw_within<T: DeserializeOwned>(
    req: &mut Request,
    max_body: usize,
) -> ApiResult<T> {
    let bytes = read_bytes(req, max_body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedJson("a JSON body is required".into()));
    }
    read_body(&bytes)
}

/// Like `read_json`, for bodies that may be left out: no body is `T::default()`.
pub async fn read_optional_json<T: DeserializeOwned + Default>(
    req: &mut Request,
    ctx: &Ctx,
) -> ApiResult<T> {
    let bytes = read_bytes(req, ctx.settings.max_body_bytes).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    read_body(&bytes)
}

fn read_body<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    from_slice(bytes, "").map_err(|e| match e {
        BodyError::Malformed(why) => ApiError::MalformedJson(why),
        BodyError::Field(f) => ApiError::Validation(vec![f]),
    })
}

/// The raw body, at most `max_body` bytes: 413 before reading when the declared length
/// is larger (a declared length within it is read at once), and 413 as soon as the stream passes it when no length is declared (chunked),
/// without reading (or holding) the rest.
async fn read_bytes(req: &mut Request, max_body: usize) -> ApiResult<Vec<u8>> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max_body) {
        return Err(ApiError::PayloadTooLarge(max_body));
    }
    if req.inner().body().is_none() {
        return Ok(vec![]);
    }
    if declared.is_some() {
        // The declared length frames the body (the runtime reads no more than it): one
        // `arrayBuffer()` instead of a reader and a call per chunk.
        return req
            .bytes()
            .await
            .map_err(|e| ApiError::MalformedJson(e.to_string()));
    }
    let stream = req
        .stream()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let body = read_capped(stream, max_body)
        .await
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if body.more {
        return Err(ApiError::PayloadTooLarge(max_body));
    }
    Ok(body.bytes)
}

/// `?limit=` (1 to 100, default 20) and `?cursor=`.
pub struct PageParams {
    pub limit: usize,
    pub cursor: Option<String>,
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.url()
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn page_params(req: &Request) -> ApiResult<PageParams> {
    let limit = match query_param(req, "limit") {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| ApiError::field("limit", format!("an integer from 1 to {MAX_PAGE}")))?,
    };
    let cursor = query_param(req, "cursor").filter(|c| !c.is_empty());
    if cursor.as_ref().is_some_and(|c| c.len() > 256) {
        return Err(ApiError::field("cursor", "not a cursor this API returned"));
    }
    Ok(PageParams { limit, cursor })
}

pub fn json<T: Serialize>(status: u16, body: &T) -> ApiResult<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(
        Response::ok(serde_json::to_string(body).map_err(|e| ApiError::Internal(e.to_string()))?)?
            .with_status(status)
            .with_headers(headers),
    )
}

pub fn no_content() -> ApiResult<Response> {
    Ok(Response::empty()?.with_status(204))
}

/// `{"data": [...], "next_cursor": ...}`.
pub fn list<T: Serialize>(data: Vec<T>, next_cursor: Option<String>) -> ApiResult<Response> {
    json(
        200,
        &serde_json::json!({ "data": data, "next_cursor": next_cursor }),
    )
}
