//! Field errors, URLs and the private-address guard, header names and values, free text.

#[test]
fn json_paths() {
    assert_eq!(
        super::sqlite_json_path("order.items[0].sku").unwrap(),
        "$.order.items[0].sku"
    );
    assert_eq!(super::sqlite_json_path("a[1][2]").unwrap(), "$.a[1][2]");
    for bad in [
        "", "a..b", ".a", "a.", "a[", "a[x]", "a[1]b", "a-b", "a'b", "$.a", "a[]",
    ] {
        assert!(
            super::sqlite_json_path(bad).is_err(),
            "{bad:?} should be refused"
        );
    }
}

use super::*;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Inner {
    token: String,
}
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Outer {
    auth: Inner,
    n: u32,
}

#[test]
fn errors_name_the_field() {
    let e = from_value::<Outer>(serde_json::json!({"auth": {"token": 5}, "n": 1}), "config")
        .unwrap_err();
    assert_eq!(e.field, "config.auth.token");
    let e = from_value::<Outer>(
        serde_json::json!({"auth": {"token": "t", "x": 1}, "n": 1}),
        "",
    )
    .unwrap_err();
    assert_eq!(e.field, "auth.x");
    assert_eq!(e.message, "unknown field 'x'");
    let e = from_value::<Outer>(serde_json::json!({"auth": {"token": "t"}}), "").unwrap_err();
    assert_eq!(e.field, "n");
    assert_eq!(e.message, "this field is required");
    let e = from_value::<Outer>(serde_json::json!({"auth": {}, "n": 1}), "config").unwrap_err();
    assert_eq!(e.field, "config.auth.token");
    let e = from_value::<Outer>(serde_json::json!("text"), "").unwrap_err();
    assert_eq!(e.field, "body");
}

#[test]
fn urls() {
    assert!(check_url("https://example.com/hook?x=1", false).is_ok());
    // Public addresses, including IPv6 ones that embed a public IPv4 address.
    for public in [
        "http://93.184.215.14/",
        "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/",
        "http://[64:ff9b::5db8:d70e]/",
        "http://[2002:5db8:d70e::1]/",
        "http://[::ffff:93.184.215.14]/",
        "http://[::ffff:0:5db8:d70e]/",
        "http://198.20.0.1/",
        "http://192.0.3.1/",
        "http://[2001:4860:4860::8888]/",
        "http://[2400:cb00::1]/",
    ] {
        assert!(check_url(public, false).is_ok(), "{public} is public");
    }
    for bad in [
        "ftp://example.com",
        "example.com/hook",
        "https://user:pw@example.com",
        "http://",
        "javascript:alert(1)",
    ] {
        assert!(check_url(bad, true).is_err(), "{bad} should be refused");
    }
    for private in [
        "http://127.0.0.1:8080",
        "http://localhost/x",
        "http://10.1.2.3",
        "http://192.168.1.1",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1",
        // IPv4 inside IPv6: compatible, NAT64 and 6to4 forms of loopback and metadata.
        "http://[::127.0.0.1]/",
        "http://[::a9fe:a9fe]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[64:ff9b::169.254.169.254]/",
        "http://[2002:7f00:1::]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[fec0::1]/",
        // Multicast, reserved, and addresses spelled as numbers.
        "http://224.0.0.1",
        "http://[ff02::1]/",
        "http://240.0.0.1",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://0/",
        // The rest of the IANA special-purpose registries.
        "http://192.0.0.1/",
        "http://192.0.0.170/",
        "http://192.0.2.1/",
        "http://198.18.0.1/",
        "http://198.19.255.254/",
        "http://198.51.100.7/",
        "http://203.0.113.9/",
        "http://192.88.99.1/",
        "http://192.31.196.1/",
        "http://192.175.48.1/",
        "http://192.52.193.1/",
        "http://0.1.2.3/",
        "http://[::ffff:0:7f00:1]/",
        "http://[::ffff:0:a9fe:a9fe]/",
        "http://[::ffff:0:0]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:198.18.0.1]/",
        "http://[64:ff9b:1::5db8:d70e]/",
        "http://[64:ff9b:1:ffff::1]/",
        "http://[64:ff9b::c612:1]/",
        "http://[100::1]/",
        "http://[2001::1]/",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        "http://[2001:2::1]/",
        "http://[2001:10::1]/",
        "http://[2001:db8::1]/",
        "http://[2002:c612:1::]/",
        "http://[2620:4f:8000::1]/",
        "http://[3fff::1]/",
        "http://[5f00::1]/",
        "http://[::2]/",
    ] {
        assert!(
            check_url(private, false).is_err(),
            "{private} should be refused"
        );
        assert!(
            check_url(private, true).is_ok(),
            "{private} allowed in development"
        );
    }
}

