//! `POST /v1/transforms/test`: renders a payload transform against a sample event, for the
//! dashboard's transform editor and for users' CI. The same validation as on a destination,
//! and the same rendering as at delivery.

use super::error::{ApiError, ApiResult};
use super::http::{json, read_json, Ctx};
use crate::core::destination::transform_error;
use crate::core::time::to_rfc3339;
use crate::core::transform::{Subject, Transform};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformTest {
    transform: Value,
    event: SampleEvent,
}

/// What a transform sees at delivery; the ids default to placeholders of their shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleEvent {
    #[serde(default)]
    data: Value,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
}

pub async fn test(req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
    let body: TransformTest = read_json(req, ctx).await?;
    let transform = Transform::compile(&body.transform).map_err(|errors| {
        ApiError::Validation(errors.into_iter().map(transform_error).collect())
    })?;
    let e = body.event;
    let timestamp = to_rfc3339(ctx.now);
    let output = transform
        .apply(&Subject {
            data: &e.data,
            metadata: &e.metadata,
            topic: &e.topic,
            event_id: e.id.as_deref().unwrap_or("evt_example"),
            tenant_id: e.tenant_id.as_deref().unwrap_or("tenant_example"),
            delivery_id: "dlv_example",
            attempt: 1,
            timestamp: &timestamp,
        })
        .map_err(|e| ApiError::field("transform", e))?;
    let output: Value =
        crate::core::json::from_str(&output).map_err(|e| ApiError::Internal(e.to_string()))?;
    json(200, &json!({ "output": output }))
}
