//! Destination specs: validation of the shared settings and the merge-patch rules.

use super::*;
use crate::core::alerts::AlertSettings;
use crate::core::breaker::BreakerSettings;
use crate::core::retry::RetryPolicy;
use crate::core::topics::TopicPattern;
use serde_json::json;

/// A type with one field, to test what every destination shares.
#[derive(Debug, Clone, PartialEq)]
struct Fake(Value);

impl TargetConfig for Fake {
    fn parse(kind: &str, config: Value) -> Result<Self, FieldError> {
        match kind {
            "fake" => Ok(Fake(config)),
            other => Err(FieldError::new("type", format!("unknown type '{other}'"))),
        }
    }
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn check(&self, _: bool) -> Vec<FieldError> {
        match self.0.get("ok") {
            Some(Value::Bool(true)) => vec![],
            _ => vec![FieldError::new("config.ok", "must be true")],
        }
    }
    fn to_json(&self) -> Value {
        self.0.clone()
    }
    fn masked(&self) -> Value {
        self.0.clone()
    }
    fn signs(&self) -> bool {
        false
    }
    fn take_signing_secret(&mut self) -> Option<String> {
        None
    }
    fn check_signing_secret(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn one_lane(&self) -> bool {
        self.0.get("one_lane") == Some(&Value::Bool(true))
    }
}

fn validate_fake(v: Value) -> Result<DestinationSpec<Fake>, Vec<String>> {
    let input: DestinationInput = from_value(v, "").map_err(|e| vec![e.field])?;
    validate::<Fake>(input, false).map_err(|es| es.into_iter().map(|e| e.field).collect())
}

#[test]
fn common_fields_get_their_defaults() {
    let spec = validate_fake(json!({"type": "fake", "config": {"ok": true}})).unwrap();
    assert_eq!(spec.topics, vec![TopicPattern::All]);
    assert!(spec.enabled);
    assert_eq!(spec.settings.timeout_ms, DEFAULT_TIMEOUT_MS);
    assert_eq!(spec.settings.retry, RetryPolicy::default());
    assert_eq!(spec.settings.circuit_breaker, BreakerSettings::default());
    assert_eq!(
        spec.settings.disable_after_failures,
        DEFAULT_DISABLE_AFTER_FAILURES
    );
    assert_eq!(spec.settings.rate_limit, None);
    assert!(spec.filter.is_none());
}

#[test]
fn filters_are_compiled_at_the_edge_and_their_errors_named() {
    let spec = validate_fake(json!({"type": "fake", "config": {"ok": true},
        "filter": {"data": {"amount": {"$gte": 100}}}}))
    .unwrap();
    let f = spec.filter.unwrap();
    assert!(f.matches(&json!({"data": {"amount": 150}, "metadata": {}, "topic": "t"})));
    assert!(!f.matches(&json!({"data": {"amount": 50}, "metadata": {}, "topic": "t"})));
    let bad = validate_fake(json!({"type": "fake", "config": {"ok": true},
        "filter": {"data": {"amount": {"$gte": {}}}}}))
    .unwrap_err();
    assert_eq!(bad, vec!["filter.data.amount.$gte"]);
}

#[test]
fn transforms_are_compiled_at_the_edge_and_their_errors_pointed_at() {
    let spec = validate_fake(json!({"type": "fake", "config": {"ok": true},
        "transform": {"text": "Order {{ data.id }}"}}))
    .unwrap();
    assert_eq!(
        spec.transform.unwrap().as_json(),
        &json!({"text": "Order {{ data.id }}"})
    );
    assert!(
        validate_fake(json!({"type": "fake", "config": {"ok": true}, "transform": null}))
            .unwrap()
            .transform
            .is_none()
    );
    let bad = validate_fake(json!({"type": "fake", "config": {"ok": true},
        "transform": {"blocks": [{"text": "{{ dta.id }}"}]}}))
    .unwrap_err();
    assert_eq!(bad, vec!["transform/blocks/0/text"]);
}

#[test]
fn every_bad_common_field_is_named_with_the_config_errors() {
    let mut got = validate_fake(json!({
        "type": "fake",
        "name": "bad\nname",
        "topics": ["ok", "bad*"],
        "timeout_ms": 5,
        "retry": {"max_retries": 99, "jitter": 2.0, "backoff": {"type": "schedule", "intervals_ms": [1]}},
        "circuit_breaker": {"failure_threshold": 0, "cooldown_ms": 1},
        "disable_after_failures": 20000,
        "rate_limit": {"per_second": 0},
        "config": {"ok": false}
    }))
    .unwrap_err();
    got.sort();
    assert_eq!(
        got,
        vec![
            "circuit_breaker.cooldown_ms",
            "circuit_breaker.failure_threshold",
            "config.ok",
            "disable_after_failures",
            "name",
            "rate_limit.per_second",
            "retry.backoff.intervals_ms[0]",
            "retry.jitter",
            "retry.max_retries",
            "timeout_ms",
            "topics[1]",
        ]
    );
    assert_eq!(
        validate_fake(json!({"type": "nope", "config": {}})).unwrap_err(),
        vec!["type"]
    );
    assert_eq!(
        validate_fake(json!({"type": "fake", "config": {"ok": true}, "extra": 1})).unwrap_err(),
        vec!["extra"]
    );
}

#[test]
fn lanes_are_one_to_sixteen_and_share_max_in_flight() {
    let lanes = |v: Value| validate_fake(v).map(|s| s.settings.lanes);
    assert_eq!(
        lanes(json!({"type": "fake", "config": {"ok": true}})),
        Ok(1)
    );
    assert_eq!(
        lanes(json!({"type": "fake", "config": {"ok": true}, "lanes": 4, "max_in_flight": 24})),
        Ok(4)
    );
    for bad in [
        json!({"type": "fake", "config": {"ok": true}, "lanes": 0}),
        json!({"type": "fake", "config": {"ok": true}, "lanes": 17, "max_in_flight": 50}),
        // Each lane sends at least one request at a time: 4 lanes need max_in_flight ≥ 4.
        json!({"type": "fake", "config": {"ok": true}, "lanes": 4, "max_in_flight": 3}),
    ] {
        assert_eq!(lanes(bad), Err(vec!["lanes".to_string()]));
    }
    // A new destination has only the lanes it asks for.
    let spec = validate_fake(
        json!({"type": "fake", "config": {"ok": true}, "lanes": 2, "max_in_flight": 2}),
    );
    assert_eq!(spec.unwrap().settings.lanes_used, 0);
}

#[test]
fn a_one_lane_type_refuses_more_lanes() {
    let input = |lanes: u32| -> DestinationInput {
        from_value(
            json!({"type": "fake", "config": {"ok": true, "one_lane": true}, "lanes": lanes, "max_in_flight": 8}),
            "",
        )
        .unwrap()
    };
    assert!(validate::<Fake>(input(1), false).is_ok());
    let errors = validate::<Fake>(input(2), false).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "lanes");
    assert!(
        errors[0].message.contains("one lane"),
        "{}",
        errors[0].message
    );
}

