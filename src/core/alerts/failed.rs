//! The "a delivery failed for good" trigger (Svix's `message.attempt.exhausted`): one alert
//! per delivery that used its last attempt, naming the event, up to a per-destination cap per
//! window; past the cap the failures are only counted, and one summary tells them when the
//! window is over. Pure; the state lives in `AlertState`.

use super::{MAX_WINDOW_MS, MIN_WINDOW_MS};
use crate::core::time::Millis;
use crate::core::validate::FieldError;
use serde::{Deserialize, Serialize};

/// Most alerts a destination may raise one by one in a window.
const MAX_ALERTS_LIMIT: u32 = 1_000;

/// Raise one alert per delivery that failed for good (its last attempt failed, or its verdict
/// was final), naming the event id, attempts and last error (`trigger: delivery_failed`), apart
/// from incidents. At most `max_alerts` per `window_ms`; the failures past that are counted and
/// told in one summary (`suppressed`) once the window is over. `max_alerts` 0 never.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(
    not(target_arch = "wasm32"),
    schemars(rename = "AlertDeliveryFailedCap")
)]
pub struct DeliveryFailedCap {
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(max = MAX_ALERTS_LIMIT)))]
    pub max_alerts: u32,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = MIN_WINDOW_MS, max = MAX_WINDOW_MS)))]
    pub window_ms: u64,
}

impl Default for DeliveryFailedCap {
    fn default() -> Self {
        DeliveryFailedCap {
            max_alerts: 3,
            window_ms: 600_000,
        }
    }
}

pub(super) fn check_cap(c: &DeliveryFailedCap) -> Vec<FieldError> {
    let mut errors = vec![];
    if c.max_alerts > MAX_ALERTS_LIMIT {
        errors.push(FieldError::new(
            "alerts.delivery_failed.max_alerts",
            format!("between 0 (never) and {MAX_ALERTS_LIMIT}"),
        ));
    }
    if !(MIN_WINDOW_MS..=MAX_WINDOW_MS).contains(&c.window_ms) {
        errors.push(FieldError::new(
            "alerts.delivery_failed.window_ms",
            format!("between {MIN_WINDOW_MS} and {MAX_WINDOW_MS}"),
        ));
    }
    errors
}

/// A delivery that failed for good, as its alert tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedDelivery {
    pub event_id: String,
    pub delivery_id: String,
    /// Attempts made, the last included.
    pub attempts: u32,
    pub error: Option<String>,
    pub status_code: Option<u16>,
    pub at: Millis,
}

/// The failures of a window that were counted past the cap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppressed {
    pub count: u32,
    pub first_at: Millis,
    /// The most recent of them (the summary names it).
    pub last: FailedDelivery,
}

/// What one alert of this trigger is about: one delivery, or the summary of a window's
/// failures past the cap (then `delivery` is the last of them).
#[derive(Debug, Clone, PartialEq)]
pub struct FailedNotice {
    /// Names the window: every alert of one window shares it (one PagerDuty incident).
    pub window_id: String,
    pub window_start: Millis,
    pub delivery: FailedDelivery,
    pub suppressed: Option<Suppressed>,
}

/// The current window of the cap (in `AlertState`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FailedWindow {
    id: Option<String>,
    start: Millis,
    alerted: u32,
    suppressed: Option<Suppressed>,
}

impl FailedWindow {
    /// One delivery failed for good: its own alert while the window has room, else counted.
    /// A window that is over first hands in its summary.
    pub fn failed(
        &mut self,
        cap: &DeliveryFailedCap,
        delivery: FailedDelivery,
        new_id: &mut dyn FnMut() -> String,
        out: &mut Vec<FailedNotice>,
    ) {
        out.extend(self.close_if_over(cap, delivery.at));
        let id = self
            .id
            .get_or_insert_with(|| {
                self.start = delivery.at;
                self.alerted = 0;
                new_id()
            })
            .clone();
        if self.alerted < cap.max_alerts {
            self.alerted += 1;
            out.push(FailedNotice {
                window_id: id,
                window_start: self.start,
                delivery,
                suppressed: None,
            });
            return;
        }
        match &mut self.suppressed {
            Some(s) => {
                s.count += 1;
                s.last = delivery;
            }
            None => {
                self.suppressed = Some(Suppressed {
                    count: 1,
                    first_at: delivery.at,
                    last: delivery,
                })
            }
        }
    }

