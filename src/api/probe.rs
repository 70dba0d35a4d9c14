//! `POST …/destinations/{id}/test`: one test event sent at once, outside the queue, through
//! the destination's own provider, credentials and transport. It checks a target and its
//! credentials against the real service (a wrong key, a missing queue…) before events flow,
//! and is the dashboard's "test-send". Test sends are limited per destination
//! (`core::rate_limit::TEST_SENDS`), and an alert channel's test sends a fixed sample.

use super::destinations::load;
use super::error::{ApiError, ApiResult};
use super::http::{json, read_optional_json, Ctx};
use super::routes::Params;
use crate::core::alerts::{is_alert_channel, sample, AlertDestination};
use crate::core::engine::{QueuedDelivery, TestRequest, TEST_ALERT_TOPIC, TEST_TOPIC};
use crate::core::ids::{DeliveryId, EventId};
use crate::core::rate_limit::TEST_SENDS;
use crate::core::topics::validate_topic;
use crate::core::validate::{check_metadata, FieldError};
use crate::runtime::random_bytes;
use crate::scheduler::client::SchedulerClient;
use crate::store::rate_limits;
use serde_json::json as value;
use worker::{Request, Response};

pub async fn test(
    p: &Params,
    req: &mut Request,
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
) -> ApiResult<Response> {
    let body: TestRequest = read_optional_json(req, ctx).await?;
    let (tenant, row) = load(ctx, p).await?;
    // An alert channel gets a sample alert, which every channel type can format.
    let channel = is_alert_channel(
        crate::providers::alerts_only(row.kind.as_str()),
        &row.topics,
    );
    let topic = body.topic.unwrap_or_else(|| {
        if channel {
            TEST_ALERT_TOPIC.into()
        } else {
            TEST_TOPIC.into()
        }
    });
    let mut errors: Vec<FieldError> = check_metadata("metadata", &body.metadata);
    if let Err(e) = validate_topic(&topic) {
        errors.push(FieldError::new("topic", e));
    }
    // An alert channel may reach the operator's resources (the email binding) or a paging
    // service: its test sends a fixed sample, never text of the caller's choosing.
    if channel && body.data.is_some() {
        errors.push(FieldError::new(
            "data",
            "an alert channel's test sends a fixed sample alert; leave data out",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let window = TEST_SENDS.start(ctx.now);
    let sent = rate_limits::hit(&ctx.db, &tenant, &format!("test:{}", row.id), window).await?;
    if !TEST_SENDS.allows(sent) {
        return Err(ApiError::TooMany(format!(
            "at most {} test sends per destination every {} s; try again in {} s",
            TEST_SENDS.max,
            TEST_SENDS.window_ms / 1000,
            TEST_SENDS.seconds_left(ctx.now)
        )));
    }
    let data = match body.data {
        Some(data) => data,
        None if channel => {
            let destination = AlertDestination {
                id: row.id.to_string(),
                name: row.name.clone(),
                kind: row.kind.to_string(),
                target: row.kind.to_string(),
            };
            serde_json::to_value(sample(tenant.as_str(), destination, ctx.now))
                .map_err(|e| ApiError::Internal(format!("sample alert: {e}")))?
        }
        None => value!({ "message": "A test event from Sluice", "destination_id": row.id }),
    };
    let random = u128::from_le_bytes(random_bytes());
    let event_id = EventId::parse(&format!("test_{random:032x}"))
        .map_err(|e| ApiError::Internal(format!("test event id: {e:?}")))?;
    let delivery = QueuedDelivery {
        delivery_id: DeliveryId::generate(ctx.now as u64, random),
        tenant_id: tenant,
        event_id,
        topic,
        payload: data.to_string(),
        metadata: body.metadata,
        attempts: 0,
        due_at: ctx.now,
        created_at: ctx.now,
        manual: Some(ctx.principal.name().to_string()),
        shard: Default::default(),
    };
    let event_id = delivery.event_id.clone();
    let report = scheduler.test(&row, delivery).await?;
    let mut view = serde_json::to_value(&report)
        .map_err(|e| ApiError::Internal(format!("probe report: {e}")))?;
    view["event_id"] = value!(event_id);
    json(200, &view)
}