#[test]
fn merge_patch_follows_rfc7396_and_keeps_masked_values() {
    let mut doc = json!({"url": "https://a", "auth": {"type": "bearer", "token": "real"}, "headers": {"a": "1", "b": "2"}});
    merge_patch(
        &mut doc,
        &json!({"url": "https://b", "auth": {"token": MASK}, "headers": {"a": null, "c": "3"}}),
    );
    assert_eq!(
        doc,
        json!({"url": "https://b", "auth": {"type": "bearer", "token": "real"}, "headers": {"b": "2", "c": "3"}})
    );
    merge_patch(&mut doc, &json!({"auth": {"token": "new"}}));
    assert_eq!(doc["auth"]["token"], "new");
    merge_patch(&mut doc, &json!({"auth": null}));
    assert!(doc.get("auth").is_none());
    // A templated URL read back with its path masked keeps the stored one; another
    // origin with a masked path is a new (if odd) URL.
    let zap = "https://hooks.zapier.com/hooks/catch/1/abc";
    let mut doc = json!({"url": zap});
    merge_patch(
        &mut doc,
        &json!({"url": "https://hooks.zapier.com/********"}),
    );
    assert_eq!(doc["url"], zap);
    merge_patch(&mut doc, &json!({"url": "https://b.example/********"}));
    assert_eq!(doc["url"], "https://b.example/********");
}

