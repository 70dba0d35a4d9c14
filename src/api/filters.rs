//! `POST /v1/filters/test`: evaluates a payload filter against a sample event, for the
//! dashboard's filter editor and for users' CI. The same validation as on a destination.

use super::error::{ApiError, ApiResult};
use super::http::{json, read_json, Ctx};
use crate::core::destination::filter_error;
use crate::core::filter::Filter;
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

/// The shape a filter sees at publish.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleEvent {
    #[serde(default)]
    data: Value,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    topic: String,
}

pub async fn test(req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
    let body: FilterTest = read_json(req, ctx).await?;
    let filter = Filter::parse(&body.filter)
        .map_err(|errors| ApiError::Validation(errors.into_iter().map(filter_error).collect()))?;
    let subject = json!({ "data": body.event.data, "metadata": body.event.metadata, "topic": body.event.topic });
    json(200, &json!({ "matches": filter.matches(&subject) }))
}
