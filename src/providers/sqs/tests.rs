//! SQS: SendMessage and SendMessageBatch requests, FIFO fields, outcomes.

use super::*;
use crate::core::validate::from_value;
use crate::core::wire::TransportError;
use crate::providers::aws;
use crate::providers::testing::{delivery, kinds, response, target, NOW};

fn config(queue_url: &str, region: &str) -> SqsConfig {
    SqsConfig {
        queue_url: queue_url.into(),
        aws: target(region),
        message_group_id: None,
        message_group_id_from_metadata: None,
    }
}

fn standard() -> Sqs {
    Sqs::new(config(
        "https://sqs.us-east-1.amazonaws.com/123456789012/orders",
        "us-east-1",
    ))
}

// The expected `authorization` values below were computed independently with botocore
// 1.44.5: `botocore.auth.SigV4Auth(Credentials(AKIDEXAMPLE, wJalr…KEY[, token]), "sqs",
// region).add_auth(AWSRequest(…))` on the same method, URL, headers and body, with
// `botocore.auth.get_current_datetime` frozen at 2023-11-14T22:13:20Z (`NOW`).

/// `SendMessage` for one delivery, body as in the SQS API reference (JSON protocol).
#[test]
fn send_message_wire_format() {
    let request = standard()
        .build(&[delivery("evt_1", r#"{"order":1}"#)], NOW)
        .unwrap()
        .expect_http();
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "https://sqs.us-east-1.amazonaws.com/");
    assert_eq!(
        String::from_utf8(request.body.clone()).unwrap(),
        r#"{"QueueUrl":"https://sqs.us-east-1.amazonaws.com/123456789012/orders","MessageBody":"{\"order\":1}","MessageAttributes":{"sluice-attempt":{"DataType":"Number","StringValue":"3"},"sluice-event-id":{"DataType":"String","StringValue":"evt_1"},"sluice-topic":{"DataType":"String","StringValue":"order.created"}}}"#
    );
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "AmazonSQS.SendMessage"),
            ("x-amz-date", "20231114T221320Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/sqs/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
                 Signature=9fcb538d42c6f2d0fa6fba2ccc2bece530b9dc48eaa83f3774265fa67912a82f"
            ),
        ]
    );
}

