//! Templates: the catalogue, expansion into a destination, and the checks a templated
//! destination keeps.

use super::*;
use crate::core::destination::{validate, DestinationInput};
use crate::core::transform::{Subject, Transform};
use crate::core::validate::from_value;
use crate::providers::Target;
use serde_json::json;
use std::collections::BTreeMap;

fn create(body: Value, allow_private: bool) -> Result<Value, Vec<String>> {
    let fields = |es: Vec<FieldError>| es.into_iter().map(|e| e.field).collect::<Vec<_>>();
    let expanded = expand(body).map_err(fields)?;
    let input: DestinationInput = from_value(expanded.clone(), "").map_err(|e| vec![e.field])?;
    validate::<Target>(input, allow_private).map_err(fields)?;
    Ok(expanded)
}

/// Every template parses, its URL pattern compiles, its transform compiles and renders,
/// and its example expands into a destination that validates without private addresses.
#[test]
fn catalogue_is_consistent() {
    let raw: Value = serde_json::from_str(CATALOGUE).unwrap();
    let names: Vec<&str> = catalogue().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "slack",
            "discord",
            "pagerduty",
            "datadog",
            "zapier",
            "linear"
        ]
    );
    assert_eq!(raw["data"].as_array().unwrap().len(), names.len());
    let (data, metadata) = (json!({"id": "ord_1"}), BTreeMap::new());
    for t in catalogue() {
        assert!(t.url_regex.is_some(), "{}: url_pattern compiles", t.name);
        assert!(
            t.url_pattern.starts_with('^') && t.url_pattern.ends_with('$'),
            "{}: the pattern is anchored",
            t.name
        );
        let transform = Transform::compile(&t.transform)
            .unwrap_or_else(|e| panic!("{}: transform: {e:?}", t.name));
        let subject = Subject {
            data: &data,
            metadata: &metadata,
            topic: "order.paid",
            event_id: "evt_1",
            tenant_id: "acme",
            delivery_id: "dlv_1",
            attempt: 1,
            timestamp: "2026-11-23T12:00:00.000Z",
        };
        let body: Value = serde_json::from_str(&transform.apply(&subject).unwrap()).unwrap();
        assert!(body.is_object() || body.is_array(), "{}", t.name);
        for p in &t.params {
            assert!(t.transform.pointer(&p.pointer).is_some(), "{}", p.name);
        }
        assert_eq!(t.example["template"], t.name.as_str());
        let expanded = create(t.example.clone(), false)
            .unwrap_or_else(|e| panic!("{}: example does not validate: {e:?}", t.name));
        assert_eq!(expanded["type"], "webhook");
        assert!(view(&t.name).is_some());
    }
}

#[test]
fn slack_expands_with_the_users_fields_winning() {
    let got = create(
        json!({"template": "slack", "topics": ["order.*"],
               "config": {"url": "https://hooks.slack.com/services/T1/B2/X3", "headers": {"x-a": "1"}}}),
        false,
    )
    .unwrap();
    assert_eq!(got["type"], "webhook");
    assert_eq!(got["config"]["signing"], json!({"scheme": "none"}));
    assert_eq!(got["config"]["headers"], json!({"x-a": "1"}));
    assert_eq!(got["transform"], find("slack").unwrap().transform);
    assert_eq!(got["template"], "slack");

    let own = create(
        json!({"template": "slack", "transform": {"text": "{{ data.id }}"},
               "config": {"url": "https://hooks.slack.com/services/T1/B2/X3",
                          "signing": {"scheme": "standard_webhooks"}}}),
        false,
    )
    .unwrap();
    assert_eq!(own["transform"], json!({"text": "{{ data.id }}"}));
    assert_eq!(own["config"]["signing"]["scheme"], "standard_webhooks");
}

#[test]
fn the_url_pattern_and_required_headers_are_enforced() {
    let slack = |url: &str, private| {
        create(
            json!({"template": "slack", "config": {"url": url}}),
            private,
        )
    };
    assert_eq!(
        slack("https://example.com/services/T/B/X", false).unwrap_err(),
        vec!["config.url"]
    );
    assert_eq!(
        slack("https://hooks.slack.com.evil.io/services/T/B/X", true).unwrap_err(),
        vec!["config.url"]
    );
    // A local receiver stands in for the service only where private addresses are allowed.
    assert!(slack("http://127.0.0.1:9000/hook", true).is_ok());
    assert_eq!(
        slack("http://127.0.0.1:9000/hook", false).unwrap_err(),
        vec!["config.url", "config.url"]
    );
    assert_eq!(
        create(json!({"template": "datadog"}), false).unwrap_err(),
        vec!["config.headers.DD-API-KEY"]
    );
    assert!(create(
        json!({"template": "datadog", "config": {"headers": {"dd-api-key": "k"},
               "url": "https://http-intake.logs.datadoghq.eu/api/v2/logs"}}),
        false
    )
    .is_ok());
    assert_eq!(
        create(
            json!({"template": "pagerduty", "type": "aws_sqs",
                   "config": {"headers": {"X-Routing-Key": "k"}}}),
            false
        )
        .unwrap_err()[0],
        "type"
    );
}

#[test]
fn params_fill_the_transform_literally() {
    let base = json!({"template": "linear", "config": {"headers": {"Authorization": "lin_api_x"}}});
    let mut with = base.clone();
    with["params"] = json!({"team_id": "team {{ data.x }}"});
    let got = create(with, false).unwrap();
    assert_eq!(
        got["transform"]["variables"]["input"]["teamId"],
        "team \\{{ data.x }}"
    );
    assert_eq!(
        create(base.clone(), false).unwrap_err(),
        vec!["params.team_id"]
    );
    let mut extra = base;
    extra["params"] = json!({"team_id": "t", "nope": "x"});
    assert_eq!(create(extra, false).unwrap_err(), vec!["params.nope"]);
    assert_eq!(
        create(
            json!({"type": "webhook", "params": {}, "config": {"url": "https://a.example"}}),
            false
        )
        .unwrap_err(),
        vec!["params"]
    );
}

#[test]
fn unknown_templates_are_named() {
    let e = expand(json!({"template": "teams", "config": {}})).unwrap_err();
    assert_eq!(e[0].field, "template");
    assert!(
        e[0].message.contains("one of slack, discord"),
        "{}",
        e[0].message
    );
    assert_eq!(
        expand(json!({"template": 3})).unwrap_err()[0].field,
        "template"
    );
}
