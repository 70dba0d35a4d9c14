//! One module per destination type: its config (parsed, checked, masked) and a pure request
//! builder and response interpreter. The DeliveryScheduler owns the one place where requests
//! are sent.

pub mod alert_channels;
pub mod aws;
pub mod cloudevents;
pub mod eventbridge;
pub mod kafka;
pub mod kafka_config;
pub mod pubsub;
pub mod rabbitmq;
pub mod s3;
pub mod sqs;
pub mod transformed;
pub mod webhook;
pub mod webhook_config;
pub mod websocket;

use crate::core::classify::Verdict;
use crate::core::destination::{SecretBundle, TargetConfig, MASK};
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::time::Millis;
use crate::core::validate::{from_value, FieldError};
use crate::core::wire::{HttpRequest, TransportResult};
use alert_channels::{ChatConfig, EmailConfig, PagerDutyConfig};
use eventbridge::EventBridgeConfig;
use kafka_config::KafkaConfig;
use pubsub::{PubSubConfig, TokenCache};
use rabbitmq::RabbitMqConfig;
use s3::S3Config;
use serde_json::Value;
use sqs::SqsConfig;
use webhook_config::WebhookConfig;
use websocket::WebSocketConfig;

/// Every destination type, by the name clients use in `type`.
pub const TYPES: &[&str] = &[
    "webhook",
    "aws_sqs",
    "aws_eventbridge",
    "aws_s3",
    "gcp_pubsub",
    "kafka",
    "rabbitmq",
    "websocket",
    "slack",
    "discord",
    "pagerduty",
    "email",
];

/// The type catalogue served at `GET /v1/destination-types`: per type a description, the
/// JSON Schema of its `config` (secrets marked `x-secret`) and examples. Generated from the
/// config types (`src/schema/`) and embedded without indentation (`build.rs`); tests hold it
/// to `TYPES` and to what the parsers accept.
pub const CATALOGUE: &str = include_str!(concat!(env!("OUT_DIR"), "/types.json"));

/// A destination's typed config, one variant per type.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Webhook(WebhookConfig),
    AwsSqs(SqsConfig),
    AwsEventBridge(EventBridgeConfig),
    AwsS3(S3Config),
    GcpPubSub(PubSubConfig),
    Kafka(KafkaConfig),
    RabbitMq(RabbitMqConfig),
    WebSocket(WebSocketConfig),
    Slack(ChatConfig),
    Discord(ChatConfig),
    PagerDuty(PagerDutyConfig),
    Email(EmailConfig),
}

/// Masks the AWS secret parts of a config's JSON (the access key id stays visible).
fn mask_aws(mut v: Value) -> Value {
    for key in ["secret_access_key", "session_token"] {
        if let Some(field) = v.get_mut(key) {
            *field = Value::String(MASK.into());
        }
    }
    v
}

impl TargetConfig for Target {
    fn parse(kind: &str, config: Value) -> Result<Self, FieldError> {
        match kind {
            "webhook" => from_value(config, "config").map(Target::Webhook),
            "aws_sqs" => from_value(config, "config").map(Target::AwsSqs),
            "aws_eventbridge" => from_value(config, "config").map(Target::AwsEventBridge),
            "aws_s3" => from_value(config, "config").map(Target::AwsS3),
            "gcp_pubsub" => from_value(config, "config").map(Target::GcpPubSub),
            "kafka" => from_value(config, "config").map(Target::Kafka),
            "rabbitmq" => from_value(config, "config").map(Target::RabbitMq),
            "websocket" => from_value(config, "config").map(Target::WebSocket),
            "slack" => from_value(config, "config").map(Target::Slack),
            "discord" => from_value(config, "config").map(Target::Discord),
            "pagerduty" => from_value(config, "config").map(Target::PagerDuty),
            "email" => from_value(config, "config").map(Target::Email),
            other => Err(FieldError::new(
                "type",
                format!(
                    "unknown destination type '{other}'; one of {}",
                    TYPES.join(", ")
                ),
            )),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Target::Webhook(_) => "webhook",
            Target::AwsSqs(_) => "aws_sqs",
            Target::AwsEventBridge(_) => "aws_eventbridge",
            Target::AwsS3(_) => "aws_s3",
            Target::GcpPubSub(_) => "gcp_pubsub",
            Target::Kafka(_) => "kafka",
            Target::RabbitMq(_) => "rabbitmq",
            Target::WebSocket(_) => "websocket",
            Target::Slack(_) => "slack",
            Target::Discord(_) => "discord",
            Target::PagerDuty(_) => "pagerduty",
            Target::Email(_) => "email",
        }
    }

    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        match self {
            Target::Webhook(c) => c.validate(allow_private),
            Target::AwsSqs(c) => c.validate(allow_private),
            Target::AwsEventBridge(c) => c.validate(allow_private),
            Target::AwsS3(c) => c.validate(allow_private),
            Target::GcpPubSub(c) => c.validate(allow_private),
            Target::Kafka(c) => c.validate(allow_private),
            Target::RabbitMq(c) => c.validate(allow_private),
            Target::WebSocket(c) => c.validate(allow_private),
            Target::Slack(c) | Target::Discord(c) => c.validate(allow_private),
            Target::PagerDuty(c) => c.validate(allow_private),
            Target::Email(c) => c.validate(),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Target::Webhook(c) => serde_json::to_value(c),
            Target::AwsSqs(c) => serde_json::to_value(c),
            Target::AwsEventBridge(c) => serde_json::to_value(c),
            Target::AwsS3(c) => serde_json::to_value(c),
            Target::GcpPubSub(c) => serde_json::to_value(c),
            Target::Kafka(c) => serde_json::to_value(c),
            Target::RabbitMq(c) => serde_json::to_value(c),
            Target::WebSocket(c) => serde_json::to_value(c),
            Target::Slack(c) | Target::Discord(c) => serde_json::to_value(c),
            Target::PagerDuty(c) => serde_json::to_value(c),
            Target::Email(c) => serde_json::to_value(c),
        }
        .unwrap_or(Value::Null)
    }

    fn masked(&self) -> Value {
        match self {
            Target::Webhook(c) => serde_json::to_value(c.masked()).unwrap_or(Value::Null),
            Target::GcpPubSub(_) => {
                let mut v = self.to_json();
                v["service_account"]["private_key"] = Value::String(MASK.into());
                v
            }
            Target::Kafka(c) => serde_json::to_value(c.masked()).unwrap_or(Value::Null),
            Target::RabbitMq(c) => serde_json::to_value(c.masked()).unwrap_or(Value::Null),
            Target::WebSocket(c) => serde_json::to_value(c).unwrap_or(Value::Null),
            Target::Slack(c) | Target::Discord(c) => {
                serde_json::to_value(c.masked()).unwrap_or(Value::Null)
            }
            Target::PagerDuty(c) => serde_json::to_value(c.masked()).unwrap_or(Value::Null),
            aws => mask_aws(aws.to_json()),
        }
    }

    fn signs(&self) -> bool {
        matches!(self, Target::Webhook(c) if c.signs())
    }

    fn take_signing_secret(&mut self) -> Option<String> {
        match self {
            Target::Webhook(c) => c.signing.take_secret(),
            _ => None,
        }
    }

    fn check_signing_secret(&self, secret: &str) -> Result<(), String> {
        match self {
            Target::Webhook(c) => c.check_signing_secret(secret),
            _ => Err("this destination type does not sign with a secret".into()),
        }
    }

    fn alerts_only(&self) -> bool {
        matches!(
            self,
            Target::Slack(_) | Target::Discord(_) | Target::PagerDuty(_) | Target::Email(_)
        )
    }
}

