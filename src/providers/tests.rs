//! Destination configs of every type through the shared validation: defaults, field-named
//! errors, private addresses, signing secrets, masking.

use super::*;
use crate::core::breaker::BreakerSettings;
use crate::core::destination::MASK;
use crate::core::destination::{validate, DestinationInput, DestinationSpec, DEFAULT_TIMEOUT_MS};
use crate::core::retry::RetryPolicy;
use crate::core::topics::TopicPattern;
use serde_json::json;
use webhook::Signing;

fn input(v: Value) -> DestinationInput {
    from_value(v, "").unwrap()
}

fn fields(r: Result<DestinationSpec<Target>, Vec<FieldError>>) -> Vec<String> {
    r.unwrap_err().into_iter().map(|e| e.field).collect()
}

#[test]
fn minimal_webhook_gets_the_defaults() {
    let spec = validate::<Target>(
        input(json!({"type": "webhook", "config": {"url": "https://example.com/h"}})),
        false,
    )
    .unwrap();
    assert_eq!(spec.topics, vec![TopicPattern::All]);
    assert!(spec.enabled);
    assert_eq!(spec.settings.timeout_ms, DEFAULT_TIMEOUT_MS);
    assert_eq!(spec.settings.retry, RetryPolicy::default());
    assert_eq!(spec.settings.circuit_breaker, BreakerSettings::default());
    let Target::Webhook(c) = &spec.target else {
        panic!("a webhook")
    };
    assert_eq!(c.signing, Signing::StandardWebhooks { secret: None });
}

#[test]
fn every_bad_field_is_named() {
    let r = validate::<Target>(
        input(json!({
            "type": "webhook",
            "name": "bad\nname",
            "topics": ["ok", "bad*"],
            "timeout_ms": 5,
            "retry": {"max_retries": 99, "jitter": 2.0, "backoff": {"type": "schedule", "intervals_ms": [1]}},
            "circuit_breaker": {"failure_threshold": 0, "cooldown_ms": 1},
            "config": {"url": "ftp://x", "headers": {"Host": "x", "x-ok": "a\r\nb"},
                       "auth": {"type": "bearer", "token": ""}}
        })),
        true,
    );
    let mut got = fields(r);
    got.sort();
    assert_eq!(
        got,
        vec![
            "circuit_breaker.cooldown_ms",
            "circuit_breaker.failure_threshold",
            "config.auth.token",
            "config.headers.Host",
            "config.headers.x-ok",
            "config.url",
            "name",
            "retry.backoff.intervals_ms[0]",
            "retry.jitter",
            "retry.max_retries",
            "timeout_ms",
            "topics[1]",
        ]
    );
}

#[test]
fn unknown_config_fields_are_refused_by_path() {
    let r = validate::<Target>(
        input(
            json!({"type": "webhook", "config": {"url": "https://a.example", "auth": {"type": "bearer", "token": "t", "extra": 1}}}),
        ),
        false,
    );
    assert_eq!(fields(r), vec!["config.auth.extra"]);
    let r = validate::<Target>(
        input(
            json!({"type": "webhook", "config": {"url": "https://a.example", "signing": {"scheme": "gpg"}}}),
        ),
        false,
    );
    assert_eq!(fields(r), vec!["config.signing.scheme"]);
}

#[test]
fn private_urls_need_the_development_setting() {
    let v = json!({"type": "webhook", "config": {"url": "http://127.0.0.1:9000/h"}});
    assert_eq!(
        fields(validate::<Target>(input(v.clone()), false)),
        vec!["config.url"]
    );
    assert!(validate::<Target>(input(v), true).is_ok());
}

