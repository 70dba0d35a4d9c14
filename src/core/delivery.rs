//! The status of a delivery, as the log shard stores it and the API shows it; and the body of
//! a bulk retry, which picks failed deliveries by when they were created.

use crate::core::engine::AttemptOutcome;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a delivery stands. Two were never queued: `Skipped` (the destination was disabled
/// when the event came) and `Filtered` (its payload filter did not match).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Queued at the destination's scheduler, first attempt or retry still to come.
    Pending,
    Delivered,
    /// Failed for good: retries exhausted or a permanent error.
    Failed,
    Skipped,
    Filtered,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Skipped,
        DeliveryStatus::Filtered,
    ];

    /// The name stored in the shard's `deliveries.status` column and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Skipped => "skipped",
            DeliveryStatus::Filtered => "filtered",
        }
    }

    pub fn parse(name: &str) -> Option<DeliveryStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Every status, for an error message: "pending, delivered, …".
    pub fn names() -> String {
        Self::ALL.map(DeliveryStatus::as_str).join(", ")
    }

    /// The status a delivery has after an attempt ended with `outcome`.
    pub fn after(outcome: AttemptOutcome) -> DeliveryStatus {
        match outcome {
            AttemptOutcome::Delivered => DeliveryStatus::Delivered,
            AttemptOutcome::Retry => DeliveryStatus::Pending,
            AttemptOutcome::Failed => DeliveryStatus::Failed,
        }
    }

    /// Never attempted, so counted for `/metrics` where it is decided.
    pub fn never_attempted(self) -> bool {
        matches!(self, DeliveryStatus::Skipped | DeliveryStatus::Filtered)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_to_the_stored_names() {
        for s in DeliveryStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::from_value::<DeliveryStatus>(s.as_str().into()).unwrap(),
                s
            );
        }
        assert_eq!(
            DeliveryStatus::names(),
            "pending, delivered, failed, skipped, filtered"
        );
        assert_eq!(DeliveryStatus::parse("success"), None);
    }

    #[test]
    fn an_attempt_outcome_sets_the_status() {
        assert_eq!(
            DeliveryStatus::after(AttemptOutcome::Retry),
            DeliveryStatus::Pending
        );
        assert_eq!(
            DeliveryStatus::after(AttemptOutcome::Delivered),
            DeliveryStatus::Delivered
        );
        assert_eq!(
            DeliveryStatus::after(AttemptOutcome::Failed),
            DeliveryStatus::Failed
        );
        assert!(DeliveryStatus::Skipped.never_attempted());
        assert!(!DeliveryStatus::Pending.never_attempted());
    }
}

/// Which failed deliveries to retry: those created in `[since, until)`. Both bounds are
/// optional; `until` must be after `since`.
// The body of `POST …/destinations/{destination_id}/retry`; `api::retries` parses the times.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(
    not(target_arch = "wasm32"),
    schemars(rename = "DestinationRetryRequest")
)]
pub struct BulkRetry {
    /// Deliveries created at or after this time; default: the beginning.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("format" = "date-time")))]
    pub since: Option<String>,
    /// Deliveries created before this time; default: now.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("format" = "date-time")))]
    pub until: Option<String>,
}
