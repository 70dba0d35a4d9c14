//! AWS S3: one `PutObject` per delivery, the event's data as the object, its id, topic and
//! attempt number as object metadata (`x-amz-meta-sluice-…`), signed with SigV4 (S3 rules:
//! payload hash in `x-amz-content-sha256`, the path signed as sent).

use crate::core::classify::Verdict;
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::time::{utc_date_hour, Millis};
use crate::core::wire::{HttpRequest, Outbound, TransportResult};
use crate::providers::aws::{error_verdict, response_or_verdict, AwsError, S3 as S3_SERVICE};
use crate::providers::placeholders::render;

mod config;
pub use config::*;

/// The object key of a delivery: the template filled in (dates from the event's creation).
pub fn object_key(template: &str, d: &QueuedDelivery) -> Result<String, String> {
    let (year, month, day, hour) = utc_date_hour(d.created_at);
    let key = render(template, known_placeholders, |name| {
        Some(match name {
            "tenant_id" => d.tenant_id.to_string(),
            "topic" => d.topic.clone(),
            "event_id" => d.event_id.to_string(),
            "delivery_id" => d.delivery_id.to_string(),
            "yyyy" => format!("{year:04}"),
            "mm" => format!("{month:02}"),
            "dd" => format!("{day:02}"),
            "hh" => format!("{hour:02}"),
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

    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<Outbound, String> {
        let d = batch.first().ok_or("empty batch")?;
        let key = object_key(&self.config.key_template, d)?;
        let request = HttpRequest {
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
        self.config
            .aws
            .signed(&S3_SERVICE, request, now)
            .map(Outbound::Http)
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
            Ok(r) => error_verdict(S3_SERVICE.label, r, &AwsError::from_xml(r), now),
        };
        vec![verdict; batch.len()]
    }
}

#[cfg(test)]
mod tests;
