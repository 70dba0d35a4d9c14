//! How stored rows look in API responses: RFC 3339 times, parsed JSON columns, no secrets
//! (destination configs are stored masked, and a templated destination's URL shows no path;
//! sealed credentials are never read here).

use super::error::ApiError;
use crate::core::json;
use crate::core::redact::shown_config;
use crate::core::time::to_rfc3339;
use crate::log::rows::{AttemptRow, DeliveryRow, EventRow};
use crate::scheduler::protocol::SchedulerStatus;
use crate::store::destinations::DestinationRow;
use crate::store::tenants::TenantRow;
use serde_json::{json, Value};

fn parse(column: &str, raw: &str) -> Result<Value, ApiError> {
    json::from_str(raw).map_err(|e| ApiError::Internal(format!("stored {column} is not JSON: {e}")))
}

fn time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |t| Value::String(to_rfc3339(t)))
}

pub fn tenant(t: &TenantRow) -> Result<Value, ApiError> {
    Ok(json!({
        "id": t.id,
        "name": t.name,
        "metadata": parse("metadata", &t.metadata)?,
        "log_shards": t.log_shards,
        "created_at": to_rfc3339(t.created_at),
        "updated_at": to_rfc3339(t.updated_at),
    }))
}

pub fn destination(d: &DestinationRow) -> Result<Value, ApiError> {
    let settings = &d.settings;
    Ok(json!({
        "id": d.id,
        "tenant_id": d.tenant_id,
        "type": d.kind,
        "name": d.name,
        "topics": d.topics,
        "enabled": d.enabled,
        "disabled_reason": d.disabled_reason,
        "config": shown_config(d.template.as_deref(), &d.config),
        "timeout_ms": settings.timeout_ms,
        "retry": settings.retry,
        "circuit_breaker": settings.circuit_breaker,
        "disable_after_failures": settings.disable_after_failures,
        "rate_limit": settings.rate_limit,
        "max_in_flight": settings.max_in_flight,
        "lanes": settings.lanes,
        "alerts": settings.alerts,
        "filter": d.filter,
        "template": d.template,
        "transform": d.transform,
        "created_at": to_rfc3339(d.created_at),
        "updated_at": to_rfc3339(d.updated_at),
    }))
}

/// The scheduler's live state with the destination's limits.
pub fn status(s: &SchedulerStatus, d: &DestinationRow) -> Value {
    let settings = &d.settings;
    let mut view = json!({
        "enabled": d.enabled,
        "circuit": {
            "state": s.circuit.state,
            "consecutive_failures": s.circuit.consecutive_failures,
            "opened_at": time(s.circuit.opened_at),
            "retry_at": time(s.circuit.retry_at),
        },
        "queue_depth": s.queue_depth,
        "next_attempt_at": time(s.next_attempt_at),
        "rate_limit": s.rate_limit,
        "max_in_flight": settings.max_in_flight,
        "lanes": settings.lanes,
    });
    if let Some(n) = s.websocket_clients {
        view["websocket_clients"] = json!(n);
    }
    view
}

pub fn delivery(d: &DeliveryRow) -> Value {
    json!({
        "id": d.id,
        "event_id": d.event_id,
        "destination_id": d.destination_id,
        "topic": d.topic,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": time(d.next_attempt_at),
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "manual_retries": d.manual_retries,
        "created_at": to_rfc3339(d.created_at),
        "updated_at": to_rfc3339(d.updated_at),
    })
}

pub fn attempt(a: &AttemptRow) -> Value {
    json!({
        "id": a.id,
        "delivery_id": a.delivery_id,
        "attempt": a.attempt,
        "trigger": a.trigger,
        "started_at": to_rfc3339(a.started_at),
        "duration_ms": a.duration_ms,
        "status_code": a.status_code,
        "outcome": a.outcome,
        "error": a.error,
        "response_body": a.response_body,
        "requested_by": a.requested_by,
        "request_headers": request_headers(a.request_headers.as_deref()),
    })
}

/// Stored `[[name, value], …]` as an object (names are unique in what Sluice sends); null
/// when no request was sent or the attempt predates header recording.
fn request_headers(raw: Option<&str>) -> Value {
    let Some(pairs) = raw.and_then(|r| json::from_str::<Vec<(String, String)>>(r).ok()) else {
        return Value::Null;
    };
    json::object_of_strings(pairs)
}

/// An event without its payload (lists stay small); the detail adds `data`.
pub fn event(e: &EventRow) -> Result<Value, ApiError> {
    Ok(json!({
        "id": e.id,
        "topic": e.topic,
        "metadata": parse("metadata", &e.metadata)?,
        "created_at": to_rfc3339(e.created_at),
    }))
}