    /// Ends the window once `window_ms` passed since its first failure; its summary, when
    /// failures were counted past the cap. Also called at the end of every run, so that a
    /// storm that stopped is told at the destination's next run.
    pub fn close_if_over(&mut self, cap: &DeliveryFailedCap, now: Millis) -> Option<FailedNotice> {
        let id = self.id.as_ref()?;
        if now < self.start.saturating_add(cap.window_ms as i64) {
            return None;
        }
        let notice = self.suppressed.take().map(|s| FailedNotice {
            window_id: id.clone(),
            window_start: self.start,
            delivery: s.last.clone(),
            suppressed: Some(s),
        });
        *self = FailedWindow::default();
        notice
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(n: u32, at: Millis) -> FailedDelivery {
        FailedDelivery {
            event_id: format!("evt_{n}"),
            delivery_id: format!("dlv_{n}"),
            attempts: 4,
            error: Some("HTTP 500".into()),
            status_code: Some(500),
            at,
        }
    }

    /// Writes each notice as `<window>:<event>` or `<window>:+<count>..<last event>`.
    fn run(cap: &DeliveryFailedCap, steps: &[(u32, Millis)], end: Millis) -> Vec<String> {
        let mut w = FailedWindow::default();
        let mut n = 0;
        let mut new_id = move || {
            n += 1;
            format!("w{n}")
        };
        let mut out = vec![];
        for (event, at) in steps {
            w.failed(cap, failed(*event, *at), &mut new_id, &mut out);
        }
        out.extend(w.close_if_over(cap, end));
        out.iter()
            .map(|x| match &x.suppressed {
                None => format!("{}:{}", x.window_id, x.delivery.event_id),
                Some(s) => format!("{}:+{}..{}", x.window_id, s.count, s.last.event_id),
            })
            .collect()
    }

    const CAP: DeliveryFailedCap = DeliveryFailedCap {
        max_alerts: 2,
        window_ms: 1_000,
    };

    #[test]
    fn one_alert_per_delivery_up_to_the_cap() {
        assert_eq!(run(&CAP, &[(1, 0), (2, 10)], 20), ["w1:evt_1", "w1:evt_2"]);
        // A window ends 1 s after its first failure; the next failure opens another.
        assert_eq!(
            run(&CAP, &[(1, 0), (2, 10), (3, 1_000)], 1_010),
            ["w1:evt_1", "w1:evt_2", "w2:evt_3"]
        );
    }

    /// A storm: two alerts, then one summary of the rest when the window is over, told by
    /// the next failure or by the end of a later run.
    #[test]
    fn a_storm_becomes_one_summary() {
        let storm: Vec<(u32, Millis)> = (1..=50).map(|i| (i, i as Millis * 10)).collect();
        assert_eq!(run(&CAP, &storm, 600), ["w1:evt_1", "w1:evt_2"]);
        assert_eq!(
            run(&CAP, &storm, 1_010),
            ["w1:evt_1", "w1:evt_2", "w1:+48..evt_50"]
        );
        let mut later = storm.clone();
        later.push((51, 5_000));
        assert_eq!(
            run(&CAP, &later, 5_000),
            ["w1:evt_1", "w1:evt_2", "w1:+48..evt_50", "w2:evt_51"]
        );
    }

    #[test]
    fn settings_are_checked() {
        assert!(check_cap(&DeliveryFailedCap::default()).is_empty());
        let fields: Vec<_> = check_cap(&DeliveryFailedCap {
            max_alerts: 1_001,
            window_ms: 10,
        })
        .into_iter()
        .map(|e| e.field)
        .collect();
        assert_eq!(
            fields,
            [
                "alerts.delivery_failed.max_alerts",
                "alerts.delivery_failed.window_ms"
            ]
        );
    }
}
