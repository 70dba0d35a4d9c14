//! The AWS client: endpoints, SigV4 signatures against botocore, error shapes.

use super::errors::short_code;
use super::*;
use crate::core::classify::Verdict;
use crate::core::wire::{HttpRequest, HttpResponse};
use crate::providers::testing::creds;

/// The AWS SigV4 test suite's `get-vanilla` case (aws-sig-v4-test-suite): GET / on
/// example.amazonaws.com, 2015-08-30T12:36:00Z, service `service`, region `us-east-1`.
#[test]
fn signs_the_aws_test_suite_vanilla_get() {
    let mut request = HttpRequest {
        method: "GET",
        url: "https://example.amazonaws.com/".into(),
        headers: vec![],
        body: vec![],
    };
    sign(
        &mut request,
        &creds(),
        "us-east-1",
        "service",
        SigningRules::Standard,
        1_440_938_160_000,
    )
    .unwrap();
    assert_eq!(request.header("x-amz-date"), Some("20150830T123600Z"));
    assert_eq!(
        request.header("authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        )
    );
    // Signing again replaces, never duplicates, the signing headers.
    sign(
        &mut request,
        &creds(),
        "us-east-1",
        "service",
        SigningRules::Standard,
        1_440_938_160_000,
    )
    .unwrap();
    let dates = request
        .headers
        .iter()
        .filter(|(k, _)| k == "x-amz-date")
        .count();
    assert_eq!(dates, 1);
}

#[test]
fn session_token_is_signed_and_sent() {
    let mut c = creds();
    c.session_token = Some("token-123".into());
    let mut request = HttpRequest {
        method: "GET",
        url: "https://example.amazonaws.com/".into(),
        headers: vec![],
        body: vec![],
    };
    sign(
        &mut request,
        &c,
        "us-east-1",
        "service",
        SigningRules::Standard,
        1_440_938_160_000,
    )
    .unwrap();
    assert_eq!(request.header("x-amz-security-token"), Some("token-123"));
    assert!(request
        .header("authorization")
        .unwrap()
        .contains("SignedHeaders=host;x-amz-date;x-amz-security-token"));
}

#[test]
fn credentials_debug_hides_secrets() {
    let mut c = creds();
    c.session_token = Some("tok-secret".into());
    let shown = format!("{c:?}");
    assert!(shown.contains("AKIDEXAMPLE"));
    assert!(!shown.contains("EXAMPLEKEY") && !shown.contains("tok-secret"));
}

#[test]
fn credential_and_region_checks() {
    assert!(creds().validate("config").is_empty());
    let bad = AwsCredentials {
        access_key_id: "has space".into(),
        secret_access_key: String::new(),
        session_token: Some(String::new()),
    };
    let fields: Vec<_> = bad
        .validate("config")
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        [
            "config.access_key_id",
            "config.secret_access_key",
            "config.session_token"
        ]
    );
    for ok in ["us-east-1", "us-gov-west-1", "eu-central-2"] {
        assert!(check_region("config.region", ok).is_none(), "{ok}");
    }
    for bad in ["", "US-EAST-1", "us-east-1.", "us east", "-us", "us-"] {
        assert!(check_region("config.region", bad).is_some(), "{bad:?}");
    }
    assert!(check_endpoint("e", "http://localhost:4566", true).is_none());
    assert!(check_endpoint("e", "http://localhost:4566/", true).is_none());
    assert!(check_endpoint("e", "http://localhost:4566", false).is_some());
    assert!(check_endpoint("e", "https://x.example/path", true).is_some());
}

/// The base is what `fetch` sends (host lower-cased, IPv4 shorthand expanded, default
/// port dropped), so the host signed is the host sent. An internationalised host is taken
/// in its punycode form only: without Unicode tables in the wasm, its Unicode form is
/// refused when the destination is created (`check_url`), never signed as one host and
/// sent as another.
#[test]
fn endpoints_are_used_in_canonical_form() {
    for (raw, base) in [
        ("http://localhost:4566", "http://localhost:4566"),
        ("http://localhost:4566/", "http://localhost:4566"),
        ("http://LOCALHOST:4566", "http://localhost:4566"),
        (
            "HTTP://LocalStack.Example:4566/",
            "http://localstack.example:4566",
        ),
        ("http://127.1:9000", "http://127.0.0.1:9000"),
        ("http://0x7f.0.0.1:9000", "http://127.0.0.1:9000"),
        ("https://minio.example:443", "https://minio.example"),
        ("http://[0:0::1]:4566", "http://[::1]:4566"),
        (
            "https://XN--BCHER-KVA.example",
            "https://xn--bcher-kva.example",
        ),
    ] {
        assert_eq!(endpoint_base(raw), base, "{raw}");
    }
    let refused = crate::core::validate::check_url("https://bücher.example", false);
    assert!(refused.is_err(), "{refused:?}");
}

