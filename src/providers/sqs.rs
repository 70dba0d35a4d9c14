//! AWS SQS: `SendMessage` / `SendMessageBatch` over the JSON protocol, signed with SigV4.
//! The event's data is the message body; its id, topic and attempt number travel as message
//! attributes. FIFO queues get a message group and the event id as deduplication id.
//!
//! The engine hands over up to `max_batch()` deliveries; `build` packs as many as fit SQS's
//! limits, in order. A message that can never fit (over 256 KiB) fails for good; the ones
//! that do not fit this request are answered "retry now" and go with a later one. If no
//! message of the batch can be sent, `build` returns an error.

use crate::core::classify::Verdict;
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::time::Millis;
use crate::core::validate::{check_header_name, check_url, FieldError};
use crate::core::wire::{HttpRequest, TransportResult};
use crate::providers::aws::{
    self, check_endpoint, check_region, deferred_verdict, dns_suffix, endpoint_base, entry_verdict,
    error_verdict, plan_batch, response_or_verdict, AwsCredentials, AwsError, Slot,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// SQS `SendMessageBatch` takes at most 10 entries.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// SQS counts a message as its body plus its attributes' names, types and values; a message,
/// and the sum of a batch's messages, may be at most 256 KiB (the limit that every SQS
/// implementation shares; AWS itself has accepted up to 1 MiB since August 2025).
pub const MAX_BATCH_BYTES: usize = 262_144;
/// `MessageGroupId` and `MessageDeduplicationId`: up to 128 characters.
pub const MAX_ID_LEN: usize = 128;
/// Queue names are 1 to 80 characters, the `.fifo` suffix included.
pub const MAX_QUEUE_NAME_LEN: usize = 80;
/// The group of FIFO messages when neither the config nor the metadata gives one.
pub const DEFAULT_GROUP_ID: &str = "default";

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// Where and how to send: the destination config of type `aws_sqs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct SqsConfig {
    /// E.g. `https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo`.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url))]
    pub queue_url: String,
    /// The AWS region, e.g. `eu-west-1`.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1)))]
    pub region: String,
    #[serde(flatten)]
    pub credentials: AwsCredentials,
    /// Another origin to send to instead of `https://sqs.{region}.amazonaws.com` (LocalStack,
    /// moto, a VPC endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url))]
    pub endpoint: Option<String>,
    /// The `MessageGroupId` (FIFO queues; fair queues for standard ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(max = 128)))]
    pub message_group_id: Option<String>,
    /// The name of an event metadata field whose value is the `MessageGroupId`; when the
    /// event lacks it, `message_group_id` (or "default" on a FIFO queue) applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_group_id_from_metadata: Option<String>,
}

impl SqsConfig {
    /// Every problem with the config, fields named `config.…`.
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        match check_url(&self.queue_url, allow_private) {
            Err(e) => errors.push(FieldError::new("config.queue_url", e)),
            Ok(url) => {
                if let Err(e) = check_queue_path(url.path()) {
                    errors.push(FieldError::new("config.queue_url", e));
                }
                let host = url.host_str().unwrap_or_default();
                let region_in_host = host
                    .strip_prefix("sqs.")
                    .and_then(|h| h.split('.').next())
                    .filter(|_| host.contains(".amazonaws.com"));
                if region_in_host.is_some_and(|r| r != self.region) {
                    errors.push(FieldError::new(
                        "config.region",
                        "does not match the region of the queue URL",
                    ));
                }
            }
        }
        errors.extend(check_region("config.region", &self.region));
        errors.extend(self.credentials.validate("config"));
        if let Some(endpoint) = &self.endpoint {
            errors.extend(check_endpoint("config.endpoint", endpoint, allow_private));
        }
        if let Some(group) = &self.message_group_id {
            if !is_sqs_id(group) {
                errors.push(FieldError::new(
                    "config.message_group_id",
                    format!("1 to {MAX_ID_LEN} printable ASCII characters, no spaces"),
                ));
            }
        }
        if let Some(field) = &self.message_group_id_from_metadata {
            if let Err(e) = check_header_name(field) {
                errors.push(FieldError::new("config.message_group_id_from_metadata", e));
            }
        }
        errors
    }

    /// FIFO queues' names end with `.fifo`.
    pub fn is_fifo(&self) -> bool {
        self.queue_url.trim_end_matches('/').ends_with(".fifo")
    }

    /// The URL requests go to: the endpoint override; else, for a queue at AWS, the region's
    /// SQS endpoint (what the AWS SDKs use with the JSON protocol, whatever the queue URL's
    /// legacy host); else the queue URL's own origin (LocalStack's queue URLs work as given).
    pub fn endpoint_url(&self) -> String {
        if let Some(e) = &self.endpoint {
            return format!("{}/", endpoint_base(e));
        }
        let queue = url::Url::parse(&self.queue_url).ok();
        let host = queue
            .as_ref()
            .and_then(|u| u.host_str())
            .unwrap_or_default();
        match queue {
            Some(u)
                if !host.ends_with(".amazonaws.com") && !host.ends_with(".amazonaws.com.cn") =>
            {
                format!("{}/", u.origin().ascii_serialization())
            }
            _ => format!("https://sqs.{}.{}/", self.region, dns_suffix(&self.region)),
        }
    }
}

