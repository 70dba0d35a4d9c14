//! Kafka through the Confluent REST Proxy (or Confluent Cloud's Kafka REST API).
//!
//! v3: `POST {endpoint}/v3/clusters/{cluster}/topics/{topic}/records`, one record per request:
//! the key (event id or a payload field), the event's data as a JSON value, and headers
//! `sluice-event-id`, `sluice-topic`, `sluice-attempt` (base64, as v3 sends header bytes).
//! v2: `POST {endpoint}/topics/{topic}` with the JSON embedded format, up to
//! `MAX_V2_RECORDS` records per request; the answer's `offsets` say per record whether it was
//! written, and per-record failures become per-delivery verdicts. v2 records have no headers.

use crate::core::classify::{classify, classify_status, Verdict};
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::json;
use crate::core::time::Millis;
use crate::core::wire::{HttpRequest, HttpResponse, Outbound, TransportResult};
use crate::providers::batch::{BatchPlan, Limits, Oversize};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

mod config;
pub use config::*;

/// Records per v2 request: enough to drain a burst in a few requests, small enough that one
/// slow request does not hold many deliveries.
pub const MAX_V2_RECORDS: usize = 100;
/// Bytes of records per v2 request, so that a batch stays near one Kafka producer request
/// (the producer's default `max.request.size` is 1 MiB). A single larger record still goes,
/// alone: whether Kafka takes it is the broker's call (`message.max.bytes`).
pub const MAX_V2_BATCH_BYTES: usize = 1_048_576;

/// The limits on one v2 request; a record larger than all of them still goes, alone.
const V2_LIMITS: Limits = Limits {
    max_entries: MAX_V2_RECORDS,
    max_bytes: MAX_V2_BATCH_BYTES,
    oversize: Oversize::SendAlone,
    names: "record or size limit",
};

const V2_CONTENT_TYPE: &str = "application/vnd.kafka.json.v2+json";
const V2_ACCEPT: &str = "application/vnd.kafka.v2+json";
/// The most of a proxy's error message kept in an attempt's error text.
const MAX_ERROR_MESSAGE_CHARS: usize = 300;
/// The per-record `error_code` the v2 API gives a failure that may succeed if retried
/// (1 is a non-retriable Kafka exception).
const V2_RETRIABLE: i64 = 2;

/// The Kafka provider of one destination.
pub struct Kafka {
    config: KafkaConfig,
}

/// An error answer of the proxy: `{"error_code": 40401, "message": "Topic not found."}`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ProxyError {
    error_code: Option<i64>,
    message: Option<String>,
}

/// A v2 produce answer: one offset entry per record, in order.
#[derive(Deserialize)]
struct V2Answer {
    offsets: Vec<V2Offset>,
}

#[derive(Deserialize)]
struct V2Offset {
    #[serde(default)]
    error_code: Option<i64>,
    #[serde(default)]
    error: Option<String>,
}

impl Kafka {
    pub fn new(config: KafkaConfig) -> Self {
        Kafka { config }
    }

    fn headers(&self, content_type: &str, accept: &str) -> Vec<(String, String)> {
        let mut headers = vec![
            ("content-type".to_string(), content_type.to_string()),
            ("accept".to_string(), accept.to_string()),
        ];
        if let Some(KafkaAuth::Basic { username, password }) = &self.config.auth {
            let creds = B64.encode(format!("{username}:{password}"));
            headers.push(("authorization".into(), format!("Basic {creds}")));
        }
        headers
    }

    /// The v3 body of one record.
    fn v3_record(&self, d: &QueuedDelivery) -> Result<Vec<u8>, String> {
        let key = match self.config.key(&d.payload, d.event_id.as_str())? {
            RecordKey::Text(s) => json!({"type": "STRING", "data": s}),
            RecordKey::Json(v) => json!({"type": "JSON", "data": v}),
        };
        let header = |name: &str, value: String| json!({"name": name, "value": B64.encode(value)});
        let headers = json!([
            header("sluice-event-id", d.event_id.to_string()),
            header("sluice-topic", d.topic.clone()),
            header("sluice-attempt", (d.attempts + 1).to_string()),
        ]);
        // The data goes in as the publisher sent it (not re-serialised: key order kept).
        Ok(format!(
            r#"{{"key":{key},"value":{{"type":"JSON","data":{}}},"headers":{headers}}}"#,
            json_text(d)?
        )
        .into_bytes())
    }

