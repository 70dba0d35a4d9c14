//! AWS S3: one `PutObject` per delivery, the event's data as the object, its id, topic and
//! attempt number as object metadata (`x-amz-meta-sluice-…`), signed with SigV4 (S3 rules:
//! payload hash in `x-amz-content-sha256`, the path signed as sent).

use crate::core::classify::Verdict;
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::time::Millis;
use crate::core::validate::{check_text, FieldError};
use crate::core::wire::{HttpRequest, TransportResult};
use crate::providers::aws::{
    self, check_endpoint, check_region, check_signed_header_value, dns_suffix, endpoint_base,
    error_verdict, response_or_verdict, AwsCredentials, AwsError,
};
use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// S3 object keys are at most 1024 bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;
/// The placeholders a key template may use; the dates are the event's creation time, UTC.
pub const KEY_PLACEHOLDERS: [&str; 8] = [
    "tenant_id",
    "topic",
    "event_id",
    "delivery_id",
    "yyyy",
    "mm",
    "dd",
    "hh",
];

fn default_key_template() -> String {
    "{tenant_id}/{topic}/{yyyy}/{mm}/{dd}/{event_id}.json".into()
}

fn default_content_type() -> String {
    "application/json".into()
}

/// The destination config of type `s3`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    pub region: String,
    #[serde(flatten)]
    pub credentials: AwsCredentials,
    /// Where each event goes, e.g. `{tenant_id}/{topic}/{yyyy}/{mm}/{dd}/{event_id}.json`.
    #[serde(default = "default_key_template")]
    pub key_template: String,
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// `https://s3.{region}.amazonaws.com/{bucket}/…` instead of
    /// `https://{bucket}.s3.{region}.amazonaws.com/…` (needed for bucket names with dots).
    #[serde(default)]
    pub path_style: bool,
    /// Another origin to send to (LocalStack, MinIO, moto); always path style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl S3Config {
    /// Every problem with the config, fields named `config.…`.
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        if let Err(e) = check_bucket(&self.bucket) {
            errors.push(FieldError::new("config.bucket", e));
        } else if self.bucket.contains('.') && !self.path_style && self.endpoint.is_none() {
            errors.push(FieldError::new(
                "config.bucket",
                "a bucket name with dots needs `path_style: true` (TLS certificates do not cover it)",
            ));
        }
        errors.extend(check_region("config.region", &self.region));
        errors.extend(self.credentials.validate("config"));
        if let Err(e) = check_key_template(&self.key_template) {
            errors.push(FieldError::new("config.key_template", e));
        }
        // Sent as `content-type`, a signed header.
        let content_type = check_signed_header_value(&self.content_type).and_then(|()| match self
            .content_type
            .split_once('/')
        {
            Some((t, s)) if !t.trim().is_empty() && !s.trim().is_empty() => Ok(()),
            _ => Err("a media type such as 'application/json'".to_string()),
        });
        if let Err(e) = content_type {
            errors.push(FieldError::new("config.content_type", e));
        }
        if let Some(endpoint) = &self.endpoint {
            errors.extend(check_endpoint("config.endpoint", endpoint, allow_private));
        }
        errors
    }

    /// The object's URL, `key` already URI-encoded.
    fn object_url(&self, encoded_key: &str) -> String {
        let (bucket, region) = (&self.bucket, &self.region);
        match &self.endpoint {
            Some(e) => format!("{}/{bucket}/{encoded_key}", endpoint_base(e)),
            None if self.path_style => {
                format!(
                    "https://s3.{region}.{}/{bucket}/{encoded_key}",
                    dns_suffix(region)
                )
            }
            None => format!(
                "https://{bucket}.s3.{region}.{}/{encoded_key}",
                dns_suffix(region)
            ),
        }
    }
}

/// S3's bucket naming rules: 3 to 63 lower-case letters, digits, '.' and '-', starting and
/// ending with a letter or digit, no "..", not shaped like an IP address.
fn check_bucket(bucket: &str) -> Result<(), String> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(bucket.chars().next())
        && edge_ok(bucket.chars().last())
        && !bucket.contains("..")
        && bucket.parse::<std::net::Ipv4Addr>().is_err();
    if valid {
        Ok(())
    } else {
        Err("3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit".into())
    }
}

fn check_key_template(template: &str) -> Result<(), String> {
    check_text(template, MAX_KEY_BYTES)?;
    if template.is_empty() || template.starts_with('/') {
        return Err("a key template is not empty and does not start with '/'".into());
    }
    let mut used = vec![];
    render(template, |name| {
        used.push(name.to_string());
        KEY_PLACEHOLDERS.contains(&name).then(String::new)
    })?;
    if !used.iter().any(|p| p == "event_id" || p == "delivery_id") {
        return Err(
            "the key must contain {event_id} or {delivery_id}, or objects overwrite each other"
                .into(),
        );
    }
    Ok(())
}

