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
use crate::core::json;
use crate::core::time::Millis;
use crate::core::wire::{Outbound, TransportResult};
use crate::providers::aws::{entry_verdict, error_verdict, response_or_verdict, AwsError, SQS};
use crate::providers::batch::{BatchPlan, Limits, Oversize};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod config;
pub use config::*;

/// SQS `SendMessageBatch` takes at most 10 entries.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// SQS counts a message as its body plus its attributes' names, types and values; a message,
/// and the sum of a batch's messages, may be at most 256 KiB (the limit that every SQS
/// implementation shares; AWS itself has accepted up to 1 MiB since August 2025).
pub const MAX_BATCH_BYTES: usize = 262_144;
/// The group of FIFO messages when neither the config nor the metadata gives one.
pub const DEFAULT_GROUP_ID: &str = "default";

/// SQS's limits on one `SendMessageBatch`.
const LIMITS: Limits = Limits {
    max_entries: MAX_BATCH_ENTRIES,
    max_bytes: MAX_BATCH_BYTES,
    oversize: Oversize::Reject,
    names: "size or entry limit",
};

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
        let message_group_id = self.config.message_group(d);
        Message {
            id: None,
            message_body: &d.payload,
            message_attributes,
            message_group_id,
            message_deduplication_id: fifo.then(|| sqs_id(d.event_id.as_str())),
        }
    }

    /// Which deliveries go into the request; `build` and `interpret` agree by calling this.
    fn plan(&self, batch: &[QueuedDelivery]) -> BatchPlan {
        let sizes = batch.iter().map(|d| {
            if d.payload.chars().all(is_sqs_body_char) {
                Ok(self.message(d).size())
            } else {
                Err("the payload holds characters that SQS does not accept in a message".into())
            }
        });
        BatchPlan::pack(sizes, LIMITS)
    }
}

impl Provider for Sqs {
    fn max_batch(&self) -> usize {
        MAX_BATCH_ENTRIES
    }

    fn fit(&self, batch: &[QueuedDelivery]) -> usize {
        self.plan(batch).fitting()
    }

    /// One message → `SendMessage`; more → `SendMessageBatch` with `Id` = index in the batch.
    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<Outbound, String> {
        let plan = self.plan(batch);
        if let Some(error) = plan.nothing_sent("message") {
            return Err(error);
        }
        let included: Vec<usize> = plan.sent().collect();
        let queue_url = self.config.queue_url.as_str();
        let (operation, body) = match included[..] {
            [i] => {
                let message = self.message(&batch[i]);
                let body = serde_json::to_vec(&SendMessage { queue_url, message });
                ("AmazonSQS.SendMessage", body)
            }
            _ => {
                let entries = included
                    .iter()
                    .map(|&i| Message {
                        id: Some(i.to_string()),
                        ..self.message(&batch[i])
                    })
                    .collect();
                let body = serde_json::to_vec(&SendMessageBatch { queue_url, entries });
                ("AmazonSQS.SendMessageBatch", body)
            }
        };
        let body = body.map_err(|e| e.to_string())?;
        self.config
            .aws
            .json_call(&SQS, self.config.endpoint_url(), operation, body, now)
            .map(Outbound::Http)
    }

    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        let plan = self.plan(batch);
        let sent_count = plan.sent().count();
        let answer = match response_or_verdict(result, now) {
            Err(v) => Answer::All(v),
            Ok(r) if !(200..300).contains(&r.status) => {
                Answer::All(error_verdict(SQS.label, r, &AwsError::from_json(r), now))
            }
            Ok(_) if sent_count == 1 => Answer::All(Verdict::Delivered),
            Ok(r) => match json::from_str::<BatchResponse>(&r.body) {
                Ok(entries) => Answer::Entries(entries),
                Err(e) => Answer::All(Verdict::Transient {
                    error: format!("SQS: unreadable SendMessageBatch response: {e}"),
                    retry_after_ms: None,
                }),
            },
        };
        plan.verdicts(|i, _| match &answer {
            Answer::All(v) => v.clone(),
            Answer::Entries(entries) => batch_entry_verdict(entries, i),
        })
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
