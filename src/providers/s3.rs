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

/// The destination config of type `aws_s3`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct S3Config {
    /// The bucket's name.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 3, max = 63)))]
    pub bucket: String,
    /// The AWS region, e.g. `eu-west-1`.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1)))]
    pub region: String,
    #[serde(flatten)]
    pub credentials: AwsCredentials,
    /// Where each event goes, e.g. `{tenant_id}/{topic}/{yyyy}/{mm}/{dd}/{event_id}.json`.
    #[serde(default = "default_key_template")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1)))]
    pub key_template: String,
    #[serde(default = "default_content_type")]
    /// The objects' `Content-Type`; printable ASCII only (it is a signed header, and AWS reads
    /// header bytes as ISO-8859-1).
    #[cfg_attr(not(target_arch = "wasm32"), schemars(regex(pattern = "^[ -~]+$")))]
    pub content_type: String,
    /// `https://s3.{region}.amazonaws.com/{bucket}/…` instead of
    /// `https://{bucket}.s3.{region}.amazonaws.com/…` (needed for bucket names with dots).
    #[serde(default)]
    pub path_style: bool,
    /// Another origin to send to (LocalStack, MinIO, moto); always path style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url))]
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
mod tests;
