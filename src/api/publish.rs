//! `POST /v1/publish`: validate, then hand the event to `intake`, which stores it with one
//! delivery per matching destination (`skipped` for a disabled one, `filtered` when its
//! filter says no) in its log shard; the shard hands the pending ones to their schedulers.
//! 202 once that is durable. Idempotent on (tenant, event id).

use super::error::{ApiError, ApiResult};
use super::http::{json, read_json_raw, Ctx};
use crate::core::alerts::RESERVED_TOPIC_PREFIX;
use crate::core::ids::{EventId, TenantId};
use crate::core::topics::{subscribed, validate_topic};
use crate::core::validate::{check_metadata, FieldError};
use crate::intake::{self, IntakeError, Publication, Routing};
use crate::runtime::random_bytes;
use crate::store::destinations::DestinationRow;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use worker::{Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    tenant_id: TenantId,
    topic: String,
    /// Kept as the publisher's JSON text: it reaches every destination byte for byte.
    data: Box<RawValue>,
    id: Option<EventId>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// Deployments may accept topics outside the catalogue (`ALLOW_UNKNOWN_TOPICS = "true"`).
fn allow_unknown_topics(ctx: &Ctx) -> bool {
    ctx.settings.allow_unknown_topics
}

fn subscribers(candidates: &[DestinationRow], topic: &str) -> Vec<DestinationRow> {
    candidates
        .iter()
        .filter(|d| subscribed(&d.topics, topic))
        .cloned()
        .collect()
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        match e {
            IntakeError::TenantNotFound => ApiError::NotFound("tenant".into()),
            IntakeError::UnknownTopic(topic) => ApiError::field(
                "topic",
                format!("'{topic}' is not in the topic catalogue; create it with POST /v1/topics"),
            ),
            IntakeError::Unavailable(why) => ApiError::Unavailable(why),
        }
    }
}

pub async fn publish(req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
    let body: PublishRequest = read_json_raw(req, ctx).await?;
    let mut errors = check_metadata("metadata", &body.metadata);
    if let Err(e) = validate_topic(&body.topic) {
        errors.push(FieldError::new("topic", e));
    } else if body.topic.starts_with(RESERVED_TOPIC_PREFIX) {
        errors.push(FieldError::new(
            "topic",
            format!("topics under '{RESERVED_TOPIC_PREFIX}' are Sluice's own (alerts)"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let id = body
        .id
        .unwrap_or_else(|| EventId::generate(ctx.now as u64, u128::from_le_bytes(random_bytes())));
    let publication = Publication {
        tenant_id: body.tenant_id,
        id,
        topic: body.topic,
        data: String::from(Box::<str>::from(body.data)),
        metadata: body.metadata,
        at: ctx.now,
    };
    let routing = Routing {
        any_topic: allow_unknown_topics(ctx),
        select: &subscribers,
        keep_without_targets: true,
    };
    let published = intake::publish(&ctx.env, &ctx.db, publication, routing)
        .await?
        .ok_or_else(|| ApiError::Unavailable("the event was not stored".into()))?;
    json(
        202,
        &json!({ "id": published.event_id, "duplicate": published.duplicate, "deliveries": published.deliveries }),
    )
}
