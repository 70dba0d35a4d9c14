//! RabbitMQ: the publish request, routing keys, answers and the config checks.

use super::*;
use crate::core::destination::MASK;
use crate::core::validate::from_value;
use crate::core::wire::TransportError;
use crate::providers::testing::{delivery, response, NOW};

fn config() -> RabbitMqConfig {
    RabbitMqConfig {
        endpoint: "https://rabbit.example.com:15672".into(),
        vhost: "/".into(),
        exchange: "orders".into(),
        routing_key: "{topic}".into(),
        username: "sluice".into(),
        password: "s3cret".into(),
        allow_unrouted: false,
    }
}

fn kind(v: &Verdict) -> &'static str {
    match v {
        Verdict::Delivered => "delivered",
        Verdict::Transient { .. } => "transient",
        Verdict::Permanent { .. } => "permanent",
    }
}

fn verdict(c: RabbitMqConfig, result: TransportResult) -> Verdict {
    let v = RabbitMq::new(c).interpret(&[delivery("evt_1", "{}")], &result, NOW);
    assert_eq!(v.len(), 1);
    v.into_iter().next().unwrap()
}

/// The publish request as the management API's reference describes it
/// (`POST /api/exchanges/vhost/name/publish`; the default vhost "/" is `%2F`).
#[test]
fn publish_wire_format() {
    let request = RabbitMq::new(config())
        .build(&[delivery("evt_1", r#"{"order":1}"#)], NOW)
        .unwrap()
        .expect_http();
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.url,
        "https://rabbit.example.com:15672/api/exchanges/%2F/orders/publish"
    );
    assert_eq!(
        String::from_utf8(request.body.clone()).unwrap(),
        concat!(
            r#"{"properties":{"message_id":"evt_1","delivery_mode":2,"content_type":"application/json","#,
            r#""headers":{"sluice-event-id":"evt_1","sluice-topic":"order.created","sluice-attempt":3}},"#,
            r#""routing_key":"order.created","payload":"{\"order\":1}","payload_encoding":"string"}"#
        )
    );
    // base64("sluice:s3cret")
    assert_eq!(
        request.header("authorization"),
        Some("Basic c2x1aWNlOnMzY3JldA==")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(request.header("user-agent").unwrap().starts_with("Sluice/"));
}

#[test]
fn names_are_percent_encoded_and_the_default_exchange_is_amq_default() {
    let mut c = config();
    c.endpoint = "http://127.0.0.1:15672/rabbit/".into();
    c.vhost = "tenant a/b".into();
    c.exchange = String::new();
    assert_eq!(
        c.publish_url(),
        "http://127.0.0.1:15672/rabbit/api/exchanges/tenant%20a%2Fb/amq.default/publish"
    );
    c.exchange = "events.v1:ü".into();
    assert!(c.publish_url().ends_with("/events.v1%3A%C3%BC/publish"));
}

#[test]
fn routing_key_templates() {
    let d = delivery("evt_7", "{}");
    assert_eq!(routing_key("{topic}", &d).unwrap(), "order.created");
    assert_eq!(
        routing_key("sluice.{tenant_id}.{topic}.{event_id}", &d).unwrap(),
        "sluice.acme.order.created.evt_7"
    );
    assert_eq!(routing_key("", &d).unwrap(), "");
    assert_eq!(routing_key("fixed", &d).unwrap(), "fixed");
    for bad in ["{colour}", "{topic", "topic}", "a{}b"] {
        assert!(check_routing_key_template(bad).is_err(), "{bad:?}");
    }
    let long = format!("{}{{topic}}{{topic}}", "k".repeat(230));
    assert!(check_routing_key_template(&long).is_ok());
    let err = RabbitMq::new(RabbitMqConfig {
        routing_key: long,
        ..config()
    })
    .build(&[d], NOW)
    .unwrap_err();
    assert!(err.contains("256 bytes"), "{err}");
}

/// Answers as RabbitMQ 3.10's management API gives them (captured from a real node).
#[test]
fn answers() {
    type Case<'a> = (u16, &'a str, &'a str);
    let cases: &[Case] = &[
        (200, r#"{"routed":true}"#, "delivered"),
        (200, r#"{"routed":false}"#, "permanent"),
        (200, "<html>ok</html>", "permanent"),
        (
            400,
            r#"{"error":"bad_request","reason":"404 NOT_FOUND - no exchange 'missing' in vhost '/'"}"#,
            "permanent",
        ),
        (
            401,
            r#"{"error":"not_authorized","reason":"Login failed"}"#,
            "permanent",
        ),
        (
            401,
            r#"{"error":"not_authorised","reason":"Access refused."}"#,
            "permanent",
        ),
        (
            404,
            r#"{"error":"Object Not Found","reason":"Not Found"}"#,
            "permanent",
        ),
        (
            400,
            r#"{"error":"bad_request","reason":["not_int","delivery_mode"]}"#,
            "permanent",
        ),
        (429, "", "transient"),
        (500, r#"{"error":"Internal Server Error"}"#, "transient"),
        (503, "Service Unavailable", "transient"),
    ];
    for (status, body, expected) in cases {
        let v = verdict(config(), response(*status, &[], body));
        assert_eq!(kind(&v), *expected, "{status} {body}: {v:?}");
    }
    assert_eq!(
        verdict(
            config(),
            response(
                401,
                &[],
                r#"{"error":"not_authorized","reason":"Login failed"}"#
            )
        ),
        Verdict::Permanent {
            error: "RabbitMQ HTTP 401 not_authorized: Login failed (check username and \
                    password, and that vhost '/' exists and the user may write to it)"
                .into()
        }
    );
    assert_eq!(
        verdict(
            config(),
            response(
                400,
                &[],
                r#"{"error":"bad_request","reason":"404 NOT_FOUND - no exchange 'missing' in vhost '/'"}"#
            )
        ),
        Verdict::Permanent {
            error:
                "RabbitMQ HTTP 400 bad_request: 404 NOT_FOUND - no exchange 'missing' in vhost '/'"
                    .into()
        }
    );
    let Verdict::Permanent { error } = verdict(config(), response(200, &[], r#"{"routed":false}"#))
    else {
        panic!("unrouted is permanent")
    };
    assert!(
        error.contains("'orders'") && error.contains("'order.created'"),
        "{error}"
    );
    let allow = RabbitMqConfig {
        allow_unrouted: true,
        ..config()
    };
    assert_eq!(
        verdict(allow, response(200, &[], r#"{"routed":false}"#)),
        Verdict::Delivered
    );
    assert_eq!(
        verdict(config(), response(503, &[("retry-after", "5")], "")),
        Verdict::Transient {
            error: "RabbitMQ HTTP 503".into(),
            retry_after_ms: Some(5_000)
        }
    );
    assert_eq!(
        kind(&verdict(
            config(),
            Err(TransportError::Network("connection refused".into()))
        )),
        "transient"
    );
    assert_eq!(
        kind(&verdict(
            config(),
            Err(TransportError::Timeout { after_ms: 100 })
        )),
        "transient"
    );
}

#[test]
fn config_parsing_and_validation() {
    let json = serde_json::json!({
        "endpoint": "https://rabbit.example.com:15672",
        "exchange": "orders",
        "username": "sluice",
        "password": "s3cret"
    });
    let c: RabbitMqConfig = from_value(json, "config").unwrap();
    assert_eq!(c, config());
    assert!(c.validate(false).is_empty(), "{:?}", c.validate(false));
    assert_eq!(c.masked().password, MASK);
    assert_eq!(c.masked().username, "sluice");
    let e = from_value::<RabbitMqConfig>(
        serde_json::json!({"endpoint": "https://r.example", "username": "u", "password": "p"}),
        "config",
    )
    .unwrap_err();
    assert_eq!(e.field, "config.exchange");

    let bad = RabbitMqConfig {
        endpoint: "http://127.0.0.1:15672?x=1".into(),
        vhost: String::new(),
        exchange: "e\n".into(),
        routing_key: "{nope}".into(),
        username: "a:b".into(),
        password: String::new(),
        allow_unrouted: false,
    };
    let fields: Vec<String> = bad.validate(true).into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            "config.endpoint",
            "config.vhost",
            "config.password",
            "config.username",
            "config.exchange",
            "config.routing_key"
        ]
    );
    let local = RabbitMqConfig {
        endpoint: "http://127.0.0.1:15672".into(),
        ..config()
    };
    assert!(local.validate(true).is_empty());
    assert_eq!(local.validate(false)[0].field, "config.endpoint");
    let long = RabbitMqConfig {
        exchange: "x".repeat(256),
        ..config()
    };
    assert_eq!(long.validate(false)[0].field, "config.exchange");
}
