//! Alerting: when a destination's failures deserve a person's attention, and what the alert
//! says. Pure decisions over a destination's attempts; the DeliveryScheduler keeps the
//! `AlertState` in its storage and turns each `AlertAction` into an alert event, published on
//! a reserved topic (`sluice.alert.triggered` / `sluice.alert.resolved`) to the destination's
//! tenant and to the operator, and delivered like any event.
//!
//! One incident at a time per destination: the first trigger opens it and raises one alert;
//! later failures only count; the first delivered attempt resolves it. Auto-disable is the one
//! escalation: it raises a second alert in the same incident (same PagerDuty dedup key), once.
//! Apart from incidents, a delivery that failed for good raises its own alert naming the event
//! (capped per destination, see `failed`): one dropped event in five is still told.

use crate::core::time::Millis;
use serde::{Deserialize, Serialize};

pub const TOPIC_TRIGGERED: &str = "sluice.alert.triggered";
pub const TOPIC_RESOLVED: &str = "sluice.alert.resolved";
/// Topics under this prefix are Sluice's own: producers may not publish to them.
pub const RESERVED_TOPIC_PREFIX: &str = "sluice.";
/// The tenant whose destinations receive every tenant's alerts (created by migration 0006,
/// never deletable). Its id has the characters of a tenant id, so the API routes to it.
pub const OPERATOR_TENANT: &str = "sluice-operator";

/// The rate window is kept as this many buckets (bounded storage, whatever the volume).
const WINDOW_BUCKETS: i64 = 20;
const MAX_ERROR_CHARS: usize = 500;

/// What raised an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    ConsecutiveFailures,
    FailureRate,
    CircuitOpened,
    AutoDisabled,
    PermanentFailure,
    DeliveryFailed,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::ConsecutiveFailures => "consecutive_failures",
            Trigger::FailureRate => "failure_rate",
            Trigger::CircuitOpened => "circuit_opened",
            Trigger::AutoDisabled => "auto_disabled",
            Trigger::PermanentFailure => "permanent_failure",
            Trigger::DeliveryFailed => "delivery_failed",
        }
    }
}

/// One attempt as alerting sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptSeen {
    pub at: Millis,
    pub delivered: bool,
    /// Failed at once with a permanent verdict.
    pub permanent: bool,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// The delivery failed for good with this attempt (its last one, or a permanent verdict).
    pub failed_for_good: Option<FailedDelivery>,
}

/// What one scheduler run showed (a lane's run travels to lane 0, which keeps the state).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSeen {
    pub attempts: Vec<AttemptSeen>,
    /// The circuit opened (from closed) in this run.
    pub circuit_opened: bool,
    /// The destination was disabled automatically in this run.
    pub auto_disabled: bool,
    pub now: Millis,
}

/// The open incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub trigger: Trigger,
    pub opened_at: Millis,
    /// The auto-disable escalation was raised.
    #[serde(default)]
    pub escalated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Bucket {
    start: Millis,
    attempts: u32,
    failed: u32,
}

/// What alerting remembers between runs (in the scheduler's storage).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertState {
    /// Failed attempts in a row, and when the first of them was.
    pub streak: u32,
    pub first_failure_at: Option<Millis>,
    /// Failed attempts since `first_failure_at` (not reset by the rate window).
    pub failures: u32,
    pub last_error: Option<String>,
    pub last_status_code: Option<u16>,
    #[serde(default)]
    window: Vec<Bucket>,
    pub incident: Option<Incident>,
    /// The cap's window of the delivery-failed trigger (independent of incidents).
    #[serde(default)]
    failed: FailedWindow,
}

/// The numbers an alert shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    pub consecutive_failures: u32,
    pub failures: u32,
    pub window_attempts: u32,
    pub window_failures: u32,
    pub window_ms: u64,
}

/// A state of the incident at the moment of an action.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub incident: Incident,
    pub trigger: Trigger,
    pub at: Millis,
    pub counts: Counts,
    pub first_failure_at: Option<Millis>,
    pub error: Option<String>,
    pub last_status_code: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlertAction {
    Raise(Snapshot),
    Resolve(Snapshot),
    /// A delivery failed for good, or the summary of a window's failures past the cap. The
    /// snapshot's incident is the cap's window; nothing resolves it.
    DeliveryFailed(Snapshot, Box<FailedNotice>),
}

impl AlertState {
    fn bucket_width(settings: &AlertSettings) -> i64 {
        (settings.failure_rate.window_ms as i64 / WINDOW_BUCKETS).max(1)
    }

    fn prune(&mut self, settings: &AlertSettings, now: Millis) {
        let width = Self::bucket_width(settings);
        let horizon = now - settings.failure_rate.window_ms as i64;
        self.window.retain(|b| b.start + width > horizon);
    }

    fn count(&mut self, settings: &AlertSettings, at: Millis, failed: bool) {
        let width = Self::bucket_width(settings);
        let start = at - at.rem_euclid(width);
        match self.window.iter_mut().find(|b| b.start == start) {
            Some(b) => {
                b.attempts += 1;
                b.failed += failed as u32;
            }
            None => self.window.push(Bucket {
                start,
                attempts: 1,
                failed: failed as u32,
            }),
        }
        self.prune(settings, at);
    }

    fn window_totals(&self) -> (u32, u32) {
        self.window
            .iter()
            .fold((0, 0), |(a, f), b| (a + b.attempts, f + b.failed))
    }

