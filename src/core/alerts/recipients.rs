//! Who receives a destination's alerts: the destination's tenant when it subscribes to the
//! reserved alert topics, and the operator; and which topic patterns count as alert
//! subscriptions.

use super::*;
use crate::core::topics::TopicPattern;

/// Who hears about a destination's alerts. Alert channels never alert themselves: a
/// destination that receives alerts reports its own failures to the operator only, and the
/// operator's destinations to nobody (their alerts are log lines), so no failure can loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipients {
    pub tenant: bool,
    pub operator: bool,
}

pub fn recipients(tenant: &str, topics: &[TopicPattern]) -> Recipients {
    if tenant == OPERATOR_TENANT {
        return Recipients {
            tenant: false,
            operator: false,
        };
    }
    let alert_channel =
        receives_alerts(topics, TOPIC_TRIGGERED) || receives_alerts(topics, TOPIC_RESOLVED);
    Recipients {
        tenant: !alert_channel,
        operator: true,
    }
}

/// Whether a destination subscribes to an alert topic by name: `*` does not count (alerts are
/// opted into), `sluice.alert.*` and the exact topics do.
pub fn receives_alerts(topics: &[TopicPattern], topic: &str) -> bool {
    topics
        .iter()
        .any(|p| !matches!(p, TopicPattern::All) && p.matches(topic))
}

/// Whether a destination is an alert channel: its type formats alerts only (Slack, Discord,
/// PagerDuty, email), or it subscribes to an alert topic by name, so that real alerts reach
/// it (`receives_alerts`). The one answer for routing, for validation and for the test-send,
/// which gives an alert channel a sample alert instead of a plain test event.
pub fn is_alert_channel(alerts_only: bool, topics: &[TopicPattern]) -> bool {
    alerts_only
        || receives_alerts(topics, TOPIC_TRIGGERED)
        || receives_alerts(topics, TOPIC_RESOLVED)
}

/// Whether a pattern only ever matches alert topics (what alert-only types may subscribe to).
pub fn is_alert_pattern(p: &TopicPattern) -> bool {
    match p {
        TopicPattern::All => false,
        TopicPattern::Exact(t) => t == TOPIC_TRIGGERED || t == TOPIC_RESOLVED,
        TopicPattern::Prefix(p) => p == "sluice.alert",
    }
}