/// `SendMessageBatch` to a FIFO queue with temporary credentials: entry ids are batch
/// indexes, the group comes from metadata (else "default"), deduplication by event id.
#[test]
fn send_message_batch_fifo_wire_format() {
    let mut c = config(
        "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo",
        "eu-west-1",
    );
    c.aws.credentials.session_token = Some("session-token-example".into());
    c.message_group_id_from_metadata = Some("customer".into());
    let mut first = delivery("evt_1", r#"{"order":1}"#);
    first.metadata.insert("customer".into(), "c-42".into());
    let second = delivery("evt_2", r#"{"order":2}"#);
    let request = Sqs::new(c)
        .build(&[first, second], NOW)
        .unwrap()
        .expect_http();
    assert_eq!(request.url, "https://sqs.eu-west-1.amazonaws.com/");
    assert_eq!(
        String::from_utf8(request.body.clone()).unwrap(),
        concat!(
            r#"{"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo","Entries":["#,
            r#"{"Id":"0","MessageBody":"{\"order\":1}","MessageAttributes":{"sluice-attempt":{"DataType":"Number","StringValue":"3"},"sluice-event-id":{"DataType":"String","StringValue":"evt_1"},"sluice-topic":{"DataType":"String","StringValue":"order.created"}},"MessageGroupId":"c-42","MessageDeduplicationId":"evt_1"},"#,
            r#"{"Id":"1","MessageBody":"{\"order\":2}","MessageAttributes":{"sluice-attempt":{"DataType":"Number","StringValue":"3"},"sluice-event-id":{"DataType":"String","StringValue":"evt_2"},"sluice-topic":{"DataType":"String","StringValue":"order.created"}},"MessageGroupId":"default","MessageDeduplicationId":"evt_2"}]}"#
        )
    );
    assert_eq!(
        request.header("x-amz-target"),
        Some("AmazonSQS.SendMessageBatch")
    );
    assert_eq!(
        request.header("x-amz-security-token"),
        Some("session-token-example")
    );
    assert_eq!(
        request.header("authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-west-1/sqs/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
             Signature=60d6a1bc42882de13f64b791cff04a5efbfb0538ec1d22a9bc4c4c29977bda1b"
        )
    );
}

#[test]
fn endpoint_override_and_group_ids() {
    let mut c = config("http://localhost:4566/000000000000/jobs.fifo", "us-east-1");
    c.aws.endpoint = Some("http://localhost:4566".into());
    c.message_group_id = Some("jobs".into());
    c.message_group_id_from_metadata = Some("tenant".into());
    let sqs = Sqs::new(c);
    let mut d = delivery(&"e".repeat(128), "{}");
    d.metadata.insert("tenant".into(), "has space".into());
    let request = sqs.build(&[d.clone()], NOW).unwrap().expect_http();
    assert_eq!(request.url, "http://localhost:4566/");
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    // 128 allowed characters pass as they are; a space is not allowed, so it is hashed.
    assert_eq!(body["MessageDeduplicationId"], "e".repeat(128));
    assert_eq!(
        body["MessageGroupId"],
        aws::sha256_hex(b"has space").as_str()
    );
    d.metadata.clear();
    let body: serde_json::Value =
        serde_json::from_slice(&sqs.build(&[d], NOW).unwrap().expect_http().body).unwrap();
    assert_eq!(body["MessageGroupId"], "jobs");
    assert_eq!(sqs_id(&"x".repeat(129)).len(), 64);
}

#[test]
fn standard_queues_get_no_fifo_fields() {
    let request = standard()
        .build(&[delivery("evt_1", "{}")], NOW)
        .unwrap()
        .expect_http();
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert!(body.get("MessageGroupId").is_none());
    assert!(body.get("MessageDeduplicationId").is_none());
}

#[test]
fn batches_fit_the_size_limit() {
    let big = format!("\"{}\"", "a".repeat(100_000));
    let huge = format!("\"{}\"", "a".repeat(MAX_BATCH_BYTES));
    let batch = [
        delivery("evt_1", &big),
        delivery("evt_2", &huge),
        delivery("evt_3", &big),
        delivery("evt_4", &big),
        delivery("evt_5", "{}"),
    ];
    let request = standard().build(&batch, NOW).unwrap().expect_http();
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    let ids: Vec<&str> = body["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["0", "2"]);
    let ok = r#"{"Successful":[{"Id":"0","MessageId":"m0","MD5OfMessageBody":"x"},{"Id":"2","MessageId":"m2","MD5OfMessageBody":"y"}],"Failed":[]}"#;
    let verdicts = standard().interpret(&batch, &response(200, &[], ok), NOW);
    assert_eq!(
        kinds(&verdicts),
        [
            "delivered",
            "permanent",
            "delivered",
            "transient",
            "transient"
        ]
    );
    // Only too-large messages: nothing to send, and the error says why.
    let err = standard()
        .build(&[delivery("evt_2", &huge)], NOW)
        .unwrap_err();
    assert!(err.contains("262144"), "{err}");
    // Eleven small ones: ten go, one waits.
    let eleven: Vec<_> = (0..11).map(|i| delivery(&format!("e{i}"), "{}")).collect();
    let body: serde_json::Value =
        serde_json::from_slice(&standard().build(&eleven, NOW).unwrap().expect_http().body)
            .unwrap();
    assert_eq!(body["Entries"].as_array().unwrap().len(), 10);
}

/// `SendMessageBatch` partial failure, shaped as in the API reference.
#[test]
fn batch_partial_failure() {
    let batch: Vec<_> = (0..4).map(|i| delivery(&format!("e{i}"), "{}")).collect();
    let body = r#"{
        "Successful": [{"Id": "0", "MessageId": "a", "MD5OfMessageBody": "99914b932bd37a50b983c5e7c90ae93b"}],
        "Failed": [
            {"Id": "1", "SenderFault": true, "Code": "InvalidParameterValue", "Message": "Message too long"},
            {"Id": "2", "SenderFault": false, "Code": "InternalError", "Message": "try again"}
        ]
    }"#;
    let verdicts = standard().interpret(&batch, &response(200, &[], body), NOW);
    assert_eq!(
        kinds(&verdicts),
        ["delivered", "permanent", "transient", "transient"]
    );
    assert_eq!(
        verdicts[1],
        Verdict::Permanent {
            error: "SQS entry failed: InvalidParameterValue: Message too long".into()
        }
    );
    let garbled = standard().interpret(&batch, &response(200, &[], "<html>"), NOW);
    assert_eq!(kinds(&garbled), ["transient"; 4]);
}

/// Error bodies as SQS sends them over the JSON protocol (`__type`, `message`, and the
/// Query-compatible `x-amzn-query-error` header).
#[test]
fn request_errors() {
    let one = [delivery("evt_1", "{}")];
    let q = "x-amzn-query-error";
    // (status, headers, body, expected verdict)
    type Case<'a> = (u16, &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: &[Case] = &[
        (
            200,
            &[],
            r#"{"MessageId":"m","MD5OfMessageBody":"x"}"#,
            "delivered",
        ),
        (
            400,
            &[(q, "AWS.SimpleQueueService.NonExistentQueue;Sender")],
            r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
            "permanent",
        ),
        (
            403,
            &[(q, "InvalidClientTokenId;Sender")],
            r#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
            "permanent",
        ),
        (
            403,
            &[(q, "SignatureDoesNotMatch;Sender")],
            r#"{"__type":"com.amazon.coral.service#InvalidSignatureException","message":"The request signature we calculated does not match the signature you provided."}"#,
            "permanent",
        ),
        (
            403,
            &[],
            r#"{"__type":"com.amazon.coral.service#AccessDeniedException","message":"not authorized to perform: sqs:sendmessage"}"#,
            "permanent",
        ),
        (
            400,
            &[(q, "RequestThrottled;Sender")],
            r#"{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Request is throttled."}"#,
            "transient",
        ),
        (
            400,
            &[],
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            "transient",
        ),
        (
            500,
            &[],
            r#"{"__type":"com.amazonaws.sqs#InternalError"}"#,
            "transient",
        ),
        (503, &[], "Service Unavailable", "transient"),
    ];
    for (status, headers, body, expected) in cases {
        let v = standard().interpret(&one, &response(*status, headers, body), NOW);
        assert_eq!(kinds(&v), [*expected], "{status} {body}");
    }
    let v = standard().interpret(
        &one,
        &response(
            400,
            &[(q, "AWS.SimpleQueueService.NonExistentQueue;Sender")],
            r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
        ),
        NOW,
    );
    assert_eq!(
        v,
        [Verdict::Permanent {
            error: "SQS HTTP 400 QueueDoesNotExist (AWS.SimpleQueueService.NonExistentQueue): \
                    The specified queue does not exist."
                .into()
        }]
    );
    let timeout = Err(TransportError::Timeout { after_ms: 5_000 });
    assert_eq!(
        kinds(&standard().interpret(&one, &timeout, NOW)),
        ["transient"]
    );
}

#[test]
fn config_parsing_and_validation() {
    let json = serde_json::json!({
        "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo",
        "region": "eu-west-1",
        "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": "secret",
        "message_group_id": "orders"
    });
    let c: SqsConfig = from_value(json.clone(), "config").unwrap();
    assert!(c.is_fifo());
    assert!(c.validate(false).is_empty(), "{:?}", c.validate(false));
    assert_eq!(serde_json::to_value(&c).unwrap(), json);
    let mut unknown = json.clone();
    unknown["colour"] = "blue".into();
    let e = from_value::<SqsConfig>(unknown, "config").unwrap_err();
    assert_eq!(e.field, "config.colour");
    let mut missing = json;
    missing.as_object_mut().unwrap().remove("secret_access_key");
    let e = from_value::<SqsConfig>(missing, "config").unwrap_err();
    assert_eq!(e.field, "config.secret_access_key");

    let mut bad = config("https://sqs.eu-west-1.amazonaws.com/orders", "us-east-1");
    bad.aws.endpoint = Some("http://localhost:4566".into());
    bad.message_group_id = Some("has space".into());
    bad.message_group_id_from_metadata = Some("bad field".into());
    let fields: Vec<String> = bad.validate(false).into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            "config.queue_url",
            "config.region",
            "config.endpoint",
            "config.message_group_id",
            "config.message_group_id_from_metadata"
        ]
    );
    let local = config("http://localhost:4566/000000000000/q", "us-east-1");
    assert!(local.validate(true).is_empty());
    assert_eq!(local.endpoint_url(), "http://localhost:4566/");
    // The host is signed as `fetch` sends it: lower-cased, IPv4 shorthand expanded.
    let shouting = config("http://LOCALHOST:4566/000000000000/q", "us-east-1");
    assert_eq!(shouting.endpoint_url(), "http://localhost:4566/");
    let mut short = config("https://sqs.us-east-1.amazonaws.com/1/q", "us-east-1");
    short.aws.endpoint = Some("http://127.1:9324".into());
    assert_eq!(short.endpoint_url(), "http://127.0.0.1:9324/");
    let legacy = config("https://eu-west-1.queue.amazonaws.com/1/q", "eu-west-1");
    assert_eq!(
        legacy.endpoint_url(),
        "https://sqs.eu-west-1.amazonaws.com/"
    );
    assert_eq!(local.validate(false)[0].field, "config.queue_url");
}
