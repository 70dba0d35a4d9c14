//! RabbitMQ through its management plugin's HTTP API: one `POST
//! {endpoint}/api/exchanges/{vhost}/{exchange}/publish` per event, with basic auth. The event's
//! data is the payload; its id is the AMQP `message_id`, and id, topic and attempt travel as
//! headers. The HTTP API has no batch publish, so a request carries one message.
//!
//! The answer says whether the broker routed the message to at least one queue. An unrouted
//! message is dropped by the broker: that fails the delivery for good (retrying cannot help
//! until someone adds a binding; a manual retry resends it then), unless `allow_unrouted`.

use crate::core::classify::{classify, classify_status, Verdict};
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::json;
use crate::core::time::Millis;
use crate::core::wire::{snippet, HttpRequest, HttpResponse, Outbound, TransportResult};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

mod config;
pub use config::*;

pub const USER_AGENT: &str = concat!("Sluice/", env!("CARGO_PKG_VERSION"), " (rabbitmq delivery)");

/// AMQP `delivery_mode` 2: persistent (written to disk by durable queues).
const PERSISTENT: u8 = 2;

#[derive(Serialize)]
struct Headers<'a> {
    #[serde(rename = "sluice-event-id")]
    event_id: &'a str,
    #[serde(rename = "sluice-topic")]
    topic: &'a str,
    #[serde(rename = "sluice-attempt")]
    attempt: u32,
}

#[derive(Serialize)]
struct Properties<'a> {
    message_id: &'a str,
    delivery_mode: u8,
    content_type: &'static str,
    headers: Headers<'a>,
}

/// The body of `POST /api/exchanges/{vhost}/{exchange}/publish`.
#[derive(Serialize)]
struct Publish<'a> {
    properties: Properties<'a>,
    routing_key: String,
    payload: &'a str,
    payload_encoding: &'static str,
}

/// What the management API answers: `{"routed": true|false}`, or on an error
/// `{"error": "...", "reason": "..."}` (the reason is sometimes a list).
#[derive(Deserialize)]
struct Routed {
    routed: bool,
}

#[derive(Deserialize)]
struct ApiError {
    error: Option<String>,
    reason: Option<serde_json::Value>,
}

pub struct RabbitMq {
    config: RabbitMqConfig,
}

impl RabbitMq {
    pub fn new(config: RabbitMqConfig) -> Self {
        RabbitMq { config }
    }

    fn error_text(&self, response: &HttpResponse) -> String {
        let mut text = format!("RabbitMQ HTTP {}", response.status);
        match json::from_str::<ApiError>(&response.body) {
            Ok(ApiError { error, reason }) if error.is_some() || reason.is_some() => {
                if let Some(error) = error {
                    text.push_str(&format!(" {error}"));
                }
                match reason {
                    Some(serde_json::Value::String(r)) => text.push_str(&format!(": {r}")),
                    Some(other) => text.push_str(&format!(": {other}")),
                    None => {}
                }
            }
            _ => {
                let body = snippet(response.body.trim());
                if !body.is_empty() {
                    text.push_str(&format!(": {}", body.chars().take(200).collect::<String>()));
                }
            }
        }
        match response.status {
            401 => text.push_str(&format!(
                " (check username and password, and that vhost '{}' exists and the user may write to it)",
                self.config.vhost
            )),
            404 => text.push_str(" (does the vhost or exchange exist?)"),
            _ => {}
        }
        text
    }

    fn verdict(
        &self,
        d: Option<&QueuedDelivery>,
        result: &TransportResult,
        now: Millis,
    ) -> Verdict {
        let Ok(response) = result else {
            return classify(result, now);
        };
        match classify_status(response, now) {
            Verdict::Delivered => {}
            Verdict::Transient { retry_after_ms, .. } => {
                return Verdict::Transient {
                    error: self.error_text(response),
                    retry_after_ms,
                }
            }
            Verdict::Permanent { error } if (300..400).contains(&response.status) => {
                return Verdict::Permanent { error }
            }
            Verdict::Permanent { .. } => {
                return Verdict::Permanent {
                    error: self.error_text(response),
                }
            }
        }
        match json::from_str::<Routed>(&response.body) {
            Ok(Routed { routed: true }) => Verdict::Delivered,
            Ok(Routed { routed: false }) if self.config.allow_unrouted => Verdict::Delivered,
            Ok(Routed { routed: false }) => {
                let key = d
                    .and_then(|d| routing_key(&self.config.routing_key, d).ok())
                    .unwrap_or_default();
                let exchange = if self.config.exchange.is_empty() {
                    "(default)"
                } else {
                    &self.config.exchange
                };
                Verdict::Permanent {
                    error: format!(
                        "RabbitMQ routed the message to no queue (\"routed\": false): exchange \
                         '{exchange}' has no binding for routing key '{key}', so the broker \
                         dropped it; add a binding and retry, or set allow_unrouted"
                    ),
                }
            }
            Err(_) => Verdict::Permanent {
                error: format!(
                    "RabbitMQ HTTP {}: the answer has no \"routed\" field; is config.endpoint \
                     the management API?",
                    response.status
                ),
            },
        }
    }
}

impl Provider for RabbitMq {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<Outbound, String> {
        let d = batch.first().ok_or("empty batch")?;
        let body = Publish {
            properties: Properties {
                message_id: d.event_id.as_str(),
                delivery_mode: PERSISTENT,
                content_type: "application/json",
                headers: Headers {
                    event_id: d.event_id.as_str(),
                    topic: &d.topic,
                    attempt: d.attempts + 1,
                },
            },
            routing_key: routing_key(&self.config.routing_key, d)?,
            payload: &d.payload,
            payload_encoding: "string",
        };
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let creds = B64.encode(format!("{}:{}", self.config.username, self.config.password));
        Ok(Outbound::Http(HttpRequest {
            method: "POST",
            url: self.config.publish_url(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("user-agent".into(), USER_AGENT.into()),
                ("authorization".into(), format!("Basic {creds}")),
            ],
            body,
        }))
    }

    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        vec![self.verdict(batch.first(), result, now); batch.len()]
    }
}

#[cfg(test)]
mod tests;
