//! Who receives alerts: the reserved topics, and alert channels never alerting themselves.

use super::*;
use crate::core::topics::TopicPattern;

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

#[test]
fn an_alert_channel_is_one_that_real_alerts_reach() {
    // A webhook (not alerts-only) on `sluice.*` gets real alerts, so its test-send is a
    // sample alert too; an alerts-only type (Slack, email) is a channel whatever it names.
    assert!(is_alert_channel(false, &patterns(&["sluice.*"])));
    assert!(receives_alerts(&patterns(&["sluice.*"]), TOPIC_TRIGGERED));
    assert!(is_alert_channel(
        false,
        &patterns(&["sluice.alert.resolved"])
    ));
    assert!(!is_alert_channel(false, &patterns(&["*"])));
    assert!(!is_alert_channel(false, &patterns(&["order.*"])));
    assert!(is_alert_channel(true, &patterns(&["sluice.alert.*"])));
    assert!(is_alert_channel(true, &[]));
}
