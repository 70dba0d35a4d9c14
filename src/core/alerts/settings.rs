//! A destination's `alerts` settings: which triggers raise an alert and their thresholds,
//! with their defaults and checks (fields named `alerts.…`).

use super::failed::{check_cap, DeliveryFailedCap};
use crate::core::validate::FieldError;
use serde::{Deserialize, Serialize};

/// When this destination's failures raise an alert (an event on `sluice.alert.triggered`, then
/// `sluice.alert.resolved` at the first delivered attempt) to its tenant's and the operator's
/// alert channels. One alert per incident: once an incident is open, further failures only
/// count (auto-disable escalates it once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct AlertSettings {
    /// `false` turns every trigger off.
    pub enabled: bool,
    /// Raise after this many failed attempts in a row; 0 never.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(max = MAX_CONSECUTIVE_FAILURES)))]
    pub consecutive_failures: u32,
    pub failure_rate: FailureRate,
    /// Raise when the circuit breaker opens.
    pub circuit_opened: bool,
    /// Raise when the destination is disabled automatically (`disable_after_failures`).
    pub auto_disabled: bool,
    /// Raise when a delivery fails at once with a permanent verdict (bad credentials, a missing
    /// queue/topic/bucket, a 4xx).
    pub permanent_failure: bool,
    pub delivery_failed: DeliveryFailedCap,
}

/// Raise when at least `percent` % of the attempts in the last `window_ms` failed, once
/// `min_attempts` were made in it. `percent` 0 never.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "AlertFailureRate"))]
pub struct FailureRate {
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(max = 100)))]
    pub percent: u32,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = MIN_WINDOW_MS, max = MAX_WINDOW_MS)))]
    pub window_ms: u64,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 1, max = MAX_MIN_ATTEMPTS)))]
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

/// Higher thresholds would never be reached before auto-disable's own limit (10000).
const MAX_CONSECUTIVE_FAILURES: u32 = 10_000;
/// Most attempts a failure-rate window may wait for before it judges.
const MAX_MIN_ATTEMPTS: u32 = 1_000_000;
pub(super) const MIN_WINDOW_MS: u64 = 1_000;
pub(super) const MAX_WINDOW_MS: u64 = 7 * 86_400_000;

/// Every problem, fields named `alerts.…`.
pub fn check_settings(s: &AlertSettings) -> Vec<FieldError> {
    let mut errors = vec![];
    if s.consecutive_failures > MAX_CONSECUTIVE_FAILURES {
        errors.push(FieldError::new(
            "alerts.consecutive_failures",
            format!("between 0 (never) and {MAX_CONSECUTIVE_FAILURES}"),
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
    if !(1..=MAX_MIN_ATTEMPTS).contains(&r.min_attempts) {
        errors.push(FieldError::new(
            "alerts.failure_rate.min_attempts",
            format!("between 1 and {MAX_MIN_ATTEMPTS}"),
        ));
    }
    errors.extend(check_cap(&s.delivery_failed));
    errors
}