#[test]
fn signed_header_values_are_printable_ascii() {
    assert!(check_signed_header_value("application/json; charset=utf-8").is_ok());
    assert!(check_signed_header_value(" !~").is_ok());
    for bad in ["text/plain; name=café", "a\tb", "a\u{7f}", "\u{a0}", "x\ny"] {
        assert!(check_signed_header_value(bad).is_err(), "{bad:?}");
    }
    let mut c = creds();
    c.session_token = Some("tøken".into());
    let fields: Vec<_> = c.validate("config").into_iter().map(|e| e.field).collect();
    assert_eq!(fields, ["config.session_token"]);
}

#[test]
fn error_shapes_are_read() {
    let r = HttpResponse {
        status: 400,
        headers: vec![(
            "x-amzn-query-error".into(),
            "AWS.SimpleQueueService.NonExistentQueue;Sender".into(),
        )],
        body: r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#.into(),
    };
    let e = AwsError::from_json(&r);
    assert_eq!(e.code.as_deref(), Some("QueueDoesNotExist"));
    assert_eq!(
        e.query_code.as_deref(),
        Some("AWS.SimpleQueueService.NonExistentQueue")
    );
    assert_eq!(
        error_verdict("SQS", &r, &e, 0),
        Verdict::Permanent {
            error: "SQS HTTP 400 QueueDoesNotExist (AWS.SimpleQueueService.NonExistentQueue): \
                    The specified queue does not exist."
                .into()
        }
    );
    let x = HttpResponse {
        status: 503,
        headers: vec![],
        body: "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce \
               your request rate &amp; retry.</Message></Error>"
            .into(),
    };
    let e = AwsError::from_xml(&x);
    assert_eq!(e.code.as_deref(), Some("SlowDown"));
    assert_eq!(
        e.message.as_deref(),
        Some("Please reduce your request rate & retry.")
    );
    assert_eq!(
        short_code("InvalidSignatureException:http://internal.amazon.com/"),
        "InvalidSignatureException"
    );
}

/// One target, one URL rule for every service: the endpoint override as `fetch` sends it,
/// else the service's regional host (China under `.com.cn`).
#[test]
fn a_target_gives_each_service_its_url() {
    let mut t = crate::providers::testing::target("eu-west-1");
    assert_eq!(t.service_url(&SQS), "https://sqs.eu-west-1.amazonaws.com/");
    assert_eq!(
        t.service_url(&EVENTBRIDGE),
        "https://events.eu-west-1.amazonaws.com/"
    );
    t.region = "cn-north-1".into();
    assert_eq!(
        t.service_url(&S3),
        "https://s3.cn-north-1.amazonaws.com.cn/"
    );
    t.endpoint = Some("HTTP://LocalHost:4566/".into());
    assert_eq!(t.service_url(&S3), "http://localhost:4566/");
    assert!(t.validate("config", true).is_empty());
    t.region = "EU".into();
    let fields: Vec<_> = t
        .validate("config", false)
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(fields, ["config.region", "config.endpoint"]);
}

/// The target's JSON is the flat fields that every AWS config has always had.
#[test]
fn a_target_reads_and_writes_flat_fields() {
    let json = serde_json::json!({"region": "us-east-1", "access_key_id": "AKIDEXAMPLE",
        "secret_access_key": "s", "session_token": "t"});
    let t: AwsTarget = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(t.credentials.session_token.as_deref(), Some("t"));
    assert_eq!(t.endpoint, None);
    assert_eq!(serde_json::to_value(&t).unwrap(), json);
}

/// A JSON-protocol call is `POST` with the operation in `x-amz-target`, signed.
#[test]
fn a_json_call_is_signed_for_its_service() {
    let t = crate::providers::testing::target("us-east-1");
    let r = t
        .json_call(
            &SQS,
            "https://sqs.us-east-1.amazonaws.com/".into(),
            "AmazonSQS.SendMessage",
            b"{}".to_vec(),
            crate::providers::testing::NOW,
        )
        .unwrap();
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));
    assert_eq!(r.header("x-amz-target"), Some("AmazonSQS.SendMessage"));
    assert!(r
        .header("authorization")
        .unwrap()
        .contains("/us-east-1/sqs/aws4_request"));
    assert!(t
        .json_call(&S3, "https://x/".into(), "Op", vec![], 0)
        .is_err());
}