/// `/{account}/{queue name}`.
fn check_queue_path(path: &str) -> Result<(), String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let [account, name] = segments[..] else {
        return Err("expected https://sqs.{region}.amazonaws.com/{account}/{queue name}".into());
    };
    if account.is_empty() || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err("the account id in the queue URL must be digits".into());
    }
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let valid = !base.is_empty()
        && name.len() <= MAX_QUEUE_NAME_LEN
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(format!(
            "a queue name is 1 to {MAX_QUEUE_NAME_LEN} letters, digits, '-' or '_' (plus '.fifo')"
        ));
    }
    Ok(())
}

/// Group and deduplication ids: 1 to 128 of SQS's allowed characters (ASCII letters, digits
/// and punctuation).
fn is_sqs_id(value: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&value.len()) && value.chars().all(|c| c.is_ascii_graphic())
}

/// `value` itself when SQS accepts it as an id, else its hex SHA-256 (64 characters): the
/// same input always gives the same id, so grouping and deduplication still hold.
pub fn sqs_id(value: &str) -> String {
    if is_sqs_id(value) {
        value.to_string()
    } else {
        aws::sha256_hex(value.as_bytes())
    }
}

/// Characters an SQS message body may hold (XML 1.0's `Char`, minus nothing).
fn is_sqs_body_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Attribute {
    data_type: &'static str,
    string_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Message<'a> {
    /// Batch entries only: the delivery's index in the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    message_body: &'a str,
    message_attributes: BTreeMap<&'static str, Attribute>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_deduplication_id: Option<String>,
}

