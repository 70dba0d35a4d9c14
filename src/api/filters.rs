//! `POST /v1/filters/test`: evaluates a payload filter against a sample event, for the
//! dashboard's filter editor and for users' CI. The same validation (and regex budget) as on
//! a destination, and the same document as at publish (`core::filter::document`).

use super::error::{ApiError, ApiResult};
use super::http::{json, read_json, Ctx};
use crate::core::destination::filter_error;
use crate::core::filter::{self, Filter};
use crate::core::time::to_rfc3339;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterTest {
    filter: Value,
    event: SampleEvent,
}

/// The event a filter sees at publish; `time` defaults to now, as if published now.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleEvent {
    #[serde(default)]
    id: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    data: Value,
}

pub async fn test(req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
    let body: FilterTest = read_json(req, ctx).await?;
    let filter = Filter::parse(&body.filter)
        .map_err(|errors| ApiError::Validation(errors.into_iter().map(filter_error).collect()))?;
    let event = body.event;
    let time = event.time.unwrap_or_else(|| to_rfc3339(ctx.now));
    let document = filter::document(&event.id, &event.topic, &time, &event.metadata, event.data);
    json(200, &json!({ "matches": filter.matches(&document) }))
}