#[test]
fn given_signing_secrets_are_checked_and_taken_out_of_the_config() {
    let r = validate::<Target>(
        input(
            json!({"type": "webhook", "config": {"url": "https://a.example", "signing": {"scheme": "standard_webhooks", "secret": "nope"}}}),
        ),
        false,
    );
    assert_eq!(fields(r), vec!["config.signing.secret"]);
    let spec = validate::<Target>(input(json!({"type": "webhook", "config": {"url": "https://a.example", "signing": {"scheme": "standard_webhooks", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}})), false).unwrap();
    assert_eq!(
        spec.given_signing_secret.as_deref(),
        Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    );
    assert!(!spec.target.to_json().to_string().contains("whsec_"));
}

#[test]
fn masking_hides_every_credential() {
    let spec = validate::<Target>(
        input(json!({"type": "webhook", "config": {
            "url": "https://a.example",
            "headers": {"x-tenant-key": "hdr-secret"},
            "auth": {"type": "basic", "username": "u", "password": "pw-secret"}}})),
        false,
    )
    .unwrap();
    let shown = spec.target.masked().to_string();
    assert!(
        !shown.contains("hdr-secret") && !shown.contains("pw-secret"),
        "{shown}"
    );
    assert!(shown.contains(MASK) && shown.contains("\"username\":\"u\""));
}

#[test]
fn aws_types_parse_check_and_mask_their_secrets() {
    let sqs = json!({"type": "aws_sqs", "config": {
        "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
        "region": "eu-west-1", "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": "secret-marker-1", "session_token": "token-marker-2"}});
    let spec = validate::<Target>(input(sqs), false).unwrap();
    assert_eq!(spec.target.kind(), "aws_sqs");
    assert!(!spec.target.signs());
    let shown = spec.target.masked().to_string();
    assert!(
        !shown.contains("secret-marker-1") && !shown.contains("token-marker-2"),
        "{shown}"
    );
    assert!(shown.contains("AKIDEXAMPLE"));
    assert!(
        spec.target
            .to_json()
            .to_string()
            .contains("secret-marker-1"),
        "sealed whole"
    );

    let bad = json!({"type": "aws_s3", "config": {"bucket": "b", "region": "eu-west-1",
        "access_key_id": "AKID", "secret_access_key": "s", "colour": "red"}});
    assert_eq!(
        fields(validate::<Target>(input(bad), false)),
        vec!["config.colour"]
    );
    let unknown = json!({"type": "carrier_pigeon", "config": {}});
    assert_eq!(
        fields(validate::<Target>(input(unknown), false)),
        vec!["type"]
    );
}

/// `SECRET_PATHS`, which the Worker uses, says what the catalogue says: the same types in the
/// same order, each with the same credential paths.
#[test]
fn secret_paths_are_the_catalogues() {
    let catalogue: Value = serde_json::from_str(CATALOGUE).unwrap();
    let listed: Vec<(String, Vec<String>)> = catalogue["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let paths = t["secrets"].as_array().unwrap();
            let paths = paths.iter().map(|p| p.as_str().unwrap().to_string());
            (t["type"].as_str().unwrap().to_string(), paths.collect())
        })
        .collect();
    let ours: Vec<(String, Vec<String>)> = SECRET_PATHS
        .iter()
        .map(|(k, paths)| (k.to_string(), paths.iter().map(|p| p.to_string()).collect()))
        .collect();
    assert_eq!(ours, listed);
    assert_eq!(secret_paths("webhook").len(), 5);
    assert!(secret_paths("no_such_type").is_empty());
}

