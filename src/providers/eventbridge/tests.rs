//! EventBridge: PutEvents requests and per-entry outcomes.

use super::*;
use crate::core::validate::from_value;
use crate::core::wire::TransportError;
use crate::providers::testing::{delivery, kinds, response, target, NOW};

fn config() -> EventBridgeConfig {
    EventBridgeConfig {
        event_bus_name: "orders-bus".into(),
        aws: target("us-east-1"),
        source: "sluice".into(),
    }
}

/// `PutEvents` with two entries, shaped as in the EventBridge API reference. The
/// `authorization` value was computed independently with botocore 1.44.5
/// (`SigV4Auth(Credentials(AKIDEXAMPLE, wJalr…KEY), "events", "us-east-1")` on the same
/// request, `botocore.auth.get_current_datetime` frozen at 2023-11-14T22:13:20Z).
#[test]
fn put_events_wire_format() {
    let batch = [
        delivery("evt_1", r#"{"order":1}"#),
        delivery("evt_2", r#"{"order":2}"#),
    ];
    let request = EventBridge::new(config())
        .build(&batch, NOW)
        .unwrap()
        .expect_http();
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "https://events.us-east-1.amazonaws.com/");
    assert_eq!(
        String::from_utf8(request.body.clone()).unwrap(),
        concat!(
            r#"{"Entries":["#,
            r#"{"Source":"sluice","DetailType":"order.created","Detail":"{\"order\":1}","EventBusName":"orders-bus","Resources":[]},"#,
            r#"{"Source":"sluice","DetailType":"order.created","Detail":"{\"order\":2}","EventBusName":"orders-bus","Resources":[]}]}"#
        )
    );
    let headers: Vec<(&str, &str)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AWSEvents.PutEvents"),
            ("x-amz-date", "20231114T221320Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/events/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
                 Signature=21f33acf0f9cd7fbe494b9b036988d6299cb544963e3253cdd6659276d85cc1a"
            ),
        ]
    );
}

#[test]
fn entries_fit_the_limits() {
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(100_000));
    let batch = [
        delivery("evt_1", "[1,2]"),
        delivery("evt_2", &big),
        delivery("evt_3", &big),
        delivery("evt_4", &big),
    ];
    let eb = EventBridge::new(config());
    let body: serde_json::Value =
        serde_json::from_slice(&eb.build(&batch, NOW).unwrap().expect_http().body).unwrap();
    assert_eq!(body["Entries"].as_array().unwrap().len(), 2);
    let ok = r#"{"FailedEntryCount":0,"Entries":[{"EventId":"a"},{"EventId":"b"}]}"#;
    assert_eq!(
        kinds(&eb.interpret(&batch, &response(200, &[], ok), NOW)),
        ["permanent", "delivered", "delivered", "transient"]
    );
    let err = eb.build(&[delivery("evt_1", "\"text\"")], NOW).unwrap_err();
    assert!(err.contains("JSON object"), "{err}");
}

/// A partial failure as the API reference shows it: results in request order.
#[test]
fn partial_failure() {
    let batch: Vec<_> = (0..4).map(|i| delivery(&format!("e{i}"), "{}")).collect();
    let body = r#"{"FailedEntryCount":2,"Entries":[
        {"EventId":"11710aed-b79e-4468-a20b-bb3c0c3b4860"},
        {"ErrorCode":"ThrottlingException","ErrorMessage":"Rate exceeded"},
        {"ErrorCode":"InternalFailure","ErrorMessage":"internal"},
        {"ErrorCode":"MalformedDetail","ErrorMessage":"Detail is malformed."}]}"#;
    let verdicts = EventBridge::new(config()).interpret(&batch, &response(200, &[], body), NOW);
    assert_eq!(
        kinds(&verdicts),
        ["delivered", "transient", "transient", "permanent"]
    );
    assert_eq!(
        verdicts[3],
        Verdict::Permanent {
            error: "EventBridge entry failed: MalformedDetail: Detail is malformed.".into()
        }
    );
    let short = r#"{"FailedEntryCount":0,"Entries":[{"EventId":"a"}]}"#;
    let verdicts = EventBridge::new(config()).interpret(&batch, &response(200, &[], short), NOW);
    assert_eq!(kinds(&verdicts)[1], "transient");
}

#[test]
fn request_errors() {
    let one = [delivery("evt_1", "{}")];
    let eb = EventBridge::new(config());
    let cases: &[(u16, &str, &str)] = &[
        (
            400,
            r#"{"__type":"ResourceNotFoundException","message":"Event bus orders-bus does not exist."}"#,
            "permanent",
        ),
        (
            400,
            r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
            "permanent",
        ),
        (
            400,
            r#"{"__type":"InvalidSignatureException","message":"The request signature we calculated does not match the signature you provided."}"#,
            "permanent",
        ),
        (
            400,
            r#"{"__type":"AccessDeniedException","message":"not authorized to perform: events:PutEvents"}"#,
            "permanent",
        ),
        (
            400,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            "transient",
        ),
        (
            500,
            r#"{"__type":"InternalException","message":"oops"}"#,
            "transient",
        ),
    ];
    for (status, body, expected) in cases {
        let v = eb.interpret(&one, &response(*status, &[], body), NOW);
        assert_eq!(kinds(&v), [*expected], "{body}");
    }
    let v = eb.interpret(&one, &response(400, &[], cases[0].1), NOW);
    assert_eq!(
        v,
        [Verdict::Permanent {
            error: "EventBridge HTTP 400 ResourceNotFoundException: Event bus orders-bus does not exist."
                .into()
        }]
    );
    let net = Err(TransportError::Network("reset".into()));
    assert_eq!(kinds(&eb.interpret(&one, &net, NOW)), ["transient"]);
}

#[test]
fn config_parsing_and_validation() {
    let c: EventBridgeConfig = from_value(
        serde_json::json!({"region": "eu-west-1", "access_key_id": "AKIDEXAMPLE",
            "secret_access_key": "s", "endpoint": "http://localhost:4566"}),
        "config",
    )
    .unwrap();
    assert_eq!(c.event_bus_name, "default");
    assert_eq!(c.source, "sluice");
    assert_eq!(c.endpoint_url(), "http://localhost:4566/");
    assert!(c.validate(true).is_empty());
    let mut upper = c.clone();
    upper.aws.endpoint = Some("http://LocalHost:4566/".into());
    assert_eq!(upper.endpoint_url(), "http://localhost:4566/");
    let e = from_value::<EventBridgeConfig>(
        serde_json::json!({"region": "eu-west-1", "access_key_id": "A",
            "secret_access_key": "s", "bus": "x"}),
        "config",
    )
    .unwrap_err();
    assert_eq!(e.field, "config.bus");

    let arn = "arn:aws:events:eu-west-1:123456789012:event-bus/orders";
    for ok in ["default", "aws.partner/example.com/123/x", arn] {
        assert!(check_bus(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "has space",
        "arn:aws:sqs:eu-west-1:123456789012:q",
        "arn:aws:events:eu-west-1:1:event-bus/x",
    ] {
        assert!(check_bus(bad).is_err(), "{bad}");
    }
    let mut bad = config();
    bad.event_bus_name = "no spaces".into();
    bad.aws.region = "EU".into();
    bad.source = "aws.s3".into();
    bad.aws.endpoint = Some("ftp://x".into());
    // The destination's address, then the AWS target (region, credentials, endpoint), then
    // the options, as for every AWS type.
    let fields: Vec<String> = bad.validate(false).into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            "config.event_bus_name",
            "config.region",
            "config.endpoint",
            "config.source"
        ]
    );
}