/// Replaces each `{name}` of `template` with `value(name)`; an unknown name or an unclosed
/// brace is an error.
fn render(template: &str, mut value: impl FnMut(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let literal = |text: &str| {
        if text.contains('}') {
            Err("a '}' without its '{'".to_string())
        } else {
            Ok(())
        }
    };
    while let Some(open) = rest.find('{') {
        literal(&rest[..open])?;
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("a '{' without its '}'")?;
        let name = &after[..close];
        let v = value(name).ok_or_else(|| {
            format!(
                "unknown placeholder {{{name}}}; known: {}",
                KEY_PLACEHOLDERS.join(", ")
            )
        })?;
        out.push_str(&v);
        rest = &after[close + 1..];
    }
    literal(rest)?;
    out.push_str(rest);
    Ok(out)
}

/// The object key of a delivery: the template filled in (dates from the event's creation).
pub fn object_key(template: &str, d: &QueuedDelivery) -> Result<String, String> {
    let created = DateTime::<Utc>::from_timestamp_millis(d.created_at).unwrap_or_default();
    let key = render(template, |name| {
        Some(match name {
            "tenant_id" => d.tenant_id.to_string(),
            "topic" => d.topic.clone(),
            "event_id" => d.event_id.to_string(),
            "delivery_id" => d.delivery_id.to_string(),
            "yyyy" => format!("{:04}", created.year()),
            "mm" => format!("{:02}", created.month()),
            "dd" => format!("{:02}", created.day()),
            "hh" => format!("{:02}", created.hour()),
            _ => return None,
        })
    })?;
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!("the object key must be 1 to {MAX_KEY_BYTES} bytes"));
    }
    // URL parsers (the runtime's `fetch` too) resolve "." and ".." segments, which would
    // send the object elsewhere than what was signed.
    if key.split('/').any(|s| s == "." || s == "..") {
        return Err(format!("the object key '{key}' has a '.' or '..' segment"));
    }
    Ok(key)
}

/// SigV4's `UriEncode` of an object key: every byte but `A-Z a-z 0-9 - . _ ~` as `%XX`
/// (upper-case hex), `/` kept as the separator. S3 signs this path as it is (no second
/// encoding), so the URL sent and the path signed are the same string.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The S3 provider of one destination.
pub struct S3 {
    config: S3Config,
}

impl S3 {
    pub fn new(config: S3Config) -> Self {
        S3 { config }
    }
}

impl Provider for S3 {
    /// `PutObject` stores one object per request.
    fn max_batch(&self) -> usize {
        1
    }

    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<HttpRequest, String> {
        let d = batch.first().ok_or("empty batch")?;
        let key = object_key(&self.config.key_template, d)?;
        let mut request = HttpRequest {
            method: "PUT",
            url: self.config.object_url(&encode_key(&key)),
            headers: vec![
                ("content-type".into(), self.config.content_type.clone()),
                ("x-amz-meta-sluice-event-id".into(), d.event_id.to_string()),
                ("x-amz-meta-sluice-topic".into(), d.topic.clone()),
                (
                    "x-amz-meta-sluice-attempt".into(),
                    (d.attempts + 1).to_string(),
                ),
            ],
            body: d.payload.as_bytes().to_vec(),
        };
        aws::sign_s3(
            &mut request,
            &self.config.credentials,
            &self.config.region,
            now,
        )?;
        Ok(request)
    }

    /// 2xx stored; S3's XML error otherwise: `SlowDown` (503), `InternalError` (500) and other
    /// throttling codes transient; `NoSuchBucket`, `AccessDenied`, `InvalidAccessKeyId`,
    /// `SignatureDoesNotMatch` (403/404) and the rest permanent.
    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        let verdict = match response_or_verdict(result, now) {
            Err(v) => v,
            Ok(r) if (200..300).contains(&r.status) => Verdict::Delivered,
            Ok(r) => error_verdict("S3", r, &AwsError::from_xml(r), now),
        };
        vec![verdict; batch.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::validate::from_value;
    use crate::providers::aws::testing::{creds, delivery, response, NOW};

    fn config() -> S3Config {
        S3Config {
            bucket: "sluice-archive".into(),
            region: "eu-central-1".into(),
            credentials: creds(),
            key_template: default_key_template(),
            content_type: default_content_type(),
            path_style: false,
            endpoint: None,
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
        let request = S3::new(config()).build(&[d], NOW).unwrap();
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
        c.region = "us-east-1".into();
        c.endpoint = Some("http://localhost:4566".into());
        c.key_template = "events/{topic}/{event_id}".into();
        c.credentials.session_token = Some("session-token-example".into());
        let request = S3::new(c)
            .build(&[delivery("evt_1", r#"{"order":1}"#)], NOW)
            .unwrap();
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
            c.region = "us-east-1".into();
            c.endpoint = Some(endpoint.into());
            c.key_template = "events/{topic}/{event_id}".into();
            c.credentials.session_token = Some("session-token-example".into());
            S3::new(c)
                .build(&[delivery("evt_1", r#"{"order":1}"#)], NOW)
                .unwrap()
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
            S3::new(c).build(std::slice::from_ref(&d), NOW).unwrap().url,
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
        bad.endpoint = Some("http://10.0.0.1:9000".into());
        let fields: Vec<String> = bad.validate(false).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "config.key_template",
                "config.content_type",
                "config.endpoint"
            ]
        );
        bad.endpoint = None;
        assert_eq!(bad.validate(false)[0].field, "config.bucket");
    }
}