#[test]
fn https_required_in_every_endpoint_field() {
    let config = serde_json::json!({
        "url": "http://a.example/x",
        "endpoint": "https://b.example",
        "queue_url": "HTTP://c.example/1/q",
        "service_account": {"token_uri": "http://d.example/token", "url_like": "http://e"},
        "headers": {"url": 5},
        "other": "http://f.example",
    });
    let mut fields: Vec<String> = check_https(&config).into_iter().map(|e| e.field).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "config.queue_url",
            "config.service_account.token_uri",
            "config.url"
        ]
    );
    assert_eq!(
        check_https(&serde_json::json!({"url": "https://a.example", "endpoint": "nonsense"})),
        vec![]
    );
}

#[test]
fn headers_refuse_injection() {
    assert!(check_header_name("X-Api-Key").is_ok());
    assert!(check_header_name("bad header").is_err());
    assert!(check_header_name("bad:header").is_err());
    assert!(check_header_value("ok value\twith tab").is_ok());
    assert!(check_header_value("evil\r\nx-injected: 1").is_err());
    assert!(check_header_value("nul\0").is_err());
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[allow(dead_code)]
enum Auth {
    Bearer { token: String },
    Basic { username: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Hook {
    url: String,
    auth: Auth,
    #[serde(default)]
    events: Vec<Inner>,
}

fn field_of<T: serde::de::DeserializeOwned + std::fmt::Debug>(text: &str) -> (String, String) {
    match from_slice::<T>(text.as_bytes(), "config").unwrap_err() {
        BodyError::Field(f) => (f.field, f.message),
        BodyError::Malformed(why) => panic!("{text}: malformed: {why}"),
    }
}

#[test]
fn a_failure_is_placed_by_where_the_reader_stopped() {
    let cases = [
        // A field missing from an object whose last value is itself an object, with no
        // whitespace to tell the object's end from its value's.
        (
            r#"{"auth":{"type":"bearer","token":"t"}}"#,
            "config.url",
            "this field is required",
        ),
        // Inside an internally tagged value (read from the object it buffered).
        (
            r#"{"url":"u","auth":{"type":"bearer"}}"#,
            "config.auth.token",
            "this field is required",
        ),
        (
            r#"{"auth":{"type":"basic","username":7},"url":"u"}"#,
            "config.auth",
            "invalid type: integer `7`, expected a string",
        ),
        // Arrays count their elements.
        (
            r#"{"url":"u","auth":{"type":"basic","username":"a"},"events":[{"token":"a"},{"token":5}]}"#,
            "config.events[1].token",
            "invalid type: integer `5`, expected a string",
        ),
        (
            r#"{"url":"u","auth":{"type":"basic","username":"a"},"events":[{"token":"a"},{}]}"#,
            "config.events[1].token",
            "this field is required",
        ),
        (
            r#" { "url" : 5 } "#,
            "config.url",
            "invalid type: integer `5`, expected a string",
        ),
        // Keys with escapes and brackets in strings.
        (
            r#"{"url":"}]","auth":{"type":"bearer","token":"t"},"x\u0079":1}"#,
            "config.xy",
            "unknown field 'xy'",
        ),
        (
            r#"{"url":{"a":1},"auth":{"type":"bearer","token":"t"}}"#,
            "config.url",
            "invalid type: map, expected a string",
        ),
        // A struct is read from an object only (serde alone takes an array, field by field).
        (
            r#"[1]"#,
            "config",
            "invalid type: sequence, expected struct Hook",
        ),
        (
            r#""text""#,
            "config",
            "invalid type: string \"text\", expected struct Hook",
        ),
    ];
    for (text, field, message) in cases {
        assert_eq!(
            field_of::<Hook>(text),
            (field.to_string(), message.to_string()),
            "{text}"
        );
    }
}

#[test]
fn bodies_that_are_not_json_or_not_utf8_are_malformed() {
    for bad in [&b"{\"url\": "[..], b"{} x", b"{\"url\": \"\xff\"}"] {
        assert!(
            matches!(from_slice::<Hook>(bad, ""), Err(BodyError::Malformed(_))),
            "{bad:?}"
        );
    }
}
