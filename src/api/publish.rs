//! `POST /v1/publish`: store the event and one delivery per matching destination in one D1
//! batch (`skipped` for a disabled one), hand each pending delivery to its destination's
//! scheduler, then answer 202. Idempotent on (tenant, event id).
//!
//! How the destinations are found and the event stored: `api::route`.

use super::error::{ApiError, ApiResult};
use super::filter_cache::passes_filter;
use super::http::{json, read_json_raw, Ctx};
use super::route::{route_and_store, Routing};
use crate::core::alerts::RESERVED_TOPIC_PREFIX;
use crate::core::engine::QueuedDelivery;
use crate::core::ids::{DeliveryId, EventId, TenantId};
use crate::core::time::Millis;
use crate::core::topics::{subscribed, validate_topic, TopicPattern};
use crate::core::validate::{check_metadata, FieldError};
use crate::runtime::random_bytes;
use crate::scheduler::client::{SchedulerClient, SchedulerError};
use crate::store::destinations::DestinationRow;
use crate::store::events::{self, EventRow, NewDelivery, RoutingGuard};
use futures::future::join_all;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use worker::{console_error, D1Database, Request, Response};

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
    Ctx::var(&ctx.env, "ALLOW_UNKNOWN_TOPICS").as_deref() == Some("true")
}

fn subscribers(candidates: &[DestinationRow], topic: &str) -> Vec<DestinationRow> {
    candidates
        .iter()
        .filter(|d| {
            let patterns: Vec<TopicPattern> = serde_json::from_str(&d.topics).unwrap_or_default();
            subscribed(&patterns, topic)
        })
        .cloned()
        .collect()
}

pub async fn publish(
    req: &mut Request,
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
) -> ApiResult<Response> {
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
    let any_topic = allow_unknown_topics(ctx);
    let event_id = body
        .id
        .unwrap_or_else(|| EventId::generate(ctx.now as u64, u128::from_le_bytes(random_bytes())));
    let event = EventRow {
        tenant_id: body.tenant_id,
        id: event_id,
        topic: body.topic,
        data: String::from(Box::<str>::from(body.data)),
        metadata: serde_json::to_string(&body.metadata).unwrap_or_else(|_| "{}".into()),
        created_at: ctx.now,
    };
    let published = route_and_store(
        &ctx.db,
        scheduler,
        event,
        &body.metadata,
        ctx.now,
        Routing {
            any_topic,
            select: &subscribers,
            keep_without_targets: true,
        },
    )
    .await?;
    match published {
        Some(p) => accepted(&p),
        None => Err(ApiError::Unavailable("the event was not stored".into())),
    }
}

fn accepted(p: &Published) -> ApiResult<Response> {
    json(
        202,
        &json!({ "id": p.event_id, "duplicate": p.duplicate, "deliveries": p.deliveries }),
    )
}

/// What `store_and_hand_off` did.
pub(super) enum Stored {
    Done(Published),
    /// The guard no longer held: nothing was written; the event comes back.
    Refused(EventRow),
}

/// What a publish did: the deliveries it created, or for a repeated id the first ones.
pub struct Published {
    pub event_id: EventId,
    pub duplicate: bool,
    /// `{id, destination_id, status}` each.
    pub deliveries: Vec<Value>,
}

/// Stores an event with one delivery per target (`pending`, `skipped` for a disabled one,
/// `filtered` when its filter says no) in one D1 batch and hands the pending ones to their
/// schedulers. A repeated id stores nothing and hands on what is still pending.
///
/// With a guard (targets from the routing cache), a refused insert may be a duplicate or a
/// stale cache; nothing is written and the caller reads the context again.
#[allow(clippy::too_many_arguments)]
pub(super) async fn store_and_hand_off(
    db: &D1Database,
    scheduler: &SchedulerClient<'_>,
    event: EventRow,
    metadata: &BTreeMap<String, String>,
    targets: Vec<DestinationRow>,
    now: Millis,
    guard: Option<&RoutingGuard>,
) -> ApiResult<Stored> {
    let ids: Vec<DeliveryId> = targets
        .iter()
        .map(|_| DeliveryId::generate(now as u64, u128::from_le_bytes(random_bytes())))
        .collect();
    // What each matching destination does with the event: queue it, or record why not.
    // The filters' view of the event, parsed from its text only when some destination has a
    // filter (the text itself is what is stored and sent).
    let subject = if targets.iter().any(|d| d.filter.is_some()) {
        Some(filter_subject(&event, metadata))
    } else {
        None
    };
    let passes = |d: &DestinationRow| subject.as_ref().is_none_or(|s| passes_filter(d, s));
    let status = |d: &DestinationRow| match (d.enabled, passes(d)) {
        (false, _) => "skipped",
        (true, false) => "filtered",
        (true, true) => "pending",
    };
    let statuses: Vec<&'static str> = targets.iter().map(status).collect();
    let new: Vec<NewDelivery> = targets
        .iter()
        .zip(&ids)
        .zip(&statuses)
        .map(|((d, id), status)| NewDelivery {
            id,
            destination_id: &d.id,
            status,
        })
        .collect();
    let publish_key = hex_key(random_bytes::<16>());
    let inserted = events::insert_with_deliveries(db, &event, &publish_key, &new, guard).await?;
    if !inserted && guard.is_some() {
        return Ok(Stored::Refused(event));
    }

    if inserted {
        // Only `pending` deliveries are queued; `skipped` and `filtered` are records.
        let handoffs: Vec<_> = targets
            .iter()
            .zip(&ids)
            .zip(&statuses)
            .filter(|(_, status)| **status == "pending")
            .map(|((d, id), _)| (d, id.clone()))
            .collect();
        hand_off(scheduler, &event, &handoffs, BTreeMap::new(), now).await?;
        let deliveries: Vec<Value> = new
            .iter()
            .map(|d| json!({ "id": d.id, "destination_id": d.destination_id, "status": d.status }))
            .collect();
        return Ok(Stored::Done(Published {
            event_id: event.id,
            duplicate: false,
            deliveries,
        }));
    }
    duplicate(db, now, scheduler, &event.tenant_id, &event.id, targets)
        .await
        .map(Stored::Done)
}

