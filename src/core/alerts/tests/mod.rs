//! Alerting: incidents raised, escalated and resolved over a destination's attempts, the
//! settings and their checks; the fixtures the alert channels' tests share.

mod content;
mod recipients;

use super::*;
use serde_json::json;

fn fail(at: Millis) -> AttemptSeen {
    AttemptSeen {
        at,
        delivered: false,
        permanent: false,
        status_code: Some(500),
        error: Some("HTTP 500".into()),
        failed_for_good: None,
    }
}

fn perm(at: Millis) -> AttemptSeen {
    AttemptSeen {
        permanent: true,
        status_code: Some(403),
        error: Some("HTTP 403".into()),
        ..fail(at)
    }
}

fn ok(at: Millis) -> AttemptSeen {
    AttemptSeen {
        at,
        delivered: true,
        permanent: false,
        status_code: Some(200),
        error: None,
        failed_for_good: None,
    }
}

/// Attempt `attempts` of delivery `n` failed, and it was the last.
fn exhausted(n: u32, at: Millis, attempts: u32) -> AttemptSeen {
    AttemptSeen {
        failed_for_good: Some(FailedDelivery {
            event_id: format!("evt_{n}"),
            delivery_id: format!("dlv_{n}"),
            attempts,
            error: Some("HTTP 500".into()),
            status_code: Some(500),
            at,
        }),
        ..fail(at)
    }
}

/// Only the trigger under test is on.
fn only(trigger: Trigger) -> AlertSettings {
    AlertSettings {
        enabled: true,
        consecutive_failures: if trigger == Trigger::ConsecutiveFailures {
            3
        } else {
            0
        },
        failure_rate: FailureRate {
            percent: if trigger == Trigger::FailureRate {
                50
            } else {
                0
            },
            window_ms: 10_000,
            min_attempts: 4,
        },
        circuit_opened: trigger == Trigger::CircuitOpened,
        auto_disabled: trigger == Trigger::AutoDisabled,
        permanent_failure: trigger == Trigger::PermanentFailure,
        delivery_failed: DeliveryFailedCap {
            max_alerts: if trigger == Trigger::DeliveryFailed {
                2
            } else {
                0
            },
            window_ms: 10_000,
        },
    }
}

