//! What an alert says: the `data` of an alert event, built from an `AlertAction` and the
//! failing destination, which every channel formats (see `providers::alert_channels`).

use super::{AlertAction, Counts, Trigger, TOPIC_RESOLVED, TOPIC_TRIGGERED};
use crate::core::time::{to_rfc3339, Millis};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The failing destination, as an alert names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertDestination {
    pub id: String,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    /// Where it sends, without credentials (see `target_label`).
    pub target: String,
}

/// Where the API shows more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertLinks {
    pub destination: String,
    pub status: String,
    pub failed_deliveries: String,
}

/// The `data` of an alert event: what every channel formats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertContent {
    /// `triggered` or `resolved`.
    pub status: String,
    pub incident_id: String,
    pub trigger: Trigger,
    pub summary: String,
    /// `critical` when the destination was disabled, else `error`; `info` when resolved.
    pub severity: String,
    pub tenant_id: String,
    pub destination: AlertDestination,
    pub error: Option<String>,
    pub last_status_code: Option<u16>,
    pub counts: Counts,
    pub first_failure_at: Option<String>,
    pub at: String,
    pub links: AlertLinks,
}

impl AlertContent {
    pub fn resolved(&self) -> bool {
        self.status == "resolved"
    }
}

/// A made-up alert about the channel itself, for a test send (`POST …/test`): every channel
/// type formats it like a real one, marked as a test in its summary.
pub fn sample(tenant: &str, destination: AlertDestination, at: Millis) -> AlertContent {
    let base = format!("/v1/tenants/{tenant}/destinations/{}", destination.id);
    AlertContent {
        status: "triggered".into(),
        incident_id: "inc_test".into(),
        trigger: Trigger::ConsecutiveFailures,
        summary: format!(
            "Test alert from Sluice: {} receives alerts",
            destination.name.as_deref().unwrap_or(&destination.id)
        ),
        severity: "info".into(),
        tenant_id: tenant.into(),
        error: None,
        last_status_code: None,
        counts: Counts {
            consecutive_failures: 0,
            failures: 0,
            window_attempts: 0,
            window_failures: 0,
            window_ms: 0,
        },
        first_failure_at: None,
        at: to_rfc3339(at),
        links: AlertLinks {
            status: format!("{base}/status"),
            failed_deliveries: format!("{base}/deliveries?status=failed"),
            destination: base,
        },
        destination,
    }
}

/// The alert for an action on a destination.
pub fn content(action: &AlertAction, tenant: &str, destination: AlertDestination) -> AlertContent {
    let (snap, resolved) = match action {
        AlertAction::Raise(s) => (s, false),
        AlertAction::Resolve(s) => (s, true),
    };
    let label = match &destination.name {
        Some(n) => format!("'{n}' ({}, {})", destination.kind, destination.id),
        None => format!("{} ({})", destination.kind, destination.id),
    };
    let c = &snap.counts;
    let what = match snap.trigger {
        Trigger::ConsecutiveFailures => {
            format!("{} consecutive failed attempts", c.consecutive_failures)
        }
        Trigger::FailureRate => format!(
            "{} of {} attempts failed in the last {} s",
            c.window_failures,
            c.window_attempts,
            c.window_ms / 1000
        ),
        Trigger::CircuitOpened => "circuit breaker opened".to_string(),
        Trigger::AutoDisabled => format!(
            "disabled automatically after {} consecutive failed attempts",
            c.consecutive_failures
        ),
        Trigger::PermanentFailure => "a delivery failed permanently".to_string(),
    };
    let summary = if resolved {
        format!("Resolved: destination {label} of tenant {tenant} delivers again")
    } else {
        format!("Destination {label} of tenant {tenant}: {what}")
    };
    let severity = match (resolved, snap.trigger) {
        (true, _) => "info",
        (false, Trigger::AutoDisabled) => "critical",
        _ => "error",
    };
    let base = format!("/v1/tenants/{tenant}/destinations/{}", destination.id);
    AlertContent {
        status: if resolved { "resolved" } else { "triggered" }.into(),
        incident_id: snap.incident.id.clone(),
        trigger: snap.trigger,
        summary,
        severity: severity.into(),
        tenant_id: tenant.into(),
        error: snap.error.clone(),
        last_status_code: snap.last_status_code,
        counts: snap.counts.clone(),
        first_failure_at: snap.first_failure_at.map(to_rfc3339),
        at: to_rfc3339(snap.at),
        links: AlertLinks {
            status: format!("{base}/status"),
            failed_deliveries: format!("{base}/deliveries?status=failed"),
            destination: base,
        },
        destination,
    }
}

/// The alert event's id: one per incident and step, so a repeated publish (the outbox flushed
/// again after a lost answer) is a duplicate, not a second alert.
pub fn event_id(action: &AlertAction) -> String {
    match action {
        AlertAction::Raise(s) => format!("alert-{}-{}", s.incident.id, s.trigger.as_str()),
        AlertAction::Resolve(s) => format!("alert-{}-resolved", s.incident.id),
    }
}

pub fn topic(action: &AlertAction) -> &'static str {
    match action {
        AlertAction::Raise(_) => TOPIC_TRIGGERED,
        AlertAction::Resolve(_) => TOPIC_RESOLVED,
    }
}

/// Where a destination sends, from its masked config, without anything secret: URLs lose
/// their query (and, for chat webhooks whose path is the credential, their path).
pub fn target_label(kind: &str, config: &Value) -> String {
    let s = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or("");
    let origin_path = |raw: &str, keep_path: bool| match url::Url::parse(raw) {
        Ok(u) => {
            let origin = u.origin().ascii_serialization();
            if keep_path {
                format!("{origin}{}", u.path())
            } else {
                origin
            }
        }
        Err(_) => String::new(),
    };
    match kind {
        "webhook" => origin_path(s("url"), true),
        "slack" => "Slack incoming webhook".into(),
        "discord" => "Discord webhook".into(),
        "pagerduty" => {
            let e = s("endpoint");
            format!(
                "PagerDuty Events API v2 ({})",
                if e.is_empty() {
                    "https://events.pagerduty.com".into()
                } else {
                    origin_path(e, false)
                }
            )
        }
        "aws_sqs" => origin_path(s("queue_url"), true),
        "aws_eventbridge" => format!("event bus {} ({})", s("event_bus_name"), s("region")),
        "aws_s3" => format!("s3://{} ({})", s("bucket"), s("region")),
        "gcp_pubsub" => format!("Pub/Sub topic {}", s("topic")),
        "kafka" => format!("{} topic {}", origin_path(s("endpoint"), true), s("topic")),
        "rabbitmq" => format!(
            "{} exchange '{}'",
            origin_path(s("endpoint"), true),
            s("exchange")
        ),
        other => other.to_string(),
    }
}
