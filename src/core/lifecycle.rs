//! Destination lifecycle events: a destination was disabled automatically, re-enabled or
//! deleted. Published like alerts, on reserved `sluice.destination.*` topics, to the tenant's
//! destinations that subscribe to them by name and to the operator. Pure: topic, event id and
//! payload.

use crate::core::alerts::AlertDestination;
use crate::core::time::{to_rfc3339, Millis};
use serde::{Deserialize, Serialize};

const TOPIC_AUTO_DISABLED: &str = "sluice.destination.auto_disabled";
const TOPIC_ENABLED: &str = "sluice.destination.enabled";
const TOPIC_DELETED: &str = "sluice.destination.deleted";

/// What happened to the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// It reached `disable_after_failures` and stopped.
    AutoDisabled,
    /// It was disabled and is enabled again (by `POST …/enable` or a PATCH).
    Enabled,
    Deleted,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::AutoDisabled => "auto_disabled",
            Change::Enabled => "enabled",
            Change::Deleted => "deleted",
        }
    }

    pub fn topic(self) -> &'static str {
        match self {
            Change::AutoDisabled => TOPIC_AUTO_DISABLED,
            Change::Enabled => TOPIC_ENABLED,
            Change::Deleted => TOPIC_DELETED,
        }
    }
}

/// The `data` of a lifecycle event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    pub change: Change,
    pub tenant_id: String,
    pub destination: AlertDestination,
    /// Why: the auto-disable's reason, or the reason a re-enabled destination had been
    /// disabled for.
    pub reason: Option<String>,
    pub at: String,
    /// The destination in the API (gone once deleted).
    pub link: String,
}

/// The event for `change` of `destination` at `at`.
pub fn event(
    change: Change,
    tenant: &str,
    destination: AlertDestination,
    reason: Option<String>,
    at: Millis,
) -> LifecycleEvent {
    LifecycleEvent {
        change,
        tenant_id: tenant.into(),
        link: format!("/v1/tenants/{tenant}/destinations/{}", destination.id),
        destination,
        reason,
        at: to_rfc3339(at),
    }
}

/// Why a destination was disabled automatically, as its row, its lifecycle event and its
/// alert say it.
pub fn auto_disabled_reason(consecutive_failures: u32) -> String {
    format!("disabled automatically after {consecutive_failures} consecutive failed attempts")
}

/// The event's id: fixed when the change happens, so a repeated publish (an outbox flushed
/// again) is a duplicate.
pub fn event_id(change: Change, destination_id: &str, at: Millis) -> String {
    format!("lifecycle-{destination_id}-{}-{at}", change.as_str())
}

/// Whether the tenant's destinations and the operator hear of a change: the operator tenant's
/// own destinations tell nobody (as with alerts, nothing can loop).
pub fn audiences(tenant: &str) -> (bool, bool) {
    let own = tenant != crate::core::alerts::OPERATOR_TENANT;
    (own, own)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::EventId;
    use crate::core::topics::validate_topic;
    use serde_json::json;

    #[test]
    fn payload_topic_and_id() {
        let destination = AlertDestination {
            id: "des_01".into(),
            name: Some("Orders".into()),
            kind: "webhook".into(),
            target: "https://example.com/hooks".into(),
        };
        let reason = "disabled automatically after 50 consecutive failed attempts";
        let e = event(
            Change::AutoDisabled,
            "acme",
            destination,
            Some(reason.into()),
            1_614_265_330_123,
        );
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({
                "change": "auto_disabled",
                "tenant_id": "acme",
                "destination": {"id": "des_01", "name": "Orders", "type": "webhook", "target": "https://example.com/hooks"},
                "reason": reason,
                "at": "2021-02-25T15:02:10.123Z",
                "link": "/v1/tenants/acme/destinations/des_01"
            })
        );
        for change in [Change::AutoDisabled, Change::Enabled, Change::Deleted] {
            assert!(validate_topic(change.topic()).is_ok());
            assert!(change
                .topic()
                .starts_with(crate::core::alerts::RESERVED_TOPIC_PREFIX));
            let id = event_id(change, "des_01jc0000000000000000000000", 1_614_265_330_123);
            assert!(EventId::parse(&id).is_ok(), "{id}");
        }
        assert_eq!(
            event_id(Change::Deleted, "des_01", 5),
            "lifecycle-des_01-deleted-5"
        );
        assert_eq!(audiences("acme"), (true, true));
        assert_eq!(audiences("sluice-operator"), (false, false));
    }
}