#[test]
fn rotated_keys_expire() {
    let b = SecretBundle {
        config: json!({}),
        signing_keys: vec![
            SigningKey {
                secret: "new".into(),
                expires_at: None,
            },
            SigningKey {
                secret: "old".into(),
                expires_at: Some(100),
            },
        ],
    };
    assert_eq!(b.active_keys(99).count(), 2);
    assert_eq!(
        b.active_keys(100)
            .map(|k| k.secret.as_str())
            .collect::<Vec<_>>(),
        vec!["new"]
    );
}

fn stored_row() -> Value {
    json!({
        "id": "des_01hzy0000000000000000000aa",
        "tenant_id": "ten_acme",
        "type": "webhook",
        "name": "orders",
        "topics": "[\"order.*\",\"sluice.alert.triggered\"]",
        "enabled": 1,
        "disabled_reason": null,
        "config": "{\"url\":\"https://example.com/hook\"}",
        "settings": serde_json::to_string(&DeliverySettings {
            timeout_ms: 5_000,
            retry: RetryPolicy::default(),
            circuit_breaker: BreakerSettings::default(),
            disable_after_failures: 3,
            rate_limit: None,
            max_in_flight: 1,
            alerts: AlertSettings::default(),
            lanes: 1,
            lanes_used: 0,
        })
        .unwrap(),
        "secrets": "sealed",
        "filter": "{\"data\":{\"amount\":{\"$gt\":10}}}",
        "template": null,
        "transform": null,
        "created_at": 1,
        "updated_at": 2,
    })
}

#[test]
fn a_stored_row_parses_once_into_types_and_back_to_the_same_text() {
    let row: DestinationRow = serde_json::from_value(stored_row()).unwrap();
    assert_eq!(row.kind, DestinationKind::new("webhook"));
    assert!(row.enabled);
    assert_eq!(
        row.topics,
        vec![
            TopicPattern::parse("order.*").unwrap(),
            TopicPattern::parse("sluice.alert.triggered").unwrap()
        ]
    );
    assert_eq!(row.config["url"], "https://example.com/hook");
    assert_eq!(row.settings.timeout_ms, 5_000);
    assert!(row
        .filter
        .as_ref()
        .unwrap()
        .matches(&json!({"data": {"amount": 11}})));
    // The scheduler's snapshot and the log shard's outbox carry the text form.
    let text = serde_json::to_value(&row).unwrap();
    assert_eq!(text["topics"], stored_row()["topics"]);
    assert_eq!(text["settings"], stored_row()["settings"]);
    assert_eq!(text["enabled"], true);
    let again: DestinationRow = serde_json::from_value(text).unwrap();
    assert_eq!(again, row);
}

#[test]
fn an_unreadable_column_is_an_error_naming_it() {
    let cases = [
        ("topics", json!("not json")),
        ("topics", json!("[\"a*b\"]")),
        ("settings", json!("{}")),
        ("config", json!("{")),
        ("filter", json!("{\"data\":{\"$nope\":1}}")),
        ("transform", json!("[")),
    ];
    for (column, bad) in cases {
        let mut raw = stored_row();
        raw[column] = bad;
        let stored: StoredRow = serde_json::from_value(raw).unwrap();
        let e = DestinationRow::try_from(stored).unwrap_err();
        assert_eq!(e.column, column, "{e}");
        assert_eq!(e.destination_id.as_str(), "des_01hzy0000000000000000000aa");
    }
}

#[test]
fn a_kind_is_stored_and_read_as_its_client_name() {
    let kind = DestinationKind::new("aws_sqs");
    assert_eq!(serde_json::to_value(&kind).unwrap(), "aws_sqs");
    assert_eq!(kind.to_string(), "aws_sqs");
}

#[test]
fn enabled_reads_from_sqlite_integers_and_json_booleans() {
    for (value, enabled) in [
        (json!(0), false),
        (json!(1), true),
        (json!(false), false),
        (json!(true), true),
    ] {
        let mut row = stored_row();
        row["enabled"] = value;
        let row: DestinationRow = serde_json::from_value(row).unwrap();
        assert_eq!(row.enabled, enabled);
    }
    let mut row = stored_row();
    row["enabled"] = json!("yes");
    assert!(serde_json::from_value::<DestinationRow>(row).is_err());
}
