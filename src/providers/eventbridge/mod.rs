//! AWS EventBridge: `PutEvents` over the JSON protocol, signed with SigV4. Each delivery is
//! one entry: `DetailType` = the topic, `Detail` = the event's data, `Source` from the config.
//!
//! As with SQS, `build` packs as many of the engine's batch as fit the request limits, in
//! order; an entry that can never be sent fails for good, the rest wait for a later request.

use crate::core::classify::Verdict;
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::json;
use crate::core::time::Millis;
use crate::core::wire::{Outbound, TransportResult};
use crate::providers::aws::{
    entry_verdict, error_verdict, response_or_verdict, AwsError, EVENTBRIDGE,
};
use crate::providers::batch::{BatchPlan, Limits, Oversize};
use serde::{Deserialize, Serialize};

mod config;
pub use config::*;

/// `PutEvents` takes at most 10 entries.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// The entries of one `PutEvents` call total at most 256 KB, each counted as its `Source`,
/// `DetailType`, `Detail` and `Resources` in UTF-8 bytes ("Calculating PutEvents event entry
/// size", EventBridge user guide).
pub const MAX_BATCH_BYTES: usize = 262_144;
/// EventBridge's limits on one `PutEvents`.
const LIMITS: Limits = Limits {
    max_entries: MAX_BATCH_ENTRIES,
    max_bytes: MAX_BATCH_BYTES,
    oversize: Oversize::Reject,
    names: "size or entry limit",
};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry<'a> {
    source: &'a str,
    detail_type: &'a str,
    detail: &'a str,
    event_bus_name: &'a str,
    resources: [&'a str; 0],
}

impl Entry<'_> {
    /// The size EventBridge counts (no `Time`, no resources).
    fn size(&self) -> usize {
        self.source.len() + self.detail_type.len() + self.detail.len()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutEvents<'a> {
    entries: Vec<Entry<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PutEventsResponse {
    entries: Vec<ResultEntry>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ResultEntry {
    event_id: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
}

/// The EventBridge provider of one destination.
pub struct EventBridge {
    config: EventBridgeConfig,
}

impl EventBridge {
    pub fn new(config: EventBridgeConfig) -> Self {
        EventBridge { config }
    }

    fn entry<'a>(&'a self, d: &'a QueuedDelivery) -> Entry<'a> {
        Entry {
            source: &self.config.source,
            detail_type: &d.topic,
            detail: &d.payload,
            event_bus_name: &self.config.event_bus_name,
            resources: [],
        }
    }

    /// Which deliveries go into the request; `build` and `interpret` agree by calling this.
    fn plan(&self, batch: &[QueuedDelivery]) -> BatchPlan {
        let sizes = batch.iter().map(|d| {
            // EventBridge refuses any Detail that is not a JSON object (MalformedDetail).
            if d.payload.trim_start().starts_with('{') {
                Ok(self.entry(d).size())
            } else {
                Err("EventBridge takes only a JSON object as an event's detail".into())
            }
        });
        BatchPlan::pack(sizes, LIMITS)
    }
}

impl Provider for EventBridge {
    fn max_batch(&self) -> usize {
        MAX_BATCH_ENTRIES
    }

    fn fit(&self, batch: &[QueuedDelivery]) -> usize {
        self.plan(batch).fitting()
    }

    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<Outbound, String> {
        let plan = self.plan(batch);
        if let Some(error) = plan.nothing_sent("event") {
            return Err(error);
        }
        let entries: Vec<Entry> = plan.sent().map(|i| self.entry(&batch[i])).collect();
        let body = serde_json::to_vec(&PutEvents { entries }).map_err(|e| e.to_string())?;
        self.config
            .aws
            .json_call(
                &EVENTBRIDGE,
                self.config.endpoint_url(),
                "AWSEvents.PutEvents",
                body,
                now,
            )
            .map(Outbound::Http)
    }

    /// `FailedEntryCount` and one result per entry, in request order: an `EventId` is
    /// delivered; `ThrottlingException` and `InternalFailure` are transient, other error
    /// codes permanent.
    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        let plan = self.plan(batch);
        let answer = match response_or_verdict(result, now) {
            Err(v) => Err(v),
            Ok(r) if !(200..300).contains(&r.status) => Err(error_verdict(
                EVENTBRIDGE.label,
                r,
                &AwsError::from_json(r),
                now,
            )),
            Ok(r) => json::from_str::<PutEventsResponse>(&r.body).map_err(|e| Verdict::Transient {
                error: format!("EventBridge: unreadable PutEvents response: {e}"),
                retry_after_ms: None,
            }),
        };
        plan.verdicts(|_, n| match &answer {
            Ok(response) => entry_result(response.entries.get(n)),
            Err(v) => v.clone(),
        })
    }
}

fn entry_result(entry: Option<&ResultEntry>) -> Verdict {
    match entry {
        Some(ResultEntry {
            error_code: Some(code),
            error_message,
            ..
        }) => entry_verdict(
            "EventBridge",
            code,
            error_message.as_deref().unwrap_or_default(),
            false,
        ),
        Some(ResultEntry {
            event_id: Some(_), ..
        }) => Verdict::Delivered,
        _ => Verdict::Transient {
            error: "EventBridge: the response did not mention this event".into(),
            retry_after_ms: None,
        },
    }
}

#[cfg(test)]
mod tests;
