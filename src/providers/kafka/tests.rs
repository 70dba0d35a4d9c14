//! Kafka through the REST Proxy: v3 and v2 requests, keys, outcomes.

use super::*;
use crate::core::wire::TransportError;
use crate::providers::testing::{delivery, kinds, response, NOW};

fn config(api_version: ApiVersion) -> KafkaConfig {
    KafkaConfig {
        endpoint: "https://pkc-abcde.us-west4.gcp.confluent.cloud:443/kafka/".into(),
        api_version,
        cluster_id: (api_version == ApiVersion::V3).then(|| "lkc-vo9pz".to_string()),
        topic: "orders".into(),
        key_field: None,
        auth: Some(KafkaAuth::Basic {
            username: "KEY".into(),
            password: "SECRET".into(),
        }),
    }
}

fn v3() -> Kafka {
    Kafka::new(config(ApiVersion::V3))
}

fn v2() -> Kafka {
    Kafka::new(config(ApiVersion::V2))
}

fn headers(request: &HttpRequest) -> Vec<(&str, &str)> {
    request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// The v3 produce request as Confluent's API reference gives it: typed key and value,
/// header values as base64 bytes, JSON in and out, basic auth.
#[test]
fn v3_wire_format() {
    let request = v3()
        .build(&[delivery("evt_1", r#"{"order":1,"a":[true]}"#)], NOW)
        .unwrap()
        .expect_http();
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.url,
        "https://pkc-abcde.us-west4.gcp.confluent.cloud:443/kafka/v3/clusters/lkc-vo9pz/topics/orders/records"
    );
    assert_eq!(
        headers(&request),
        [
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("authorization", "Basic S0VZOlNFQ1JFVA=="),
        ]
    );
    assert_eq!(
        String::from_utf8(request.body).unwrap(),
        concat!(
            r#"{"key":{"data":"evt_1","type":"STRING"},"value":{"type":"JSON","data":{"order":1,"a":[true]}},"#,
            r#""headers":[{"name":"sluice-event-id","value":"ZXZ0XzE="},"#,
            r#"{"name":"sluice-topic","value":"b3JkZXIuY3JlYXRlZA=="},"#,
            r#"{"name":"sluice-attempt","value":"Mw=="}]}"#
        )
    );
    assert_eq!(v3().max_batch(), 1);
}

#[test]
fn keys_from_a_payload_field() {
    let mut c = config(ApiVersion::V3);
    c.key_field = Some("customer.id".into());
    c.auth = None;
    let kafka = Kafka::new(c.clone());
    let body = |k: &Kafka, payload: &str| -> Value {
        serde_json::from_slice(
            &k.build(&[delivery("evt_1", payload)], NOW)
                .unwrap()
                .expect_http()
                .body,
        )
        .unwrap()
    };
    let b = body(&kafka, r#"{"customer":{"id":"c-42"}}"#);
    assert_eq!(b["key"], json!({"type": "STRING", "data": "c-42"}));
    let b = body(&kafka, r#"{"customer":{"id":42}}"#);
    assert_eq!(b["key"], json!({"type": "JSON", "data": 42}));
    let b = body(&kafka, r#"{"other":1}"#);
    assert_eq!(b["key"], json!({"type": "STRING", "data": "evt_1"}));
    let no_auth = kafka
        .build(&[delivery("evt_1", "{}")], NOW)
        .unwrap()
        .expect_http();
    assert_eq!(no_auth.header("authorization"), None);

    c.api_version = ApiVersion::V2;
    c.cluster_id = None;
    let kafka = Kafka::new(c);
    let b = body(&kafka, r#"{"customer":{"id":"c-42"}}"#);
    assert_eq!(b["records"][0]["key"], "c-42");
}

/// The v2 produce request as in the REST Proxy API reference: the JSON embedded format's
/// content type, `records` of key and value, no headers.
#[test]
fn v2_wire_format() {
    let batch = [
        delivery("evt_1", r#"{"order":1}"#),
        delivery("evt_2", r#" "text" "#),
    ];
    let request = v2().build(&batch, NOW).unwrap().expect_http();
    assert_eq!(
        request.url,
        "https://pkc-abcde.us-west4.gcp.confluent.cloud:443/kafka/topics/orders"
    );
    assert_eq!(
        headers(&request),
        [
            ("content-type", "application/vnd.kafka.json.v2+json"),
            ("accept", "application/vnd.kafka.v2+json"),
            ("authorization", "Basic S0VZOlNFQ1JFVA=="),
        ]
    );
    assert_eq!(
        String::from_utf8(request.body).unwrap(),
        r#"{"records":[{"key":"evt_1","value":{"order":1}},{"key":"evt_2","value":"text"}]}"#
    );
    assert_eq!(v2().max_batch(), MAX_V2_RECORDS);
}

#[test]
fn v2_batches_respect_the_record_and_byte_limits() {
    let many: Vec<_> = (0..MAX_V2_RECORDS + 1)
        .map(|i| delivery(&format!("e{i}"), "{}"))
        .collect();
    let body: Value =
        serde_json::from_slice(&v2().build(&many, NOW).unwrap().expect_http().body).unwrap();
    assert_eq!(body["records"].as_array().unwrap().len(), MAX_V2_RECORDS);

    let big = format!("\"{}\"", "a".repeat(600_000));
    let huge = format!("\"{}\"", "a".repeat(MAX_V2_BATCH_BYTES + 10));
    // The first record goes whatever its size; a record that does not fit waits, and
    // everything after it too (order); data that is not JSON can never go.
    let batch = [delivery("evt_1", &huge), delivery("evt_2", "{}")];
    let body: Value =
        serde_json::from_slice(&v2().build(&batch, NOW).unwrap().expect_http().body).unwrap();
    assert_eq!(body["records"].as_array().unwrap().len(), 1);
    let batch = [
        delivery("evt_1", "not json"),
        delivery("evt_2", &big),
        delivery("evt_3", &big),
        delivery("evt_4", "{}"),
    ];
    let body: Value =
        serde_json::from_slice(&v2().build(&batch, NOW).unwrap().expect_http().body).unwrap();
    assert_eq!(body["records"][0]["key"], "evt_2");
    assert_eq!(body["records"].as_array().unwrap().len(), 1);
    let ok = r#"{"key_schema_id":null,"value_schema_id":null,"offsets":[{"partition":0,"offset":7,"error_code":null,"error":null}]}"#;
    let verdicts = v2().interpret(&batch, &response(200, &[], ok), NOW);
    assert_eq!(
        kinds(&verdicts),
        ["permanent", "delivered", "transient", "transient"]
    );
    assert!(matches!(
        &verdicts[2],
        Verdict::Transient {
            retry_after_ms: Some(0),
            ..
        }
    ));
    let err = v2().build(&batch[..1], NOW).unwrap_err();
    assert!(err.contains("not JSON"), "{err}");
}

/// A v2 answer with per-record errors, shaped as in the API reference: `error_code` 1 is a
/// non-retriable Kafka exception, 2 a retriable one.
#[test]
fn v2_per_record_errors() {
    let batch: Vec<_> = (0..4).map(|i| delivery(&format!("e{i}"), "{}")).collect();
    let body = r#"{"key_schema_id":null,"value_schema_id":null,"offsets":[
        {"partition":0,"offset":10,"error_code":null,"error":null},
        {"partition":null,"offset":null,"error_code":2,"error":"NotEnoughReplicasException"},
        {"partition":null,"offset":null,"error_code":1,"error":"RecordTooLargeException"}
    ]}"#;
    let verdicts = v2().interpret(&batch, &response(200, &[], body), NOW);
    assert_eq!(
        kinds(&verdicts),
        ["delivered", "transient", "permanent", "transient"]
    );
    assert_eq!(
        verdicts[2],
        Verdict::Permanent {
            error: "Kafka REST record error 1: RecordTooLargeException".into()
        }
    );
    let garbled = v2().interpret(&batch, &response(200, &[], "<html>"), NOW);
    assert_eq!(kinds(&garbled), ["transient"; 4]);
}

/// Whole-request errors in the proxy's `{"error_code", "message"}` shape.
#[test]
fn request_errors() {
    type Case<'a> = (u16, &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            404,
            &[],
            r#"{"error_code":40401,"message":"Topic not found."}"#,
            "permanent",
        ),
        (
            401,
            &[],
            r#"{"error_code":401,"message":"Unauthorized"}"#,
            "permanent",
        ),
        (
            403,
            &[],
            r#"{"error_code":40301,"message":"Not authorized"}"#,
            "permanent",
        ),
        (
            422,
            &[],
            r#"{"error_code":42201,"message":"Request includes keys and/or values that are too large."}"#,
            "permanent",
        ),
        (
            415,
            &[],
            r#"{"error_code":415,"message":"HTTP 415 Unsupported Media Type"}"#,
            "permanent",
        ),
        (
            429,
            &[("retry-after", "3")],
            r#"{"error_code":429,"message":"Too Many Requests"}"#,
            "transient",
        ),
        (
            500,
            &[],
            r#"{"error_code":50002,"message":"Kafka error"}"#,
            "transient",
        ),
        (503, &[], "Service Unavailable", "transient"),
    ];
    let one = [delivery("evt_1", "{}")];
    for kafka in [v3(), v2()] {
        for (status, headers, body, expected) in cases {
            let v = kafka.interpret(&one, &response(*status, headers, body), NOW);
            assert_eq!(kinds(&v), [*expected], "{status} {body}");
        }
    }
    assert_eq!(
        v3().interpret(
            &one,
            &response(
                404,
                &[],
                r#"{"error_code":40401,"message":"Topic not found."}"#
            ),
            NOW
        ),
        [Verdict::Permanent {
            error: "Kafka REST HTTP 404 (40401): Topic not found.".into()
        }]
    );
    let v = v2().interpret(
        &one,
        &response(401, &[], r#"{"error_code":401,"message":"Unauthorized"}"#),
        NOW,
    );
    assert!(
        matches!(&v[0], Verdict::Permanent { error } if error.contains("API key")),
        "{v:?}"
    );
    assert_eq!(
        v3().interpret(&one, &response(429, &[("retry-after", "3")], "{}"), NOW),
        [Verdict::Transient {
            error: "Kafka REST HTTP 429".into(),
            retry_after_ms: Some(3_000)
        }]
    );
    let timeout = Err(TransportError::Timeout { after_ms: 5_000 });
    assert_eq!(kinds(&v3().interpret(&one, &timeout, NOW)), ["transient"]);
    assert_eq!(kinds(&v2().interpret(&one, &timeout, NOW)), ["transient"]);
}

/// v3 answers: the delivery report, or an error report in a 200 (streaming mode).
#[test]
fn v3_answers() {
    let one = [delivery("evt_1", "{}")];
    let ok = r#"{"error_code":200,"cluster_id":"lkc-vo9pz","topic_name":"orders","partition_id":0,"offset":42,"timestamp":"2023-11-14T22:13:20.000Z","key":{"type":"STRING","size":5},"value":{"type":"JSON","size":2}}"#;
    assert_eq!(
        v3().interpret(&one, &response(200, &[], ok), NOW),
        [Verdict::Delivered]
    );
    let in_band =
        r#"{"error_code":40401,"message":"This server does not host this topic-partition."}"#;
    assert_eq!(
        kinds(&v3().interpret(&one, &response(200, &[], in_band), NOW)),
        ["permanent"]
    );
    let throttled = r#"{"error_code":429,"message":"Request rate limit exceeded"}"#;
    assert_eq!(
        kinds(&v3().interpret(&one, &response(200, &[], throttled), NOW)),
        ["transient"]
    );
}
