//! `POST /v1/publish` (one event) and `POST /v1/publish/batch` (up to 100): validate, then
//! hand the events to `intake`, which stores each with one delivery per matching destination
//! (`skipped` for a disabled one, `filtered` when its filter says no) in its log shard; the
//! shard hands the pending ones to their schedulers. 202 once that is durable. Idempotent on
//! (tenant, event id).

use super::error::{ApiError, ApiResult};
use super::http::{json, read_json_raw, read_json_raw_within, Ctx};
use crate::core::alerts::RESERVED_TOPIC_PREFIX;
use crate::core::ids::EventId;
use crate::core::publish::{PublishBatchRequest, PublishRequest, MAX_BATCH_EVENTS};
use crate::core::topics::{subscribed, validate_topic};
use crate::core::validate::{check_metadata, from_slice, BodyError, FieldError};
use crate::intake::{self, IntakeError, Outcome, Publication, Routing};
use crate::runtime::random_bytes;
use crate::store::destinations::DestinationRow;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use worker::{Request, Response};

/// Largest batch body, in bytes (each event's `data` stays within `MAX_BODY_BYTES`).
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

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

/// A valid request as a publication (its id made now when the publisher gave none).
fn publication(body: PublishRequest, ctx: &Ctx) -> ApiResult<Publication> {
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
    let generated_id = body.id.is_none();
    let id = body
        .id
        .unwrap_or_else(|| EventId::generate(ctx.now as u64, u128::from_le_bytes(random_bytes())));
    Ok(Publication {
        tenant_id: body.tenant_id,
        id,
        topic: body.topic,
        data: String::from(Box::<str>::from(body.data)),
        metadata: body.metadata,
        at: ctx.now,
        generated_id,
    })
}

fn routing(ctx: &Ctx) -> Routing<'static> {
    Routing {
        any_topic: allow_unknown_topics(ctx),
        select: &subscribers,
        keep_without_targets: true,
    }
}

/// What an accepted publish answers.
fn accepted(outcome: Outcome) -> ApiResult<Value> {
    let published =
        outcome?.ok_or_else(|| ApiError::Unavailable("the event was not stored".into()))?;
    Ok(json!({
        "id": published.event_id,
        "duplicate": published.duplicate,
        "deliveries": published.deliveries,
    }))
}

pub async fn publish(req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
    let body: PublishRequest = read_json_raw(req, ctx).await?;
    let p = publication(body, ctx)?;
    let outcome = intake::publish(&ctx.env, &ctx.db, p, routing(ctx)).await;
    json(202, &accepted(outcome)?)
}

/// One event of a batch, read from its own text: refused alone when it is not valid.
fn batch_item(raw: &RawValue, ctx: &Ctx) -> ApiResult<Publication> {
    let body: PublishRequest = from_slice(raw.get().as_bytes(), "").map_err(|e| match e {
        BodyError::Malformed(why) => ApiError::MalformedJson(why),
        BodyError::Field(f) => ApiError::Validation(vec![f]),
    })?;
    if body.data.get().len() > ctx.settings.max_body_bytes {
        return Err(ApiError::PayloadTooLarge(ctx.settings.max_body_bytes));
    }
    publication(body, ctx)
}

/// `POST /v1/publish/batch`: up to `MAX_BATCH_EVENTS` events, each accepted or refused on its
/// own. 200 with one result per event, in order: `status` 202 with what a single publish
/// answers, or the problem's status with the problem as `error`.
pub async fn publish_batch(req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
    let body: PublishBatchRequest = read_json_raw_within(req, MAX_BATCH_BYTES).await?;
    if body.events.is_empty() || body.events.len() > MAX_BATCH_EVENTS {
        return Err(ApiError::field(
            "events",
            format!("from 1 to {MAX_BATCH_EVENTS} events per request"),
        ));
    }
    let mut results: Vec<Option<Value>> = vec![None; body.events.len()];
    let mut valid = Vec::with_capacity(body.events.len());
    let mut positions = Vec::with_capacity(body.events.len());
    for (i, raw) in body.events.iter().enumerate() {
        match batch_item(raw, ctx) {
            Ok(p) => {
                positions.push(i);
                valid.push(p);
            }
            Err(e) => results[i] = Some(refused(&e)),
        }
    }
    let outcomes = intake::publish_all(&ctx.env, &ctx.db, valid, &routing(ctx)).await;
    for (i, outcome) in positions.into_iter().zip(outcomes) {
        results[i] = Some(match accepted(outcome) {
            Ok(mut answer) => {
                answer["status"] = json!(202);
                answer
            }
            Err(e) => refused(&e),
        });
    }
    let results: Vec<Value> = results.into_iter().flatten().collect();
    let accepted = results.iter().filter(|r| r["status"] == 202).count();
    json(
        200,
        &json!({ "accepted": accepted, "refused": results.len() - accepted, "results": results }),
    )
}

fn refused(e: &ApiError) -> Value {
    let (status, problem) = e.problem();
    json!({ "status": status, "error": problem })
}
