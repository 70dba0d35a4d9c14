//! The payload travels as published: for every type that carries the event's data as JSON,
//! the request holds the publisher's text byte for byte (key order, number spelling,
//! escapes), never a re-serialised copy.

use super::*;
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::ids::{DeliveryId, EventId, TenantId};
use crate::core::wire::HttpRequest;
use serde_json::json;

const NOW: Millis = 1_764_000_000_000;

/// Keys out of order, `1.0` and `1e3`, a number past u64, `-0.0`, escapes of several kinds
/// and inner whitespace: everything a parse-and-serialise round trip would change.
const PUBLISHED: &str = r#"{"zebra": 1, "alpha": 1.0, "mango": 1e3, "caf\u00e9": "\u00e9t\u00e9 \"q\"",
 "big": 123456789012345678901234, "neg": -0.0, "list": [3, 2, 1]}"#;

fn delivery() -> QueuedDelivery {
    QueuedDelivery {
        delivery_id: DeliveryId::parse("dlv_01hf4k2m9x8y7z6w5v4t3s2r1q").unwrap(),
        tenant_id: TenantId::parse("acme").unwrap(),
        event_id: EventId::parse("evt_1").unwrap(),
        topic: "order.created".into(),
        payload: PUBLISHED.into(),
        metadata: Default::default(),
        attempts: 0,
        due_at: NOW,
        created_at: NOW,
        manual: None,
        shard: Default::default(),
    }
}

/// What a destination of this type and config sends for `delivery()`.
fn outbound(kind: &str, config: Value) -> Outbound {
    let target = Target::parse(kind, config.clone()).unwrap();
    let secrets = SecretBundle {
        config,
        signing_keys: vec![],
    };
    let provider = for_target(&target, &secrets, &Default::default(), NOW);
    provider.build(&[delivery()], NOW).unwrap()
}

/// The request of a type that speaks HTTP.
fn request(kind: &str, config: Value) -> HttpRequest {
    outbound(kind, config).expect_http()
}

fn body_text(r: &HttpRequest) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

/// A string field of a JSON body, by JSON pointer.
fn field(r: &HttpRequest, pointer: &str) -> String {
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} in {}", body_text(r)))
        .to_string()
}

fn aws(extra: Value) -> Value {
    let mut c = json!({"region": "eu-west-1", "access_key_id": "AKIDEXAMPLE",
                       "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"});
    c.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    c
}

#[test]
fn webhook_and_s3_send_the_text_as_the_body() {
    let r = request(
        "webhook",
        json!({"url": "https://example.com/h", "signing": {"scheme": "none"}}),
    );
    assert_eq!(body_text(&r), PUBLISHED);
    let r = request("aws_s3", aws(json!({"bucket": "events"})));
    assert_eq!(body_text(&r), PUBLISHED);
}

#[test]
fn sqs_eventbridge_and_rabbitmq_carry_the_text_as_their_message_string() {
    let r = request(
        "aws_sqs",
        aws(json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders"})),
    );
    assert_eq!(field(&r, "/MessageBody"), PUBLISHED);
    let r = request("aws_eventbridge", aws(json!({"event_bus_name": "orders"})));
    assert_eq!(field(&r, "/Entries/0/Detail"), PUBLISHED);
    let r = request(
        "rabbitmq",
        json!({"endpoint": "https://rabbit.example.com:15672", "exchange": "orders",
               "username": "u", "password": "p"}),
    );
    assert_eq!(field(&r, "/payload"), PUBLISHED);
}

#[test]
fn kafka_and_websocket_splice_the_text_into_their_json() {
    let v3 = request(
        "kafka",
        json!({"endpoint": "https://kafka.example.com", "cluster_id": "lkc-1", "topic": "orders"}),
    );
    assert!(
        body_text(&v3).contains(&format!(r#""value":{{"type":"JSON","data":{PUBLISHED}}}"#)),
        "{}",
        body_text(&v3)
    );
    let v2 = request(
        "kafka",
        json!({"endpoint": "https://kafka.example.com", "api_version": "v2", "topic": "orders"}),
    );
    assert!(
        body_text(&v2).contains(&format!(r#""value":{PUBLISHED}"#)),
        "{}",
        body_text(&v2)
    );
    let Outbound::Broadcast(ws) = outbound("websocket", json!({})) else {
        panic!("a WebSocket send is a broadcast");
    };
    assert!(
        ws[0].text.contains(&format!(r#""data":{PUBLISHED}"#)),
        "{}",
        ws[0].text
    );
}

#[test]
fn a_publish_body_keeps_data_as_its_text() {
    #[derive(serde::Deserialize)]
    struct Body {
        data: Box<serde_json::value::RawValue>,
    }
    let sent = format!(r#"{{"data": {PUBLISHED}}}"#);
    let body: Body = crate::core::validate::from_slice(sent.as_bytes(), "").unwrap();
    assert_eq!(body.data.get(), PUBLISHED);
}
