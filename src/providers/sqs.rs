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

/// Where and how to send: the destination config of type `sqs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsConfig {
    /// E.g. `https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo`.
    pub queue_url: String,
    pub region: String,
    #[serde(flatten)]
    pub credentials: AwsCredentials,
    /// Another origin to send to instead of `https://sqs.{region}.amazonaws.com` (LocalStack,
    /// moto, a VPC endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The `MessageGroupId` (FIFO queues; fair queues for standard ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
mod tests {
    use super::*;
    use crate::core::validate::from_value;
    use crate::core::wire::TransportError;
    use crate::providers::aws::testing::{creds, delivery, response, NOW};

    fn config(queue_url: &str, region: &str) -> SqsConfig {
        SqsConfig {
            queue_url: queue_url.into(),
            region: region.into(),
            credentials: creds(),
            endpoint: None,
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

    fn kinds(verdicts: &[Verdict]) -> Vec<&'static str> {
        verdicts
            .iter()
            .map(|v| match v {
                Verdict::Delivered => "delivered",
                Verdict::Transient { .. } => "transient",
                Verdict::Permanent { .. } => "permanent",
            })
            .collect()
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
            .unwrap();
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
        c.credentials.session_token = Some("session-token-example".into());
        c.message_group_id_from_metadata = Some("customer".into());
        let mut first = delivery("evt_1", r#"{"order":1}"#);
        first.metadata.insert("customer".into(), "c-42".into());
        let second = delivery("evt_2", r#"{"order":2}"#);
        let request = Sqs::new(c).build(&[first, second], NOW).unwrap();
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
        c.endpoint = Some("http://localhost:4566".into());
        c.message_group_id = Some("jobs".into());
        c.message_group_id_from_metadata = Some("tenant".into());
        let sqs = Sqs::new(c);
        let mut d = delivery(&"e".repeat(128), "{}");
        d.metadata.insert("tenant".into(), "has space".into());
        let request = sqs.build(&[d.clone()], NOW).unwrap();
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
            serde_json::from_slice(&sqs.build(&[d], NOW).unwrap().body).unwrap();
        assert_eq!(body["MessageGroupId"], "jobs");
        assert_eq!(sqs_id(&"x".repeat(129)).len(), 64);
    }

    #[test]
    fn standard_queues_get_no_fifo_fields() {
        let request = standard().build(&[delivery("evt_1", "{}")], NOW).unwrap();
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
        let request = standard().build(&batch, NOW).unwrap();
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
            serde_json::from_slice(&standard().build(&eleven, NOW).unwrap().body).unwrap();
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
        bad.endpoint = Some("http://localhost:4566".into());
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
        short.endpoint = Some("http://127.1:9324".into());
        assert_eq!(short.endpoint_url(), "http://127.0.0.1:9324/");
        let legacy = config("https://eu-west-1.queue.amazonaws.com/1/q", "eu-west-1");
        assert_eq!(
            legacy.endpoint_url(),
            "https://sqs.eu-west-1.amazonaws.com/"
        );
        assert_eq!(local.validate(false)[0].field, "config.queue_url");
    }
}
