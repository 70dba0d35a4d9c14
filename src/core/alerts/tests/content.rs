//! What an alert says: tenant, destination, counts, error and paths; targets without
//! secrets; deliveries that failed for good, up to the cap.

use super::*;

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