    fn snapshot(
        &self,
        incident: Incident,
        trigger: Trigger,
        at: Millis,
        s: &AlertSettings,
    ) -> Snapshot {
        let (window_attempts, window_failures) = self.window_totals();
        Snapshot {
            incident,
            trigger,
            at,
            counts: Counts {
                consecutive_failures: self.streak,
                failures: self.failures,
                window_attempts,
                window_failures,
                window_ms: s.failure_rate.window_ms,
            },
            first_failure_at: self.first_failure_at,
            error: self.last_error.clone(),
            last_status_code: self.last_status_code,
        }
    }

    /// Opens an incident for `trigger` unless one is open (then nothing: one alert per incident).
    fn open(
        &mut self,
        trigger: Trigger,
        at: Millis,
        s: &AlertSettings,
        new_id: &mut dyn FnMut() -> String,
        out: &mut Vec<AlertAction>,
    ) {
        if self.incident.is_some() {
            return;
        }
        let incident = Incident {
            id: new_id(),
            trigger,
            opened_at: at,
            escalated: trigger == Trigger::AutoDisabled,
        };
        self.incident = Some(incident.clone());
        out.push(AlertAction::Raise(self.snapshot(incident, trigger, at, s)));
    }

    fn tell_failed(&self, notice: FailedNotice, at: Millis, s: &AlertSettings) -> AlertAction {
        let window = Incident {
            id: notice.window_id.clone(),
            trigger: Trigger::DeliveryFailed,
            opened_at: notice.window_start,
            escalated: false,
        };
        let snapshot = self.snapshot(window, Trigger::DeliveryFailed, at, s);
        AlertAction::DeliveryFailed(snapshot, Box::new(notice))
    }
}

/// Updates the state with one run's attempts and circuit/disable events, and says which
/// alerts to raise or resolve. `new_id` names a new incident.
pub fn observe(
    state: &mut AlertState,
    settings: &AlertSettings,
    run: &RunSeen,
    new_id: &mut dyn FnMut() -> String,
) -> Vec<AlertAction> {
    let mut out = vec![];
    let failed_on = settings.enabled && settings.delivery_failed.max_alerts > 0;
    for a in &run.attempts {
        if a.delivered {
            if let Some(incident) = state.incident.take() {
                let trigger = incident.trigger;
                out.push(AlertAction::Resolve(
                    state.snapshot(incident, trigger, a.at, settings),
                ));
                // A fresh start: the failures of the resolved incident must not re-trigger it.
                state.window.clear();
            }
            state.count(settings, a.at, false);
            state.streak = 0;
            state.failures = 0;
            state.first_failure_at = None;
            continue;
        }
        state.count(settings, a.at, true);
        state.streak += 1;
        state.failures += 1;
        state.first_failure_at.get_or_insert(a.at);
        state.last_error = a.error.as_deref().map(|e| cut(e, MAX_ERROR_CHARS));
        state.last_status_code = a.status_code;
        if !settings.enabled {
            continue;
        }
        if let Some(failed) = a.failed_for_good.as_ref().filter(|_| failed_on) {
            let mut told = vec![];
            let failed = FailedDelivery {
                error: failed.error.as_deref().map(|e| cut(e, MAX_ERROR_CHARS)),
                ..failed.clone()
            };
            state
                .failed
                .failed(&settings.delivery_failed, failed, new_id, &mut told);
            for notice in told {
                out.push(state.tell_failed(notice, a.at, settings));
            }
        }
        if a.permanent && settings.permanent_failure {
            state.open(Trigger::PermanentFailure, a.at, settings, new_id, &mut out);
        }
        let n = settings.consecutive_failures;
        if n > 0 && state.streak >= n {
            state.open(
                Trigger::ConsecutiveFailures,
                a.at,
                settings,
                new_id,
                &mut out,
            );
        }
        let rate = &settings.failure_rate;
        let (attempts, failed) = state.window_totals();
        if rate.percent > 0
            && attempts >= rate.min_attempts
            && failed as u64 * 100 >= rate.percent as u64 * attempts as u64
        {
            state.open(Trigger::FailureRate, a.at, settings, new_id, &mut out);
        }
    }
    state.prune(settings, run.now);
    // A window that is over tells its summary now (or, turned off, is dropped).
    let summary = state
        .failed
        .close_if_over(&settings.delivery_failed, run.now);
    if let Some(notice) = summary.filter(|_| failed_on) {
        out.push(state.tell_failed(notice, run.now, settings));
    }
    if settings.enabled && run.circuit_opened && settings.circuit_opened {
        state.open(Trigger::CircuitOpened, run.now, settings, new_id, &mut out);
    }
    if settings.enabled && run.auto_disabled && settings.auto_disabled {
        match state.incident.clone() {
            Some(mut incident) if !incident.escalated => {
                // The one escalation: the destination stopped. Same incident, same dedup key.
                incident.escalated = true;
                state.incident = Some(incident.clone());
                out.push(AlertAction::Raise(state.snapshot(
                    incident,
                    Trigger::AutoDisabled,
                    run.now,
                    settings,
                )));
            }
            Some(_) => {}
            None => state.open(Trigger::AutoDisabled, run.now, settings, new_id, &mut out),
        }
    }
    out
}

fn cut(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

mod settings;
pub use settings::{check_settings, AlertSettings, FailureRate};
use settings::{MAX_WINDOW_MS, MIN_WINDOW_MS};

mod failed;
use failed::FailedWindow;

mod recipients;
pub use failed::{DeliveryFailedCap, FailedDelivery, FailedNotice, Suppressed};
pub use recipients::*;

mod content;
pub use content::{
    content, event_id, sample, target_label, topic, AlertContent, AlertDestination, AlertLinks,
};

#[cfg(test)]
pub(crate) mod tests;