impl Message<'_> {
    /// The size SQS counts: body plus each attribute's name, data type and value.
    fn size(&self) -> usize {
        self.message_body.len()
            + self
                .message_attributes
                .iter()
                .map(|(name, a)| name.len() + a.data_type.len() + a.string_value.len())
                .sum::<usize>()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessage<'a> {
    queue_url: &'a str,
    #[serde(flatten)]
    message: Message<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendMessageBatch<'a> {
    queue_url: &'a str,
    entries: Vec<Message<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct BatchResponse {
    successful: Vec<BatchSuccess>,
    failed: Vec<BatchFailure>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchSuccess {
    id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchFailure {
    id: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    sender_fault: bool,
}

/// The SQS provider of one destination.
pub struct Sqs {
    config: SqsConfig,
}

impl Sqs {
    pub fn new(config: SqsConfig) -> Self {
        Sqs { config }
    }

    fn message<'a>(&self, d: &'a QueuedDelivery) -> Message<'a> {
        let attribute = |data_type, value: String| Attribute {
            data_type,
            string_value: value,
        };
        let message_attributes = BTreeMap::from([
            (
                "sluice-event-id",
                attribute("String", d.event_id.to_string()),
            ),
            ("sluice-topic", attribute("String", d.topic.clone())),
            (
                "sluice-attempt",
                attribute("Number", (d.attempts + 1).to_string()),
            ),
        ]);
        let fifo = self.config.is_fifo();
        let from_metadata = self
            .config
            .message_group_id_from_metadata
            .as_ref()
            .and_then(|field| d.metadata.get(field))
            .filter(|v| !v.is_empty());
        let message_group_id = match from_metadata.or(self.config.message_group_id.as_ref()) {
            Some(group) => Some(sqs_id(group)),
            None if fifo => Some(DEFAULT_GROUP_ID.to_string()),
            None => None,
        };
        Message {
            id: None,
            message_body: &d.payload,
            message_attributes,
            message_group_id,
            message_deduplication_id: fifo.then(|| sqs_id(d.event_id.as_str())),
        }
    }

    /// Which deliveries go into the request; `build` and `interpret` agree by calling this.
    fn plan(&self, batch: &[QueuedDelivery]) -> Vec<Slot> {
        let sizes = batch.iter().map(|d| {
            if d.payload.chars().all(is_sqs_body_char) {
                Ok(self.message(d).size())
            } else {
                Err("the payload holds characters that SQS does not accept in a message".into())
            }
        });
        plan_batch(sizes, MAX_BATCH_ENTRIES, MAX_BATCH_BYTES)
    }
}

impl Provider for Sqs {
    fn max_batch(&self) -> usize {
        MAX_BATCH_ENTRIES
    }

    fn fit(&self, batch: &[QueuedDelivery]) -> usize {
        aws::fitting(&self.plan(batch))
    }

    /// One message → `SendMessage`; more → `SendMessageBatch` with `Id` = index in the batch.
    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<HttpRequest, String> {
        let plan = self.plan(batch);
        let included: Vec<(usize, &QueuedDelivery)> = batch
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(plan[*i], Slot::Sent(_)))
            .collect();
        let queue_url = self.config.queue_url.as_str();
        let (target, body) = match included[..] {
            [] => {
                let reasons: Vec<String> = plan
                    .iter()
                    .filter_map(|s| match s {
                        Slot::Rejected(r) => Some(r.clone()),
                        _ => None,
                    })
                    .collect();
                return Err(format!("no message can be sent: {}", reasons.join("; ")));
            }
            [(_, d)] => {
                let message = self.message(d);
                let body = serde_json::to_vec(&SendMessage { queue_url, message });
                ("AmazonSQS.SendMessage", body)
            }
            _ => {
                let entries = included
                    .iter()
                    .map(|(i, d)| Message {
                        id: Some(i.to_string()),
                        ..self.message(d)
                    })
                    .collect();
                let body = serde_json::to_vec(&SendMessageBatch { queue_url, entries });
                ("AmazonSQS.SendMessageBatch", body)
            }
        };
        let mut request = HttpRequest {
            method: "POST",
            url: self.config.endpoint_url(),
            headers: vec![
                ("content-type".into(), CONTENT_TYPE.into()),
                ("x-amz-target".into(), target.into()),
            ],
            body: body.map_err(|e| e.to_string())?,
        };
        aws::sign(
            &mut request,
            &self.config.credentials,
            &self.config.region,
            "sqs",
            now,
        )?;
        Ok(request)
    }

    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        let plan = self.plan(batch);
        let sent_count = plan.iter().filter(|s| matches!(s, Slot::Sent(_))).count();
        let answer = match response_or_verdict(result, now) {
            Err(v) => Answer::All(v),
            Ok(r) if !(200..300).contains(&r.status) => {
                Answer::All(error_verdict("SQS", r, &AwsError::from_json(r), now))
            }
            Ok(_) if sent_count == 1 => Answer::All(Verdict::Delivered),
            Ok(r) => match serde_json::from_str::<BatchResponse>(&r.body) {
                Ok(entries) => Answer::Entries(entries),
                Err(e) => Answer::All(Verdict::Transient {
                    error: format!("SQS: unreadable SendMessageBatch response: {e}"),
                    retry_after_ms: None,
                }),
            },
        };
        plan.iter()
            .enumerate()
            .map(|(i, slot)| match (slot, &answer) {
                (Slot::Sent(_), Answer::All(v)) => v.clone(),
                (Slot::Sent(_), Answer::Entries(entries)) => batch_entry_verdict(entries, i),
                (Slot::Rejected(reason), _) => Verdict::Permanent {
                    error: reason.clone(),
                },
                (Slot::Deferred, _) => deferred_verdict(),
            })
            .collect()
    }
}

/// What a response says about the messages that were sent.
enum Answer {
    /// The same for all of them.
    All(Verdict),
    /// One result per entry.
    Entries(BatchResponse),
}

/// An entry's outcome in a `SendMessageBatch` response: `Failed` with `SenderFault` is the
/// message's own fault (permanent); other failures are SQS's (transient).
fn batch_entry_verdict(response: &BatchResponse, index: usize) -> Verdict {
    let id = index.to_string();
    if response.successful.iter().any(|s| s.id == id) {
        return Verdict::Delivered;
    }
    match response.failed.iter().find(|f| f.id == id) {
        Some(f) => entry_verdict("SQS", &f.code, &f.message, !f.sender_fault),
        None => Verdict::Transient {
            error: "SQS: the response did not mention this message".into(),
            retry_after_ms: None,
        },
    }
}

#[cfg(test)]
mod tests;