    /// A v2 record: `{"key": …, "value": …}` in the JSON embedded format (the key is JSON
    /// too, so a text key arrives in Kafka with its quotes).
    fn v2_record(&self, d: &QueuedDelivery) -> Result<String, String> {
        let key = match self.config.key(&d.payload, d.event_id.as_str())? {
            RecordKey::Text(s) => Value::String(s),
            RecordKey::Json(v) => v,
        };
        Ok(format!(r#"{{"key":{key},"value":{}}}"#, json_text(d)?))
    }

    /// Which deliveries go into a v2 request, in order, and their records; `build` and
    /// `interpret` agree by calling this. The first sendable one always goes; more follow
    /// while the request stays within `MAX_V2_RECORDS` and `MAX_V2_BATCH_BYTES`; after the
    /// first that does not fit, the rest wait, so that order holds.
    fn plan_v2(&self, batch: &[QueuedDelivery]) -> (BatchPlan, Vec<String>) {
        let records: Vec<Result<String, String>> =
            batch.iter().map(|d| self.v2_record(d)).collect();
        let sizes = records
            .iter()
            .map(|r| r.as_ref().map(String::len).map_err(String::clone));
        let plan = BatchPlan::pack(sizes, V2_LIMITS);
        let sent = plan
            .sent()
            .filter_map(|i| records[i].as_ref().ok().cloned())
            .collect();
        (plan, sent)
    }
}

/// The event's data as the publisher wrote it, checked to be JSON (without building a tree)
/// so that it can be spliced into a request body.
fn json_text(d: &QueuedDelivery) -> Result<&str, String> {
    json::from_str::<&serde_json::value::RawValue>(&d.payload)
        .map(|raw| raw.get())
        .map_err(|e| format!("the event's data is not JSON: {e}"))
}

impl Provider for Kafka {
    fn max_batch(&self) -> usize {
        match self.config.api_version {
            ApiVersion::V3 => 1,
            ApiVersion::V2 => MAX_V2_RECORDS,
        }
    }

    /// v2: the records before the first one that no longer fits, so the engine leases only
    /// those (a deferred record would otherwise be charged an attempt).
    fn fit(&self, batch: &[QueuedDelivery]) -> usize {
        match self.config.api_version {
            ApiVersion::V3 => batch.len(),
            ApiVersion::V2 => self.plan_v2(batch).0.fitting(),
        }
    }

    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<Outbound, String> {
        let base = self.config.base();
        let topic = &self.config.topic;
        match self.config.api_version {
            ApiVersion::V3 => {
                let d = batch.first().ok_or("empty batch")?;
                let cluster = self.config.cluster_id.as_deref().unwrap_or_default();
                Ok(Outbound::Http(HttpRequest {
                    method: "POST",
                    url: format!("{base}/v3/clusters/{cluster}/topics/{topic}/records"),
                    headers: self.headers("application/json", "application/json"),
                    body: self.v3_record(d)?,
                }))
            }
            ApiVersion::V2 => {
                let (plan, records) = self.plan_v2(batch);
                if let Some(error) = plan.nothing_sent("record") {
                    return Err(error);
                }
                Ok(Outbound::Http(HttpRequest {
                    method: "POST",
                    url: format!("{base}/topics/{topic}"),
                    headers: self.headers(V2_CONTENT_TYPE, V2_ACCEPT),
                    body: format!(r#"{{"records":[{}]}}"#, records.join(",")).into_bytes(),
                }))
            }
        }
    }

    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        match self.config.api_version {
            ApiVersion::V3 => {
                let verdict = match result {
                    Ok(response) => error_verdict(response, now),
                    Err(_) => classify(result, now),
                };
                vec![verdict; batch.len()]
            }
            ApiVersion::V2 => {
                let answer = match result {
                    Ok(response) => v2_answer(response, now),
                    Err(_) => Err(classify(result, now)),
                };
                let (plan, _) = self.plan_v2(batch);
                plan.verdicts(|_, n| match &answer {
                    Err(whole) => whole.clone(),
                    Ok(offsets) => v2_record_verdict(offsets.get(n)),
                })
            }
        }
    }
}

/// A whole-request verdict from the HTTP status, or from the `error_code` of the body when
/// the proxy put the real outcome there (Confluent's v3 answers 200 with an error report in
/// streaming mode; error codes are the HTTP status, or status × 100 + a sub-code).
fn error_verdict(response: &HttpResponse, now: Millis) -> Verdict {
    let body: ProxyError = json::from_str(&response.body).unwrap_or_default();
    let code_status = body.error_code.map(|c| if c >= 1000 { c / 100 } else { c });
    let status = match code_status {
        Some(s @ 100..=599) if (200..300).contains(&response.status) => s as u16,
        _ => response.status,
    };
    let message: Option<String> = body
        .message
        .map(|m| m.chars().take(MAX_ERROR_MESSAGE_CHARS).collect());
    let detail = match (body.error_code, message.as_deref()) {
        (Some(code), Some(m)) => format!(" ({code}): {m}"),
        (Some(code), None) => format!(" ({code})"),
        (None, Some(m)) => format!(": {m}"),
        (None, None) => String::new(),
    };
    let hint = match status {
        401 | 403 => " (check the username and password / API key and secret)",
        _ => "",
    };
    let error = format!("Kafka REST HTTP {status}{detail}{hint}");
    let effective = HttpResponse {
        status,
        headers: response.headers.clone(),
        body: String::new(),
    };
    match classify_status(&effective, now) {
        Verdict::Delivered => Verdict::Delivered,
        Verdict::Transient { retry_after_ms, .. } => Verdict::Transient {
            error,
            retry_after_ms,
        },
        Verdict::Permanent { .. } => Verdict::Permanent { error },
    }
}

/// A v2 answer: the per-record offsets, or the verdict for the whole request.
fn v2_answer(response: &HttpResponse, now: Millis) -> Result<Vec<V2Offset>, Verdict> {
    if !(200..300).contains(&response.status) {
        return Err(error_verdict(response, now));
    }
    json::from_str::<V2Answer>(&response.body)
        .map(|a| a.offsets)
        .map_err(|e| Verdict::Transient {
            error: format!("Kafka REST: unreadable v2 produce answer: {e}"),
            retry_after_ms: None,
        })
}

/// One v2 offset entry: no `error_code` → written; 2 → retriable; anything else → not.
fn v2_record_verdict(offset: Option<&V2Offset>) -> Verdict {
    let Some(offset) = offset else {
        return Verdict::Transient {
            error: "Kafka REST: the answer did not mention this record".into(),
            retry_after_ms: None,
        };
    };
    match offset.error_code {
        None => Verdict::Delivered,
        Some(code) => {
            let message = offset.error.as_deref().unwrap_or("no message");
            let error = format!("Kafka REST record error {code}: {message}");
            if code == V2_RETRIABLE {
                Verdict::Transient {
                    error,
                    retry_after_ms: None,
                }
            } else {
                Verdict::Permanent { error }
            }
        }
    }
}

#[cfg(test)]
mod tests;
