//! What an alert says: the `data` of an alert event, built from an `AlertAction` and the
//! failing destination, which every channel formats (see `providers::alert_channels`).

use super::{AlertAction, Counts, FailedNotice, Trigger, TOPIC_RESOLVED, TOPIC_TRIGGERED};
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

/// The delivery a `delivery_failed` alert is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedDeliveryView {
    pub event_id: String,
    pub delivery_id: String,
    /// Attempts made, the last included.
    pub attempts: u32,
    pub error: Option<String>,
    pub status_code: Option<u16>,
    pub failed_at: String,
    /// Its attempts in the API.
    pub attempts_link: String,
}

/// The failures a `delivery_failed` summary counts (past the destination's cap).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuppressedView {
    pub count: u32,
    pub since: String,
    pub until: String,
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
    /// Trigger `delivery_failed`: the delivery (for a summary, the last one counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<FailedDeliveryView>,
    /// Trigger `delivery_failed`, a summary: how many failed past the cap, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<SuppressedView>,
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
        delivery: None,
        suppressed: None,
    }
}

/// The alert for an action on a destination.
pub fn content(action: &AlertAction, tenant: &str, destination: AlertDestination) -> AlertContent {
    let (snap, resolved, failed) = match action {
        AlertAction::Raise(s) => (s, false, None),
        AlertAction::Resolve(s) => (s, true, None),
        AlertAction::DeliveryFailed(s, notice) => (s, false, Some(notice.as_ref())),
    };
    let trigger = match failed {
        Some(_) => Trigger::DeliveryFailed,
        None => snap.trigger,
    };
    let label = match &destination.name {
        Some(n) => format!("'{n}' ({}, {})", destination.kind, destination.id),
        None => format!("{} ({})", destination.kind, destination.id),
    };
    let c = &snap.counts;
    let what = match trigger {
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
        Trigger::AutoDisabled => {
            crate::core::lifecycle::auto_disabled_reason(c.consecutive_failures)
        }
        Trigger::PermanentFailure => "a delivery failed permanently".to_string(),
        Trigger::DeliveryFailed => match failed {
            Some(FailedNotice {
                delivery: d,
                suppressed: Some(more),
                ..
            }) => format!(
                "{} more deliveries failed for good since {} (the last: event {} after {} attempts)",
                more.count,
                to_rfc3339(more.first_at),
                d.event_id,
                d.attempts
            ),
            Some(n) => format!(
                "event {} failed for good after {} attempts",
                n.delivery.event_id, n.delivery.attempts
            ),
            None => "a delivery failed for good".to_string(),
        },
    };
    let summary = if resolved {
        format!("Resolved: destination {label} of tenant {tenant} delivers again")
    } else {
        format!("Destination {label} of tenant {tenant}: {what}")
    };
    let severity = match (resolved, trigger) {
        (true, _) => "info",
        (false, Trigger::AutoDisabled) => "critical",
        _ => "error",
    };
    let base = format!("/v1/tenants/{tenant}/destinations/{}", destination.id);
    let delivery = failed.map(|n| FailedDeliveryView {
        event_id: n.delivery.event_id.clone(),
        delivery_id: n.delivery.delivery_id.clone(),
        attempts: n.delivery.attempts,
        error: n.delivery.error.clone(),
        status_code: n.delivery.status_code,
        failed_at: to_rfc3339(n.delivery.at),
        attempts_link: format!("{base}/deliveries/{}/attempts", n.delivery.delivery_id),
    });
    let suppressed = failed
        .and_then(|n| n.suppressed.as_ref())
        .map(|s| SuppressedView {
            count: s.count,
            since: to_rfc3339(s.first_at),
            until: to_rfc3339(s.last.at),
        });
    AlertContent {
        status: if resolved { "resolved" } else { "triggered" }.into(),
        // A delivery_failed alert's incident is the cap's window (one PagerDuty incident each).
        incident_id: failed.map_or_else(|| snap.incident.id.clone(), |n| n.window_id.clone()),
        trigger,
        summary,
        severity: severity.into(),
        tenant_id: tenant.into(),
        // A delivery_failed alert tells that delivery's error, not the destination's latest.
        error: delivery
            .as_ref()
            .map_or(snap.error.clone(), |d| d.error.clone()),
        last_status_code: delivery
            .as_ref()
            .map_or(snap.last_status_code, |d| d.status_code),
        counts: snap.counts.clone(),
        first_failure_at: snap.first_failure_at.map(to_rfc3339),
        at: to_rfc3339(snap.at),
        links: AlertLinks {
            status: format!("{base}/status"),
            failed_deliveries: format!("{base}/deliveries?status=failed"),
            destination: base,
        },
        destination,
        delivery,
        suppressed,
    }
}

/// The alert event's id: one per incident and step, so a repeated publish (the outbox flushed
/// again after a lost answer) is a duplicate, not a second alert.
pub fn event_id(action: &AlertAction) -> String {
    match action {
        AlertAction::Raise(s) => format!("alert-{}-{}", s.incident.id, s.trigger.as_str()),
        AlertAction::Resolve(s) => format!("alert-{}-resolved", s.incident.id),
        // Per delivery and attempt: a manual retry that fails again is told again.
        AlertAction::DeliveryFailed(_, n) if n.suppressed.is_none() => format!(
            "alert-{}-failed-{}",
            n.delivery.delivery_id, n.delivery.attempts
        ),
        AlertAction::DeliveryFailed(_, n) => format!("alert-{}-failed-summary", n.window_id),
    }
}

pub fn topic(action: &AlertAction) -> &'static str {
    match action {
        AlertAction::Raise(_) | AlertAction::DeliveryFailed(..) => TOPIC_TRIGGERED,
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
