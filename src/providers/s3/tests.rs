//! S3: PutObject requests, keys, signatures and outcomes.

use super::*;
use crate::core::validate::from_value;
use crate::providers::testing::{delivery, response, target, NOW};

fn config() -> S3Config {
    S3Config {
        bucket: "sluice-archive".into(),
        aws: target("eu-central-1"),
        key_template: default_key_template(),
        content_type: default_content_type(),
        path_style: false,
    }
}

fn headers(request: &HttpRequest) -> Vec<(&str, &str)> {
    request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

// The expected `authorization` values below were computed independently with botocore
// 1.44.5: `botocore.auth.S3SigV4Auth(Credentials(AKIDEXAMPLE, wJalr…KEY[, token]), "s3",
// region).add_auth(AWSRequest(…))` on the same method, URL, headers and body, with
// `botocore.auth.get_current_datetime` frozen at 2023-11-14T22:13:20Z (`NOW`).
const PAYLOAD_SHA256: &str = "a781679e01308cfef90983a4c1350319a7e3993c3a3f5a8c8439781a326d7c8d";

/// Virtual-hosted `PutObject` with the default key template; the event id's ':' is
/// percent-encoded once in the URL and signed as such.
#[test]
fn put_object_wire_format() {
    let d = delivery("evt:2023.11", r#"{"order":1}"#);
    let request = S3::new(config()).build(&[d], NOW).unwrap().expect_http();
    assert_eq!(request.method, "PUT");
    assert_eq!(
        request.url,
        "https://sluice-archive.s3.eu-central-1.amazonaws.com/acme/order.created/2023/11/14/evt%3A2023.11.json"
    );
    assert_eq!(request.body, br#"{"order":1}"#);
    assert_eq!(
        headers(&request),
        [
            ("content-type", "application/json"),
            ("x-amz-meta-sluice-event-id", "evt:2023.11"),
            ("x-amz-meta-sluice-topic", "order.created"),
            ("x-amz-meta-sluice-attempt", "3"),
            ("x-amz-date", "20231114T221320Z"),
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/eu-central-1/s3/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;\
                 x-amz-meta-sluice-attempt;x-amz-meta-sluice-event-id;x-amz-meta-sluice-topic, \
                 Signature=fb1a8cdc483905796decb0e6146a387397ab7028ac44d97ca20518b27689712d"
            ),
            ("x-amz-content-sha256", PAYLOAD_SHA256),
        ]
    );
}

/// Path style against an endpoint override (LocalStack), temporary credentials, a custom
/// key template.
#[test]
fn put_object_endpoint_wire_format() {
    let mut c = config();
    c.aws.region = "us-east-1".into();
    c.aws.endpoint = Some("http://localhost:4566".into());
    c.key_template = "events/{topic}/{event_id}".into();
    c.aws.credentials.session_token = Some("session-token-example".into());
    let request = S3::new(c)
        .build(&[delivery("evt_1", r#"{"order":1}"#)], NOW)
        .unwrap()
        .expect_http();
    assert_eq!(
        request.url,
        "http://localhost:4566/sluice-archive/events/order.created/evt_1"
    );
    assert_eq!(
        request.header("x-amz-security-token"),
        Some("session-token-example")
    );
    assert_eq!(request.header("x-amz-content-sha256"), Some(PAYLOAD_SHA256));
    assert_eq!(
        request.header("authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/s3/aws4_request, \
             SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;\
             x-amz-meta-sluice-attempt;x-amz-meta-sluice-event-id;x-amz-meta-sluice-topic;\
             x-amz-security-token, \
             Signature=b46fd83d5590286045c067441d8c1bb4aa469d81b908cb80d6175d88bb098bd7"
        )
    );
}

/// An endpoint written in a non-canonical form is sent, and therefore signed, in the
/// form `fetch` sends it: the request is byte for byte the one botocore signed above.
#[test]
fn endpoint_host_is_signed_as_sent() {
    let build = |endpoint: &str| {
        let mut c = config();
        c.aws.region = "us-east-1".into();
        c.aws.endpoint = Some(endpoint.into());
        c.key_template = "events/{topic}/{event_id}".into();
        c.aws.credentials.session_token = Some("session-token-example".into());
        S3::new(c)
            .build(&[delivery("evt_1", r#"{"order":1}"#)], NOW)
            .unwrap()
            .expect_http()
    };
    let canonical = build("http://localhost:4566");
    for raw in ["http://LOCALHOST:4566", "HTTP://LocalHost:4566/"] {
        assert_eq!(build(raw), canonical, "{raw}");
    }
    assert_eq!(
        build("http://127.1:9000").url,
        "http://127.0.0.1:9000/sluice-archive/events/order.created/evt_1"
    );
}

/// AWS reads header bytes as ISO-8859-1: a content type beyond printable ASCII could
/// never be delivered, so the API refuses it, naming the field.
#[test]
fn content_type_is_printable_ascii() {
    let mut c = config();
    c.content_type = "text/plain; name=\"café\"".into();
    let errors = c.validate(false);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "config.content_type");
    assert!(errors[0].message.contains("printable ASCII"), "{errors:?}");
    c.content_type = "text/plain;\tcharset=utf-8".into();
    assert_eq!(c.validate(false)[0].field, "config.content_type");
    c.content_type = "text/csv; charset=utf-8".into();
    assert!(c.validate(false).is_empty());
}

#[test]
fn urls_and_keys() {
    let mut c = config();
    c.path_style = true;
    let d = delivery("evt_1", "{}");
    assert_eq!(
        S3::new(c).build(std::slice::from_ref(&d), NOW).unwrap().expect_http().url,
        "https://s3.eu-central-1.amazonaws.com/sluice-archive/acme/order.created/2023/11/14/evt_1.json"
    );
    assert_eq!(encode_key("a b/ü+~*.json"), "a%20b/%C3%BC%2B~%2A.json");
    let mut late = d.clone();
    late.created_at = 1_704_067_199_999; // 2023-12-31T23:59:59.999Z
    assert_eq!(
        object_key("{yyyy}-{mm}-{dd}T{hh}/{delivery_id}", &late).unwrap(),
        "2023-12-31T23/dlv_01hf4k2m9x8y7z6w5v4t3s2r1q"
    );
    let dots = delivery("..", "{}");
    assert!(object_key("{event_id}/x", &dots).is_err());
    assert!(object_key(&"k".repeat(1020).replace("kkkk", "{event_id}"), &d).is_err());
}

/// Error documents as S3 sends them.
#[test]
fn responses() {
    let one = [delivery("evt_1", "{}")];
    let s3 = S3::new(config());
    let xml = |code: &str, message: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"
        )
    };
    let cases = [
        (200, String::new(), "delivered"),
        (404, xml("NoSuchBucket", "The specified bucket does not exist"), "permanent"),
        (403, xml("AccessDenied", "Access Denied"), "permanent"),
        (403, xml("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."), "permanent"),
        (403, xml("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."), "permanent"),
        (503, xml("SlowDown", "Please reduce your request rate."), "transient"),
        (500, xml("InternalError", "We encountered an internal error. Please try again."), "transient"),
        (400, xml("RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period."), "transient"),
    ];
    for (status, body, expected) in cases {
        let v = s3.interpret(&one, &response(status, &[], &body), NOW);
        let kind = match &v[0] {
            Verdict::Delivered => "delivered",
            Verdict::Transient { .. } => "transient",
            Verdict::Permanent { .. } => "permanent",
        };
        assert_eq!(kind, expected, "{status} {body}");
    }
    let v = s3.interpret(
        &one,
        &response(
            404,
            &[],
            &xml("NoSuchBucket", "The specified bucket does not exist"),
        ),
        NOW,
    );
    assert_eq!(
        v,
        [Verdict::Permanent {
            error: "S3 HTTP 404 NoSuchBucket: The specified bucket does not exist".into()
        }]
    );
    let v = s3.interpret(&one, &response(503, &[("Retry-After", "2")], ""), NOW);
    assert_eq!(
        v,
        [Verdict::Transient {
            error: "S3 HTTP 503".into(),
            retry_after_ms: Some(2_000)
        }]
    );
}

#[test]
fn config_parsing_and_validation() {
    let c: S3Config = from_value(
        serde_json::json!({"bucket": "b-1", "region": "eu-west-1",
            "access_key_id": "AKIDEXAMPLE", "secret_access_key": "s"}),
        "config",
    )
    .unwrap();
    assert_eq!(c.key_template, default_key_template());
    assert_eq!(c.content_type, "application/json");
    assert!(!c.path_style);
    assert!(c.validate(false).is_empty());

    for bad in ["ab", "Upper", "-a-", "a..b", "192.168.1.1", "a_b"] {
        assert!(check_bucket(bad).is_err(), "{bad}");
    }
    for bad in [
        "",
        "/x/{event_id}",
        "{topic}/x",
        "{nope}/{event_id}",
        "{event_id",
        "x}{event_id}",
    ] {
        assert!(check_key_template(bad).is_err(), "{bad:?}");
    }
    let mut bad = config();
    bad.bucket = "my.bucket".into();
    bad.key_template = "{topic}".into();
    bad.content_type = "json".into();
    bad.aws.endpoint = Some("http://10.0.0.1:9000".into());
    let fields: Vec<String> = bad.validate(false).into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            "config.endpoint",
            "config.key_template",
            "config.content_type"
        ]
    );
    bad.aws.endpoint = None;
    assert_eq!(bad.validate(false)[0].field, "config.bucket");
}
