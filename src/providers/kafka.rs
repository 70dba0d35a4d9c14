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
use crate::core::time::Millis;
use crate::core::wire::{HttpRequest, HttpResponse, TransportResult};
use crate::providers::kafka_config::{ApiVersion, KafkaAuth, KafkaConfig, RecordKey};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

/// Records per v2 request: enough to drain a burst in a few requests, small enough that one
/// slow request does not hold many deliveries.
pub const MAX_V2_RECORDS: usize = 100;
/// Bytes of records per v2 request, so that a batch stays near one Kafka producer request
/// (the producer's default `max.request.size` is 1 MiB). A single larger record still goes,
/// alone: whether Kafka takes it is the broker's call (`message.max.bytes`).
pub const MAX_V2_BATCH_BYTES: usize = 1_048_576;

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

/// Where a delivery stands in a v2 request.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    /// In the request, as record number `n`.
    Sent(usize),
    /// Cannot be sent (its data is not JSON): failed for good.
    Rejected(String),
    /// The request was full: it goes with a later one.
    Deferred,
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
    fn plan_v2(&self, batch: &[QueuedDelivery]) -> (Vec<Slot>, Vec<String>) {
        let mut records = vec![];
        let mut total = 0;
        let mut full = false;
        let slots = batch
            .iter()
            .map(|d| match self.v2_record(d) {
                Err(reason) => Slot::Rejected(reason),
                Ok(_) if full => Slot::Deferred,
                Ok(record)
                    if !records.is_empty()
                        && (records.len() == MAX_V2_RECORDS
                            || total + record.len() > MAX_V2_BATCH_BYTES) =>
                {
                    full = true;
                    Slot::Deferred
                }
                Ok(record) => {
                    total += record.len();
                    records.push(record);
                    Slot::Sent(records.len() - 1)
                }
            })
            .collect();
        (slots, records)
    }
}

/// The event's data as the publisher wrote it, checked to be JSON (without building a tree)
/// so that it can be spliced into a request body.
fn json_text(d: &QueuedDelivery) -> Result<&str, String> {
    serde_json::from_str::<&serde_json::value::RawValue>(&d.payload)
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
            ApiVersion::V2 => self
                .plan_v2(batch)
                .0
                .iter()
                .take_while(|slot| !matches!(slot, Slot::Deferred))
                .count(),
        }
    }

    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<HttpRequest, String> {
        let base = self.config.base();
        let topic = &self.config.topic;
        match self.config.api_version {
            ApiVersion::V3 => {
                let d = batch.first().ok_or("empty batch")?;
                let cluster = self.config.cluster_id.as_deref().unwrap_or_default();
                Ok(HttpRequest {
                    method: "POST",
                    url: format!("{base}/v3/clusters/{cluster}/topics/{topic}/records"),
                    headers: self.headers("application/json", "application/json"),
                    body: self.v3_record(d)?,
                })
            }
            ApiVersion::V2 => {
                let (slots, records) = self.plan_v2(batch);
                if records.is_empty() {
                    let reasons: Vec<String> = slots
                        .into_iter()
                        .filter_map(|s| match s {
                            Slot::Rejected(r) => Some(r),
                            _ => None,
                        })
                        .collect();
                    return Err(format!("no record can be sent: {}", reasons.join("; ")));
                }
                Ok(HttpRequest {
                    method: "POST",
                    url: format!("{base}/topics/{topic}"),
                    headers: self.headers(V2_CONTENT_TYPE, V2_ACCEPT),
                    body: format!(r#"{{"records":[{}]}}"#, records.join(",")).into_bytes(),
                })
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
                let (slots, _) = self.plan_v2(batch);
                slots
                    .iter()
                    .map(|slot| match (slot, &answer) {
                        (Slot::Sent(_), Err(whole)) => whole.clone(),
                        (Slot::Sent(n), Ok(offsets)) => v2_record_verdict(offsets.get(*n)),
                        (Slot::Rejected(reason), _) => Verdict::Permanent {
                            error: reason.clone(),
                        },
                        (Slot::Deferred, _) => Verdict::Transient {
                            error: "not sent: the request was full (record or size limit); \
                                    sent with a later one"
                                .into(),
                            retry_after_ms: Some(0),
                        },
                    })
                    .collect()
            }
        }
    }
}

