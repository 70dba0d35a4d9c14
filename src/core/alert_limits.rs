//! What keeps tenants' alerts from flooding the operator. Every tenant's
//! alerts also reach the operator's channels, and a tenant chooses its own thresholds for any
//! number of destinations: so a portal user's thresholds have a floor the operator sets, and
//! each tenant raises at most `ALERTS_PER_TENANT` alerts an hour, whatever its thresholds.

use super::alerts::AlertSettings;
use super::rate_limit::Window;
use super::validate::FieldError;

/// The default floor under a portal user's thresholds (`ALERT_MIN_CONSECUTIVE_FAILURES`):
/// fewer failures than this in a row is a blip, not something for a person.
pub const DEFAULT_TENANT_ALERT_FLOOR: u32 = 5;

/// Alerts raised per tenant and hour at most (resolves always pass: each closes a raise that
/// got through, and dropping one would leave an incident open). Past it, raises are dropped
/// and logged: the failures themselves stay visible in the API and the metrics.
pub const ALERTS_PER_TENANT: Window = Window {
    max: 20,
    window_ms: 3_600_000,
};

/// The thresholds under `floor` (0, "never", is always allowed), fields named `alerts.…`.
pub fn check_floor(s: &AlertSettings, floor: u32) -> Vec<FieldError> {
    let mut errors = vec![];
    let message = format!("0 (never) or at least {floor} (ALERT_MIN_CONSECUTIVE_FAILURES)");
    if !s.enabled {
        return errors;
    }
    if (1..floor).contains(&s.consecutive_failures) {
        errors.push(FieldError::new("alerts.consecutive_failures", &message));
    }
    if s.failure_rate.percent > 0 && s.failure_rate.min_attempts < floor {
        errors.push(FieldError::new(
            "alerts.failure_rate.min_attempts",
            format!("at least {floor} (ALERT_MIN_CONSECUTIVE_FAILURES)"),
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_under_the_floor_are_refused() {
        let fields = |s: &AlertSettings| {
            check_floor(s, 5)
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        assert!(fields(&AlertSettings::default()).is_empty());
        let mut s = AlertSettings {
            consecutive_failures: 1,
            ..AlertSettings::default()
        };
        s.failure_rate.min_attempts = 1;
        assert_eq!(
            fields(&s),
            [
                "alerts.consecutive_failures",
                "alerts.failure_rate.min_attempts"
            ]
        );
        // "Never" and a rate trigger turned off are not thresholds.
        s.consecutive_failures = 0;
        s.failure_rate.percent = 0;
        assert!(fields(&s).is_empty());
        s.consecutive_failures = 1;
        s.enabled = false;
        assert!(fields(&s).is_empty());
        assert!(check_floor(&AlertSettings::default(), 1).is_empty());
    }

    #[test]
    fn a_tenant_raises_a_bounded_number_of_alerts_an_hour() {
        let w = ALERTS_PER_TENANT;
        assert!(w.allows(w.max) && !w.allows(w.max + 1));
        assert_eq!(w.start(3_600_000 * 5 + 17), 3_600_000 * 5);
    }
}