/// A repeated id: answer with what the first publish created, and hand any delivery that is
/// still pending to its scheduler again (a no-op there if it has it), in case the first
/// publish failed between D1 and the scheduler.
async fn duplicate(
    db: &D1Database,
    now: Millis,
    scheduler: &SchedulerClient<'_>,
    tenant: &TenantId,
    id: &EventId,
    destinations: Vec<DestinationRow>,
) -> ApiResult<Published> {
    let stored = events::get(db, tenant, id)
        .await?
        .ok_or_else(|| ApiError::Unavailable("event vanished".into()))?;
    let existing = events::deliveries(db, tenant, id).await?;
    let pending: Vec<_> = existing
        .iter()
        .filter(|d| d.status == "pending")
        .filter_map(|d| {
            destinations
                .iter()
                .find(|t| t.id == d.destination_id && t.enabled)
                .map(|t| (t, d.id.clone()))
        })
        .collect();
    let attempts = existing
        .iter()
        .map(|d| (d.id.clone(), d.attempts))
        .collect();
    hand_off(scheduler, &stored, &pending, attempts, now).await?;
    let deliveries: Vec<Value> = existing
        .iter()
        .map(|d| json!({ "id": d.id, "destination_id": d.destination_id, "status": d.status }))
        .collect();
    Ok(Published {
        event_id: stored.id,
        duplicate: true,
        deliveries,
    })
}

/// Enqueues each delivery with its destination's scheduler, all at once. If one cannot be
/// reached the publish answers 503: the event is stored, and publishing the same id again
/// completes the hand-off.
async fn hand_off(
    scheduler: &SchedulerClient<'_>,
    event: &EventRow,
    deliveries: &[(&DestinationRow, DeliveryId)],
    attempts: BTreeMap<DeliveryId, u32>,
    now: Millis,
) -> ApiResult<()> {
    let metadata: BTreeMap<String, String> =
        serde_json::from_str(&event.metadata).unwrap_or_default();
    let calls = deliveries.iter().map(|(destination, id)| {
        let queued = QueuedDelivery {
            delivery_id: id.clone(),
            tenant_id: event.tenant_id.clone(),
            event_id: event.id.clone(),
            topic: event.topic.clone(),
            payload: event.data.clone(),
            metadata: metadata.clone(),
            attempts: attempts.get(id).copied().unwrap_or(0),
            due_at: now,
            created_at: event.created_at,
            manual: None,
        };
        scheduler.enqueue(destination, vec![queued])
    });
    let mut failed = None;
    for (result, (destination, _)) in join_all(calls).await.into_iter().zip(deliveries) {
        match result {
            Ok(_) | Err(SchedulerError::Gone) => {}
            Err(SchedulerError::Unavailable(e) | SchedulerError::Full(e)) => {
                console_error!(
                    "{}",
                    json!({ "event": "enqueue_failed", "destination_id": destination.id, "event_id": event.id, "error": e })
                );
                failed = Some(e);
            }
        }
    }
    match failed {
        None => Ok(()),
        Some(e) => Err(ApiError::Unavailable(format!(
            "event stored, hand-off incomplete: {e}"
        ))),
    }
}

/// The document a destination's payload filter is evaluated against.
fn filter_subject(event: &EventRow, metadata: &BTreeMap<String, String>) -> Value {
    let data: Value = serde_json::from_str(&event.data).unwrap_or(Value::Null);
    json!({ "data": data, "metadata": metadata, "topic": event.topic })
}

fn hex_key(bytes: [u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