/// A whole-request verdict from the HTTP status, or from the `error_code` of the body when
/// the proxy put the real outcome there (Confluent's v3 answers 200 with an error report in
/// streaming mode; error codes are the HTTP status, or status × 100 + a sub-code).
fn error_verdict(response: &HttpResponse, now: Millis) -> Verdict {
    let body: ProxyError = serde_json::from_str(&response.body).unwrap_or_default();
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
    serde_json::from_str::<V2Answer>(&response.body)
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
mod tests {
    use super::*;
    use crate::core::wire::TransportError;
    use crate::providers::aws::testing::{delivery, response, NOW};

    fn config(api_version: ApiVersion) -> KafkaConfig {
        KafkaConfig {
            endpoint: "https://pkc-abcde.us-west4.gcp.confluent.cloud:443/kafka/".into(),
            api_version,
            cluster_id: (api_version == ApiVersion::V3).then(|| "lkc-vo9pz".to_string()),
            topic: "orders".into(),
            key_field: None,
            auth: Some(KafkaAuth::Basic {
                username: "KEY".into(),
                password: "SECRET".into(),
            }),
        }
    }

    fn v3() -> Kafka {
        Kafka::new(config(ApiVersion::V3))
    }

    fn v2() -> Kafka {
        Kafka::new(config(ApiVersion::V2))
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

    fn headers(request: &HttpRequest) -> Vec<(&str, &str)> {
        request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The v3 produce request as Confluent's API reference gives it: typed key and value,
    /// header values as base64 bytes, JSON in and out, basic auth.
    #[test]
    fn v3_wire_format() {
        let request = v3()
            .build(&[delivery("evt_1", r#"{"order":1,"a":[true]}"#)], NOW)
            .unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.url,
            "https://pkc-abcde.us-west4.gcp.confluent.cloud:443/kafka/v3/clusters/lkc-vo9pz/topics/orders/records"
        );
        assert_eq!(
            headers(&request),
            [
                ("content-type", "application/json"),
                ("accept", "application/json"),
                ("authorization", "Basic S0VZOlNFQ1JFVA=="),
            ]
        );
        assert_eq!(
            String::from_utf8(request.body).unwrap(),
            concat!(
                r#"{"key":{"data":"evt_1","type":"STRING"},"value":{"type":"JSON","data":{"order":1,"a":[true]}},"#,
                r#""headers":[{"name":"sluice-event-id","value":"ZXZ0XzE="},"#,
                r#"{"name":"sluice-topic","value":"b3JkZXIuY3JlYXRlZA=="},"#,
                r#"{"name":"sluice-attempt","value":"Mw=="}]}"#
            )
        );
        assert_eq!(v3().max_batch(), 1);
    }

    #[test]
    fn keys_from_a_payload_field() {
        let mut c = config(ApiVersion::V3);
        c.key_field = Some("customer.id".into());
        c.auth = None;
        let kafka = Kafka::new(c.clone());
        let body = |k: &Kafka, payload: &str| -> Value {
            serde_json::from_slice(&k.build(&[delivery("evt_1", payload)], NOW).unwrap().body)
                .unwrap()
        };
        let b = body(&kafka, r#"{"customer":{"id":"c-42"}}"#);
        assert_eq!(b["key"], json!({"type": "STRING", "data": "c-42"}));
        let b = body(&kafka, r#"{"customer":{"id":42}}"#);
        assert_eq!(b["key"], json!({"type": "JSON", "data": 42}));
        let b = body(&kafka, r#"{"other":1}"#);
        assert_eq!(b["key"], json!({"type": "STRING", "data": "evt_1"}));
        let no_auth = kafka.build(&[delivery("evt_1", "{}")], NOW).unwrap();
        assert_eq!(no_auth.header("authorization"), None);

        c.api_version = ApiVersion::V2;
        c.cluster_id = None;
        let kafka = Kafka::new(c);
        let b = body(&kafka, r#"{"customer":{"id":"c-42"}}"#);
        assert_eq!(b["records"][0]["key"], "c-42");
    }

    /// The v2 produce request as in the REST Proxy API reference: the JSON embedded format's
    /// content type, `records` of key and value, no headers.
    #[test]
    fn v2_wire_format() {
        let batch = [
            delivery("evt_1", r#"{"order":1}"#),
            delivery("evt_2", r#" "text" "#),
        ];
        let request = v2().build(&batch, NOW).unwrap();
        assert_eq!(
            request.url,
            "https://pkc-abcde.us-west4.gcp.confluent.cloud:443/kafka/topics/orders"
        );
        assert_eq!(
            headers(&request),
            [
                ("content-type", "application/vnd.kafka.json.v2+json"),
                ("accept", "application/vnd.kafka.v2+json"),
                ("authorization", "Basic S0VZOlNFQ1JFVA=="),
            ]
        );
        assert_eq!(
            String::from_utf8(request.body).unwrap(),
            r#"{"records":[{"key":"evt_1","value":{"order":1}},{"key":"evt_2","value":"text"}]}"#
        );
        assert_eq!(v2().max_batch(), MAX_V2_RECORDS);
    }

    #[test]
    fn v2_batches_respect_the_record_and_byte_limits() {
        let many: Vec<_> = (0..MAX_V2_RECORDS + 1)
            .map(|i| delivery(&format!("e{i}"), "{}"))
            .collect();
        let body: Value = serde_json::from_slice(&v2().build(&many, NOW).unwrap().body).unwrap();
        assert_eq!(body["records"].as_array().unwrap().len(), MAX_V2_RECORDS);

        let big = format!("\"{}\"", "a".repeat(600_000));
        let huge = format!("\"{}\"", "a".repeat(MAX_V2_BATCH_BYTES + 10));
        // The first record goes whatever its size; a record that does not fit waits, and
        // everything after it too (order); data that is not JSON can never go.
        let batch = [delivery("evt_1", &huge), delivery("evt_2", "{}")];
        let body: Value = serde_json::from_slice(&v2().build(&batch, NOW).unwrap().body).unwrap();
        assert_eq!(body["records"].as_array().unwrap().len(), 1);
        let batch = [
            delivery("evt_1", "not json"),
            delivery("evt_2", &big),
            delivery("evt_3", &big),
            delivery("evt_4", "{}"),
        ];
        let body: Value = serde_json::from_slice(&v2().build(&batch, NOW).unwrap().body).unwrap();
        assert_eq!(body["records"][0]["key"], "evt_2");
        assert_eq!(body["records"].as_array().unwrap().len(), 1);
        let ok = r#"{"key_schema_id":null,"value_schema_id":null,"offsets":[{"partition":0,"offset":7,"error_code":null,"error":null}]}"#;
        let verdicts = v2().interpret(&batch, &response(200, &[], ok), NOW);
        assert_eq!(
            kinds(&verdicts),
            ["permanent", "delivered", "transient", "transient"]
        );
        assert!(matches!(
            &verdicts[2],
            Verdict::Transient {
                retry_after_ms: Some(0),
                ..
            }
        ));
        let err = v2().build(&batch[..1], NOW).unwrap_err();
        assert!(err.contains("not JSON"), "{err}");
    }

    /// A v2 answer with per-record errors, shaped as in the API reference: `error_code` 1 is a
    /// non-retriable Kafka exception, 2 a retriable one.
    #[test]
    fn v2_per_record_errors() {
        let batch: Vec<_> = (0..4).map(|i| delivery(&format!("e{i}"), "{}")).collect();
        let body = r#"{"key_schema_id":null,"value_schema_id":null,"offsets":[
            {"partition":0,"offset":10,"error_code":null,"error":null},
            {"partition":null,"offset":null,"error_code":2,"error":"NotEnoughReplicasException"},
            {"partition":null,"offset":null,"error_code":1,"error":"RecordTooLargeException"}
        ]}"#;
        let verdicts = v2().interpret(&batch, &response(200, &[], body), NOW);
        assert_eq!(
            kinds(&verdicts),
            ["delivered", "transient", "permanent", "transient"]
        );
        assert_eq!(
            verdicts[2],
            Verdict::Permanent {
                error: "Kafka REST record error 1: RecordTooLargeException".into()
            }
        );
        let garbled = v2().interpret(&batch, &response(200, &[], "<html>"), NOW);
        assert_eq!(kinds(&garbled), ["transient"; 4]);
    }

    /// Whole-request errors in the proxy's `{"error_code", "message"}` shape.
    #[test]
    fn request_errors() {
        type Case<'a> = (u16, &'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                404,
                &[],
                r#"{"error_code":40401,"message":"Topic not found."}"#,
                "permanent",
            ),
            (
                401,
                &[],
                r#"{"error_code":401,"message":"Unauthorized"}"#,
                "permanent",
            ),
            (
                403,
                &[],
                r#"{"error_code":40301,"message":"Not authorized"}"#,
                "permanent",
            ),
            (
                422,
                &[],
                r#"{"error_code":42201,"message":"Request includes keys and/or values that are too large."}"#,
                "permanent",
            ),
            (
                415,
                &[],
                r#"{"error_code":415,"message":"HTTP 415 Unsupported Media Type"}"#,
                "permanent",
            ),
            (
                429,
                &[("retry-after", "3")],
                r#"{"error_code":429,"message":"Too Many Requests"}"#,
                "transient",
            ),
            (
                500,
                &[],
                r#"{"error_code":50002,"message":"Kafka error"}"#,
                "transient",
            ),
            (503, &[], "Service Unavailable", "transient"),
        ];
        let one = [delivery("evt_1", "{}")];
        for kafka in [v3(), v2()] {
            for (status, headers, body, expected) in cases {
                let v = kafka.interpret(&one, &response(*status, headers, body), NOW);
                assert_eq!(kinds(&v), [*expected], "{status} {body}");
            }
        }
        assert_eq!(
            v3().interpret(
                &one,
                &response(
                    404,
                    &[],
                    r#"{"error_code":40401,"message":"Topic not found."}"#
                ),
                NOW
            ),
            [Verdict::Permanent {
                error: "Kafka REST HTTP 404 (40401): Topic not found.".into()
            }]
        );
        let v = v2().interpret(
            &one,
            &response(401, &[], r#"{"error_code":401,"message":"Unauthorized"}"#),
            NOW,
        );
        assert!(
            matches!(&v[0], Verdict::Permanent { error } if error.contains("API key")),
            "{v:?}"
        );
        assert_eq!(
            v3().interpret(&one, &response(429, &[("retry-after", "3")], "{}"), NOW),
            [Verdict::Transient {
                error: "Kafka REST HTTP 429".into(),
                retry_after_ms: Some(3_000)
            }]
        );
        let timeout = Err(TransportError::Timeout { after_ms: 5_000 });
        assert_eq!(kinds(&v3().interpret(&one, &timeout, NOW)), ["transient"]);
        assert_eq!(kinds(&v2().interpret(&one, &timeout, NOW)), ["transient"]);
    }

    /// v3 answers: the delivery report, or an error report in a 200 (streaming mode).
    #[test]
    fn v3_answers() {
        let one = [delivery("evt_1", "{}")];
        let ok = r#"{"error_code":200,"cluster_id":"lkc-vo9pz","topic_name":"orders","partition_id":0,"offset":42,"timestamp":"2023-11-14T22:13:20.000Z","key":{"type":"STRING","size":5},"value":{"type":"JSON","size":2}}"#;
        assert_eq!(
            v3().interpret(&one, &response(200, &[], ok), NOW),
            [Verdict::Delivered]
        );
        let in_band =
            r#"{"error_code":40401,"message":"This server does not host this topic-partition."}"#;
        assert_eq!(
            kinds(&v3().interpret(&one, &response(200, &[], in_band), NOW)),
            ["permanent"]
        );
        let throttled = r#"{"error_code":429,"message":"Request rate limit exceeded"}"#;
        assert_eq!(
            kinds(&v3().interpret(&one, &response(200, &[], throttled), NOW)),
            ["transient"]
        );
    }
}
