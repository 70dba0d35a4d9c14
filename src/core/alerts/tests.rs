use super::*;
use crate::core::topics::TopicPattern;
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

fn patterns(raw: &[&str]) -> Vec<TopicPattern> {
    raw.iter()
        .map(|p| TopicPattern::parse(p).unwrap())
        .collect()
}

#[test]
fn alert_channels_never_alert_themselves() {
    let cases = [
        ("acme", vec!["order.*"], true, true),
        ("acme", vec!["*"], true, true),
        ("acme", vec!["sluice.alert.*"], false, true),
        (
            "acme",
            vec!["order.*", "sluice.alert.triggered"],
            false,
            true,
        ),
        ("acme", vec!["sluice.*"], false, true),
        (OPERATOR_TENANT, vec!["sluice.alert.*"], false, false),
        (OPERATOR_TENANT, vec!["order.*"], false, false),
    ];
    for (tenant, topics, to_tenant, to_operator) in cases {
        assert_eq!(
            recipients(tenant, &patterns(&topics)),
            Recipients {
                tenant: to_tenant,
                operator: to_operator
            },
            "{tenant} {topics:?}"
        );
    }
    assert!(!receives_alerts(&patterns(&["*"]), TOPIC_TRIGGERED));
    assert!(receives_alerts(
        &patterns(&["sluice.alert.*"]),
        TOPIC_RESOLVED
    ));
    assert!(!receives_alerts(
        &patterns(&["sluice.alert.triggered"]),
        TOPIC_RESOLVED
    ));
    assert!(is_alert_pattern(
        &TopicPattern::parse("sluice.alert.*").unwrap()
    ));
    assert!(is_alert_pattern(
        &TopicPattern::parse("sluice.alert.resolved").unwrap()
    ));
    assert!(!is_alert_pattern(&TopicPattern::parse("sluice.*").unwrap()));
    assert!(!is_alert_pattern(&TopicPattern::parse("*").unwrap()));
    assert!(!is_alert_pattern(
        &TopicPattern::parse("order.created").unwrap()
    ));
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

#[test]
fn content_names_tenant_destination_error_counts_and_paths() {
    let raise = AlertAction::Raise(sample_snapshot());
    let c = content(&raise, "acme", sample_destination());
    assert_eq!(
        serde_json::to_value(&c).unwrap(),
        json!({
            "status": "triggered",
            "incident_id": "inc_01",
            "trigger": "consecutive_failures",
            "summary": "Destination 'Orders' (webhook, des_01) of tenant acme: 10 consecutive failed attempts",
            "severity": "error",
            "tenant_id": "acme",
            "destination": {"id": "des_01", "name": "Orders", "type": "webhook", "target": "https://example.com/hooks"},
            "error": "HTTP 500",
            "last_status_code": 500,
            "counts": {"consecutive_failures": 10, "failures": 12, "window_attempts": 20, "window_failures": 12, "window_ms": 600000},
            "first_failure_at": "2021-02-25T14:56:40.000Z",
            "at": "2021-02-25T15:02:10.123Z",
            "links": {
                "destination": "/v1/tenants/acme/destinations/des_01",
                "status": "/v1/tenants/acme/destinations/des_01/status",
                "failed_deliveries": "/v1/tenants/acme/destinations/des_01/deliveries?status=failed"
            }
        })
    );
    assert_eq!(event_id(&raise), "alert-inc_01-consecutive_failures");
    assert_eq!(topic(&raise), TOPIC_TRIGGERED);
    let resolve = AlertAction::Resolve(sample_snapshot());
    let c = content(&resolve, "acme", sample_destination());
    assert!(c.resolved());
    assert_eq!(c.severity, "info");
    assert_eq!(
        c.summary,
        "Resolved: destination 'Orders' (webhook, des_01) of tenant acme delivers again"
    );
    assert_eq!(event_id(&resolve), "alert-inc_01-resolved");
    assert_eq!(topic(&resolve), TOPIC_RESOLVED);
}

#[test]
fn targets_are_labelled_without_secrets() {
    let cases = [
        (
            "webhook",
            json!({"url": "https://h.example/p/q?token=secret"}),
            "https://h.example/p/q",
        ),
        (
            "slack",
            json!({"url": "********"}),
            "Slack incoming webhook",
        ),
        (
            "pagerduty",
            json!({"routing_key": "********"}),
            "PagerDuty Events API v2 (https://events.pagerduty.com)",
        ),
        (
            "aws_s3",
            json!({"bucket": "b", "region": "eu-west-1"}),
            "s3://b (eu-west-1)",
        ),
        (
            "rabbitmq",
            json!({"endpoint": "http://r:15672", "exchange": "x"}),
            "http://r:15672/ exchange 'x'",
        ),
    ];
    for (kind, config, want) in cases {
        assert_eq!(target_label(kind, &config), want, "{kind}");
    }
}

/// A delivery that failed for good is told on its own, by default, whatever the incident
/// triggers do; past the cap the failures wait for the window's summary.
#[test]
fn deliveries_that_failed_for_good_are_told_up_to_the_cap() {
    let s = only(Trigger::DeliveryFailed);
    let got = script(
        &s,
        vec![
            r(vec![fail(0), exhausted(1, 10, 2)]),
            r(vec![
                exhausted(2, 20, 1),
                exhausted(3, 30, 1),
                exhausted(4, 40, 1),
            ]),
            r(vec![ok(5_000)]),
            r(vec![ok(10_010)]),
            r(vec![exhausted(5, 12_000, 3)]),
        ],
    );
    assert_eq!(
        got,
        [
            "F:evt_1:inc1",
            "F:evt_2:inc1",
            "-",
            "F:+2:inc1",
            "F:evt_5:inc2"
        ]
    );
    // On by default; off with the rest of the alerts, or with a cap of 0.
    assert_eq!(AlertSettings::default().delivery_failed.max_alerts, 3);
    let off = AlertSettings {
        enabled: false,
        ..AlertSettings::default()
    };
    assert_eq!(script(&off, vec![r(vec![exhausted(1, 0, 1)])]), ["-"]);
    let mut zero = only(Trigger::DeliveryFailed);
    zero.delivery_failed.max_alerts = 0;
    assert_eq!(script(&zero, vec![r(vec![exhausted(1, 0, 1)])]), ["-"]);
}

#[test]
fn a_failed_delivery_alert_names_the_event_attempts_and_error() {
    let s = AlertSettings::default();
    let mut state = AlertState::default();
    let run = RunSeen {
        attempts: vec![exhausted(7, 1_614_265_330_123, 6)],
        circuit_opened: false,
        auto_disabled: false,
        now: 1_614_265_330_123,
    };
    let actions = observe(&mut state, &s, &run, &mut || "inc_02".into());
    assert_eq!(actions.len(), 1, "{actions:?}");
    let c = content(&actions[0], "acme", sample_destination());
    assert_eq!(c.trigger, Trigger::DeliveryFailed);
    assert_eq!(c.status, "triggered");
    assert_eq!(c.severity, "error");
    assert_eq!(c.incident_id, "inc_02");
    assert_eq!(
        c.summary,
        "Destination 'Orders' (webhook, des_01) of tenant acme: event evt_7 failed for good after 6 attempts"
    );
    assert_eq!(
        serde_json::to_value(&c.delivery).unwrap(),
        json!({
            "event_id": "evt_7", "delivery_id": "dlv_7", "attempts": 6, "error": "HTTP 500",
            "status_code": 500, "failed_at": "2021-02-25T15:02:10.123Z",
            "attempts_link": "/v1/tenants/acme/destinations/des_01/deliveries/dlv_7/attempts"
        })
    );
    assert_eq!(c.suppressed, None);
    assert_eq!(event_id(&actions[0]), "alert-dlv_7-failed-6");
    assert_eq!(topic(&actions[0]), TOPIC_TRIGGERED);

    // A storm past the cap (3 by default): one summary when the window (10 min) is over.
    let storm: Vec<_> = (10..20).map(|n| exhausted(n, n as Millis, 1)).collect();
    let mut state = AlertState::default();
    let run = RunSeen {
        attempts: storm,
        circuit_opened: false,
        auto_disabled: false,
        now: 20,
    };
    let mut ids = 0;
    let mut new_id = || {
        ids += 1;
        format!("inc_w{ids}")
    };
    let told = observe(&mut state, &s, &run, &mut new_id);
    let one_by_one = told
        .iter()
        .filter(|a| matches!(a, AlertAction::DeliveryFailed(..)))
        .count();
    assert_eq!(one_by_one, 3, "{told:?}");
    let later = RunSeen {
        attempts: vec![ok(600_010)],
        circuit_opened: false,
        auto_disabled: false,
        now: 600_010,
    };
    // The delivered attempt also resolves the consecutive-failures incident.
    let summary: Vec<_> = observe(&mut state, &s, &later, &mut new_id)
        .into_iter()
        .filter(|a| matches!(a, AlertAction::DeliveryFailed(..)))
        .collect();
    assert_eq!(summary.len(), 1);
    let c = content(&summary[0], "acme", sample_destination());
    assert_eq!(
        c.summary,
        "Destination 'Orders' (webhook, des_01) of tenant acme: 7 more deliveries failed for good since 1970-01-01T00:00:00.013Z (the last: event evt_19 after 1 attempts)"
    );
    assert_eq!(
        c.incident_id, "inc_w1",
        "the window's alerts share one incident id"
    );
    assert_eq!(
        serde_json::to_value(&c.suppressed).unwrap(),
        json!({"count": 7, "since": "1970-01-01T00:00:00.013Z", "until": "1970-01-01T00:00:00.019Z"})
    );
    assert_eq!(event_id(&summary[0]), "alert-inc_w1-failed-summary");
}