/// Runs each step (a run's attempts, circuit opened, auto-disabled) and writes what each run
/// produced as `R:<trigger>` / `S:<trigger>` (raise / resolve), `-` for nothing.
fn script(settings: &AlertSettings, runs: Vec<Run>) -> Vec<String> {
    let mut state = AlertState::default();
    let mut n = 0;
    let mut new_id = move || {
        n += 1;
        format!("inc{n}")
    };
    runs.into_iter()
        .map(|(attempts, circuit_opened, auto_disabled)| {
            let now = attempts.last().map_or(0, |a| a.at);
            let run = RunSeen {
                attempts,
                circuit_opened,
                auto_disabled,
                now,
            };
            let actions = observe(&mut state, settings, &run, &mut new_id);
            if actions.is_empty() {
                return "-".to_string();
            }
            actions
                .iter()
                .map(|a| match a {
                    AlertAction::Raise(s) => format!("R:{}:{}", s.trigger.as_str(), s.incident.id),
                    AlertAction::Resolve(s) => {
                        format!("S:{}:{}", s.trigger.as_str(), s.incident.id)
                    }
                    AlertAction::DeliveryFailed(s, n) => match &n.suppressed {
                        None => format!("F:{}:{}", n.delivery.event_id, s.incident.id),
                        Some(x) => format!("F:+{}:{}", x.count, s.incident.id),
                    },
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// One run: its attempts, whether the circuit opened, whether the destination was disabled.
type Run = (Vec<AttemptSeen>, bool, bool);

fn r(attempts: Vec<AttemptSeen>) -> Run {
    (attempts, false, false)
}

#[test]
fn triggers_fire_once_per_incident_and_resolve_on_the_first_delivery() {
    use Trigger::*;
    let cases: Vec<(&str, AlertSettings, Vec<Run>, Vec<&str>)> = vec![
        (
            "streak of 3: the third failure raises, later ones do not",
            only(ConsecutiveFailures),
            vec![
                r(vec![fail(1), fail(2)]),
                r(vec![fail(3)]),
                r(vec![fail(4), fail(5)]),
                r(vec![ok(6)]),
            ],
            vec![
                "-",
                "R:consecutive_failures:inc1",
                "-",
                "S:consecutive_failures:inc1",
            ],
        ),
        (
            "a delivery in between resets the streak",
            only(ConsecutiveFailures),
            vec![
                r(vec![fail(1), fail(2), ok(3), fail(4), fail(5)]),
                r(vec![fail(6)]),
            ],
            vec!["-", "R:consecutive_failures:inc1"],
        ),
        (
            "a delivery without an incident resolves nothing",
            only(ConsecutiveFailures),
            vec![r(vec![ok(1)]), r(vec![fail(2), ok(3)])],
            vec!["-", "-"],
        ),
        (
            "rate: 50 % but under the minimum volume is quiet, at the minimum it raises",
            only(FailureRate),
            vec![
                r(vec![fail(1), ok(2), fail(3)]),
                r(vec![ok(4)]),
                r(vec![fail(5)]),
            ],
            // 2/3 (under 4 attempts); 2/4 = 50 % but the 4th attempt is a success; 3/5 raises.
            vec!["-", "-", "R:failure_rate:inc1"],
        ),
        (
            "rate: failures older than the window no longer count",
            only(FailureRate),
            vec![
                r(vec![fail(1), fail(2), fail(3)]),
                r(vec![ok(20_000), ok(20_001), ok(20_002), fail(20_003)]),
            ],
            vec!["-", "-"],
        ),
        (
            "rate: below the percentage is quiet",
            only(FailureRate),
            vec![r(vec![ok(1), ok(2), fail(3), ok(4), ok(5), fail(6)])],
            vec!["-"],
        ),
        (
            "rate: after the resolve the old failures do not re-trigger",
            only(FailureRate),
            vec![
                r(vec![fail(1), fail(2), fail(3), fail(4)]),
                r(vec![ok(5)]),
                r(vec![fail(6)]),
            ],
            vec!["R:failure_rate:inc1", "S:failure_rate:inc1", "-"],
        ),
        (
            "circuit opened raises; opening again in the same incident does not",
            only(CircuitOpened),
            vec![
                (vec![fail(1)], true, false),
                (vec![fail(2)], true, false),
                r(vec![ok(3)]),
                (vec![fail(4)], true, false),
            ],
            vec![
                "R:circuit_opened:inc1",
                "-",
                "S:circuit_opened:inc1",
                "R:circuit_opened:inc2",
            ],
        ),
        (
            "a permanent failure raises at once; a transient one does not",
            only(PermanentFailure),
            vec![
                r(vec![fail(1)]),
                r(vec![perm(2)]),
                r(vec![perm(3)]),
                r(vec![ok(4)]),
            ],
            vec![
                "-",
                "R:permanent_failure:inc1",
                "-",
                "S:permanent_failure:inc1",
            ],
        ),
        (
            "auto-disable alone opens an incident",
            only(AutoDisabled),
            vec![(vec![fail(1)], false, true)],
            vec!["R:auto_disabled:inc1"],
        ),
    ];
    for (name, settings, runs, want) in cases {
        assert_eq!(script(&settings, runs), want, "{name}");
    }
}

#[test]
fn auto_disable_escalates_an_open_incident_once_with_the_same_id() {
    let mut s = only(Trigger::ConsecutiveFailures);
    s.auto_disabled = true;
    let got = script(
        &s,
        vec![
            r(vec![fail(1), fail(2), fail(3)]),
            (vec![fail(4)], false, true),
            (vec![fail(5)], false, true),
            r(vec![ok(6)]),
        ],
    );
    assert_eq!(
        got,
        vec![
            "R:consecutive_failures:inc1",
            "R:auto_disabled:inc1",
            "-",
            "S:consecutive_failures:inc1"
        ]
    );
}

#[test]
fn disabled_alerts_raise_nothing_but_still_count() {
    let s = AlertSettings {
        enabled: false,
        ..Default::default()
    };
    let mut state = AlertState::default();
    let run = RunSeen {
        attempts: (0..30).map(fail).collect(),
        circuit_opened: true,
        auto_disabled: true,
        now: 30,
    };
    assert!(observe(&mut state, &s, &run, &mut || "x".into()).is_empty());
    assert_eq!(state.streak, 30);
    assert_eq!(state.first_failure_at, Some(0));
}

#[test]
fn the_snapshot_carries_counts_first_failure_and_last_error() {
    let s = only(Trigger::ConsecutiveFailures);
    let mut state = AlertState::default();
    let run = RunSeen {
        attempts: vec![fail(100), perm(200), fail(300)],
        circuit_opened: false,
        auto_disabled: false,
        now: 300,
    };
    let actions = observe(&mut state, &s, &run, &mut || "inc_1".into());
    let AlertAction::Raise(snap) = &actions[0] else {
        panic!("a raise")
    };
    assert_eq!(snap.first_failure_at, Some(100));
    assert_eq!(snap.at, 300);
    assert_eq!(snap.error.as_deref(), Some("HTTP 500"));
    assert_eq!(snap.last_status_code, Some(500));
    assert_eq!(
        snap.counts,
        Counts {
            consecutive_failures: 3,
            failures: 3,
            window_attempts: 3,
            window_failures: 3,
            window_ms: 10_000
        }
    );
    // The state round-trips through its stored JSON.
    let stored: AlertState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    assert_eq!(stored, state);
}

#[test]
fn the_window_stays_bounded_whatever_the_volume() {
    let s = AlertSettings::default();
    let mut state = AlertState::default();
    let run = RunSeen {
        attempts: (0..100_000).map(|i| ok(i * 100)).collect(),
        circuit_opened: false,
        auto_disabled: false,
        now: 100_000 * 100,
    };
    observe(&mut state, &s, &run, &mut || "x".into());
    assert!(
        state.window.len() <= WINDOW_BUCKETS as usize + 1,
        "{}",
        state.window.len()
    );
}

#[test]
fn settings_default_and_are_checked_by_field() {
    let d: AlertSettings = serde_json::from_value(json!({})).unwrap();
    assert_eq!(d, AlertSettings::default());
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({"enabled": true, "consecutive_failures": 10,
               "failure_rate": {"percent": 50, "window_ms": 600000, "min_attempts": 20},
               "circuit_opened": true, "auto_disabled": true, "permanent_failure": true,
               "delivery_failed": {"max_alerts": 3, "window_ms": 600000}})
    );
    let bad: AlertSettings = serde_json::from_value(json!({"consecutive_failures": 20000,
        "failure_rate": {"percent": 101, "window_ms": 5, "min_attempts": 0}}))
    .unwrap();
    let mut fields: Vec<String> = check_settings(&bad).into_iter().map(|e| e.field).collect();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "alerts.consecutive_failures",
            "alerts.failure_rate.min_attempts",
            "alerts.failure_rate.percent",
            "alerts.failure_rate.window_ms"
        ]
    );
    assert!(serde_json::from_value::<AlertSettings>(json!({"nope": 1})).is_err());
}

pub fn sample_snapshot() -> Snapshot {
    Snapshot {
        incident: Incident {
            id: "inc_01".into(),
            trigger: Trigger::ConsecutiveFailures,
            opened_at: 1_614_265_330_123,
            escalated: false,
        },
        trigger: Trigger::ConsecutiveFailures,
        at: 1_614_265_330_123,
        counts: Counts {
            consecutive_failures: 10,
            failures: 12,
            window_attempts: 20,
            window_failures: 12,
            window_ms: 600_000,
        },
        first_failure_at: Some(1_614_265_000_000),
        error: Some("HTTP 500".into()),
        last_status_code: Some(500),
    }
}

pub fn sample_destination() -> AlertDestination {
    AlertDestination {
        id: "des_01".into(),
        name: Some("Orders".into()),
        kind: "webhook".into(),
        target: "https://example.com/hooks".into(),
    }
}