/// The provider of any type, so the scheduler holds one concrete type.
pub enum AnyProvider {
    Webhook(webhook::Webhook),
    Sqs(sqs::Sqs),
    EventBridge(eventbridge::EventBridge),
    S3(s3::S3),
    PubSub(pubsub::PubSub),
    Kafka(kafka::Kafka),
    RabbitMq(rabbitmq::RabbitMq),
    WebSocket(websocket::WebSocketProvider),
    Slack(alert_channels::Slack),
    Discord(alert_channels::Discord),
    PagerDuty(alert_channels::PagerDuty),
    Email(alert_channels::Email),
}

/// Builds the provider for a destination from its decrypted secrets; `tokens` keeps an
/// access token between runs for the types that exchange one.
pub fn for_target(
    target: &Target,
    secrets: &SecretBundle,
    tokens: &TokenCache,
    now: Millis,
) -> AnyProvider {
    match target {
        Target::Webhook(c) => AnyProvider::Webhook(webhook::Webhook::new(c.clone(), secrets, now)),
        Target::AwsSqs(c) => AnyProvider::Sqs(sqs::Sqs::new(c.clone())),
        Target::AwsEventBridge(c) => {
            AnyProvider::EventBridge(eventbridge::EventBridge::new(c.clone()))
        }
        Target::AwsS3(c) => AnyProvider::S3(s3::S3::new(c.clone())),
        Target::GcpPubSub(c) => AnyProvider::PubSub(pubsub::PubSub::new(c.clone(), tokens.clone())),
        Target::Kafka(c) => AnyProvider::Kafka(kafka::Kafka::new(c.clone())),
        Target::RabbitMq(c) => AnyProvider::RabbitMq(rabbitmq::RabbitMq::new(c.clone())),
        Target::WebSocket(_) => AnyProvider::WebSocket(websocket::WebSocketProvider),
        Target::Slack(c) => AnyProvider::Slack(alert_channels::Slack(c.clone())),
        Target::Discord(c) => AnyProvider::Discord(alert_channels::Discord(c.clone())),
        Target::PagerDuty(c) => AnyProvider::PagerDuty(alert_channels::PagerDuty(c.clone())),
        Target::Email(c) => AnyProvider::Email(alert_channels::Email(c.clone())),
    }
}

macro_rules! each {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            AnyProvider::Webhook($p) => $e,
            AnyProvider::Sqs($p) => $e,
            AnyProvider::EventBridge($p) => $e,
            AnyProvider::S3($p) => $e,
            AnyProvider::PubSub($p) => $e,
            AnyProvider::Kafka($p) => $e,
            AnyProvider::RabbitMq($p) => $e,
            AnyProvider::WebSocket($p) => $e,
            AnyProvider::Slack($p) => $e,
            AnyProvider::Discord($p) => $e,
            AnyProvider::PagerDuty($p) => $e,
            AnyProvider::Email($p) => $e,
        }
    };
}

impl Provider for AnyProvider {
    fn max_batch(&self) -> usize {
        each!(self, p => p.max_batch())
    }

    fn fit(&self, batch: &[QueuedDelivery]) -> usize {
        each!(self, p => p.fit(batch))
    }

    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<HttpRequest, String> {
        each!(self, p => p.build(batch, now))
    }

    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        each!(self, p => p.interpret(batch, result, now))
    }

    fn secret_headers(&self) -> Vec<String> {
        each!(self, p => p.secret_headers())
    }

    fn credential_request(&self, now: Millis) -> Option<Result<HttpRequest, String>> {
        each!(self, p => p.credential_request(now))
    }

    fn accept_credential(&self, result: &TransportResult, now: Millis) -> Result<(), Verdict> {
        each!(self, p => p.accept_credential(result, now))
    }
}

#[cfg(test)]
mod payload_tests;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
