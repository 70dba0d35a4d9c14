//! A destination's `alerts` settings: which triggers raise an alert and their thresholds,
//! with their defaults and checks (fields named `alerts.…`).

use super::failed::{check_cap, DeliveryFailedCap};
use crate::core::validate::FieldError;
use serde::{Deserialize, Serialize};

/// A destination's `alerts` settings: which triggers raise an alert, and their thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// `false` turns every trigger off.
    pub enabled: bool,
    /// Raise after this many failed attempts in a row; 0 never.
    pub consecutive_failures: u32,
    pub failure_rate: FailureRate,
    pub circuit_opened: bool,
    pub auto_disabled: bool,
    /// A delivery that failed at once with a permanent verdict (bad credentials, a missing
    /// queue, topic or bucket, a 4xx).
    pub permanent_failure: bool,
    /// A delivery failed for good (its last attempt failed): one alert per delivery, capped.
    pub delivery_failed: DeliveryFailedCap,
}

/// Failure rate ≥ `percent` % over the last `window_ms`, once at least `min_attempts` were made
/// in it. `percent` 0 turns it off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailureRate {
    pub percent: u32,
    pub window_ms: u64,
    pub min_attempts: u32,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            enabled: true,
            consecutive_failures: 10,
            failure_rate: FailureRate::default(),
            circuit_opened: true,
            auto_disabled: true,
            permanent_failure: true,
            delivery_failed: DeliveryFailedCap::default(),
        }
    }
}

impl Default for FailureRate {
    fn default() -> Self {
        FailureRate {
            percent: 50,
            window_ms: 600_000,
            min_attempts: 20,
        }
    }
}

pub(super) const MIN_WINDOW_MS: u64 = 1_000;
pub(super) const MAX_WINDOW_MS: u64 = 7 * 86_400_000;

/// Every problem, fields named `alerts.…`.
pub fn check_settings(s: &AlertSettings) -> Vec<FieldError> {
    let mut errors = vec![];
    if s.consecutive_failures > 10_000 {
        errors.push(FieldError::new(
            "alerts.consecutive_failures",
            "between 0 (never) and 10000",
        ));
    }
    let r = &s.failure_rate;
    if r.percent > 100 {
        errors.push(FieldError::new(
            "alerts.failure_rate.percent",
            "between 0 (never) and 100",
        ));
    }
    if !(MIN_WINDOW_MS..=MAX_WINDOW_MS).contains(&r.window_ms) {
        errors.push(FieldError::new(
            "alerts.failure_rate.window_ms",
            format!("between {MIN_WINDOW_MS} and {MAX_WINDOW_MS}"),
        ));
    }
    if !(1..=1_000_000).contains(&r.min_attempts) {
        errors.push(FieldError::new(
            "alerts.failure_rate.min_attempts",
            "between 1 and 1000000",
        ));
    }
    errors.extend(check_cap(&s.delivery_failed));
    errors
}