/// The catalogue lists exactly the types, and each example config is one the type's parser
/// and checks accept, while a property the schema does not list is refused by both.
#[test]
fn the_type_catalogue_matches_the_parsers() {
    let catalogue: Value = serde_json::from_str(CATALOGUE).unwrap();
    let entries = catalogue["data"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(names, TYPES);
    for t in entries {
        let kind = t["type"].as_str().unwrap();
        let schema = &t["config_schema"];
        assert_eq!(schema["additionalProperties"], json!(false), "{kind}");
        for example in schema["examples"].as_array().unwrap() {
            let mut example = example.clone();
            if kind == "gcp_pubsub" {
                // The catalogue shows no usable key; the checks sign with one, so use the tests'.
                example["service_account"]["private_key"] =
                    json!(include_str!("testdata/pubsub_test_key.pem"));
            }
            let example = &example;
            let target =
                Target::parse(kind, example.clone()).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            assert!(
                target.check(false).is_empty(),
                "{kind}: {:?}",
                target.check(false)
            );
            for key in example.as_object().unwrap().keys() {
                assert!(
                    schema["properties"].get(key).is_some(),
                    "{kind}: {key} missing from the schema"
                );
            }
            let mut extra = example.clone();
            extra["not_a_field"] = json!(1);
            assert!(
                Target::parse(kind, extra).is_err(),
                "{kind} accepts unknown fields"
            );
        }
        for required in schema["required"].as_array().unwrap() {
            let mut missing = schema["examples"][0].clone();
            missing
                .as_object_mut()
                .unwrap()
                .remove(required.as_str().unwrap());
            assert!(
                Target::parse(kind, missing).is_err(),
                "{kind}: {required} is required"
            );
        }
    }
}

/// The registry's dispatch, for every type: the parsed config names its own type, round-trips
/// through its JSON, builds a provider, and only the alert channels are alerts-only.
#[test]
fn every_registered_type_dispatches_to_its_own_module() {
    let catalogue: Value = serde_json::from_str(CATALOGUE).unwrap();
    let secrets = SecretBundle {
        config: Value::Null,
        signing_keys: vec![],
    };
    for t in catalogue["data"].as_array().unwrap() {
        let kind = t["type"].as_str().unwrap();
        let example = t["config_schema"]["examples"][0].clone();
        let target = Target::parse(kind, example).unwrap();
        assert_eq!(target.kind(), kind);
        assert_eq!(Target::parse(kind, target.to_json()).unwrap(), target);
        assert!(target.masked().is_object(), "{kind}");
        let provider = for_target(&target, &secrets, &Default::default(), 0);
        assert!(provider.max_batch() >= 1, "{kind}");
        let channel = ["slack", "discord", "pagerduty", "email"].contains(&kind);
        assert_eq!(target.alerts_only(), channel, "{kind}");
    }
}

#[test]
fn kafka_parses_checks_and_masks_its_password() {
    let v = json!({"type": "kafka", "config": {
        "endpoint": "https://rest.example.com:8082", "cluster_id": "lkc-1", "topic": "orders",
        "auth": {"type": "basic", "username": "API_KEY", "password": "pw-marker-1"}}});
    let spec = validate::<Target>(input(v), false).unwrap();
    assert_eq!(spec.target.kind(), "kafka");
    assert!(!spec.target.signs());
    let shown = spec.target.masked();
    assert!(!shown.to_string().contains("pw-marker-1"), "{shown}");
    assert_eq!(shown["auth"]["username"], "API_KEY");
    // A PATCH that sends the mask back keeps the stored password.
    let mut stored = spec.target.to_json();
    crate::core::destination::merge_patch(
        &mut stored,
        &json!({"topic": "orders.v2", "auth": {"password": MASK}}),
    );
    assert_eq!(stored["auth"]["password"], "pw-marker-1");
    assert_eq!(stored["topic"], "orders.v2");

    let bad = json!({"type": "kafka", "config": {"endpoint": "http://127.0.0.1:8082", "topic": "bad topic"}});
    assert_eq!(
        fields(validate::<Target>(input(bad), false)),
        vec!["config.endpoint", "config.cluster_id", "config.topic"]
    );
}

#[test]
fn rabbitmq_parses_checks_and_masks_its_password() {
    let v = json!({"type": "rabbitmq", "config": {
        "endpoint": "https://rabbit.example.com:15672", "exchange": "orders",
        "username": "sluice", "password": "pw-marker-3"}});
    let spec = validate::<Target>(input(v), false).unwrap();
    assert_eq!(spec.target.kind(), "rabbitmq");
    assert!(!spec.target.signs());
    let shown = spec.target.masked();
    assert_eq!(shown["password"], MASK);
    assert_eq!(shown["username"], "sluice");
    assert_eq!(shown["vhost"], "/");
    assert_eq!(shown["routing_key"], "{topic}");
    assert!(spec.target.to_json().to_string().contains("pw-marker-3"));

    let private = json!({"type": "rabbitmq", "config": {
        "endpoint": "http://127.0.0.1:15672", "exchange": "", "vhost": "",
        "username": "u", "password": "p", "routing_key": "{colour}"}});
    assert_eq!(
        fields(validate::<Target>(input(private), false)),
        vec!["config.endpoint", "config.vhost", "config.routing_key"]
    );
}

/// Which types carry alerts only is one fact: by name (`alerts_only`, what a stored row's
/// type says) and by parsed config (`Target::alerts_only`) agree for every type.
#[test]
fn alerts_only_by_name_is_alerts_only_by_config() {
    let catalogue: Value = serde_json::from_str(CATALOGUE).unwrap();
    for t in catalogue["data"].as_array().unwrap() {
        let kind = t["type"].as_str().unwrap();
        let mut example = t["config_schema"]["examples"][0].clone();
        if kind == "gcp_pubsub" {
            example["service_account"]["private_key"] =
                json!(include_str!("testdata/pubsub_test_key.pem"));
        }
        let target = Target::parse(kind, example).unwrap();
        assert_eq!(target.alerts_only(), super::alerts_only(kind), "{kind}");
    }
    assert!(super::alerts_only("email") && super::alerts_only("slack"));
    assert!(!super::alerts_only("webhook") && !super::alerts_only("no_such_type"));
}

/// Every `(path, value)` leaf of a JSON object, paths dotted (`auth.token`).
fn leaves(v: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match v.as_object() {
        Some(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(child, &path, out);
            }
        }
        None => out.push((prefix.to_string(), v.clone())),
    }
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// The catalogue's `secrets` (what the API docs and the PATCH credential guard call secret)
/// and `Target::masked` (what the API shows) say the same: on every example config, what
/// `masked` hides is listed as secret, and every listed secret is hidden.
#[test]
fn the_catalogue_secrets_are_what_masked_hides() {
    let catalogue: Value = serde_json::from_str(CATALOGUE).unwrap();
    for t in catalogue["data"].as_array().unwrap() {
        let kind = t["type"].as_str().unwrap();
        let secrets: Vec<&str> = t["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let listed = |path: &str| {
            secrets.iter().any(|s| match s.strip_suffix(".*") {
                Some(parent) => path
                    .strip_prefix(parent)
                    .is_some_and(|r| r.starts_with('.')),
                None => *s == path,
            })
        };
        let mut hid_any = false;
        for example in t["config_schema"]["examples"].as_array().unwrap() {
            let mut example = example.clone();
            if kind == "gcp_pubsub" {
                example["service_account"]["private_key"] =
                    json!(include_str!("testdata/pubsub_test_key.pem"));
            }
            let target = Target::parse(kind, example).unwrap();
            let (full, shown) = (target.to_json(), target.masked());
            let mut all = vec![];
            leaves(&full, "", &mut all);
            for (path, value) in all {
                let hidden = at(&shown, &path) != Some(&value);
                hid_any |= hidden;
                assert_eq!(
                    hidden,
                    listed(&path),
                    "{kind}: {path} is {} by masked() but {} in types.json",
                    if hidden { "hidden" } else { "shown" },
                    if listed(&path) {
                        "secret"
                    } else {
                        "not secret"
                    },
                );
            }
        }
        // The examples hold a credential for every type that has one, so the check bites.
        assert_eq!(hid_any, !secrets.is_empty(), "{kind}");
    }
}
