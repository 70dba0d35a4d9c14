//! One module per destination type, each laid out the same way: `<type>/mod.rs` builds what
//! is sent and reads the answer (a pure `Provider`), `<type>/config.rs` holds the destination
//! config (parsed, checked, masked, through `TypeConfig`), `<type>/tests.rs` tests both.
//! Shared pieces sit beside them: the AWS client (`aws`), batch packing (`batch`), `{name}`
//! templates (`placeholders`) and transforms (`transformed`). The DeliveryScheduler owns the
//! one place where things are sent.
//!
//! Every type is one line of `registry!` below, which derives from it the `type` names, the
//! `Target` enum of configs and the `AnyProvider` enum of providers, with their dispatch.

pub mod alert_channels;
pub mod aws;
pub mod batch;
pub mod eventbridge;
pub mod kafka;
pub mod placeholders;
pub mod pubsub;
pub mod rabbitmq;
pub mod s3;
pub mod sqs;
pub mod transformed;
pub mod webhook;
pub mod websocket;

use crate::core::classify::Verdict;
use crate::core::destination::{SecretBundle, TargetConfig};
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::time::Millis;
use crate::core::validate::{from_value, FieldError};
use crate::core::wire::{CredentialRequest, Outbound, TransportResult};
use alert_channels::{ChatConfig, EmailConfig, PagerDutyConfig};
use eventbridge::EventBridgeConfig;
use kafka::KafkaConfig;
use pubsub::{PubSubConfig, TokenCache};
use rabbitmq::RabbitMqConfig;
use s3::S3Config;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sqs::SqsConfig;
use webhook::WebhookConfig;
use websocket::WebSocketConfig;

/// The type catalogue served at `GET /v1/destination-types` (`src/providers/types.json`): per
/// type a description, the JSON Schema of its `config` (secrets marked `x-secret`) and
/// examples. Generated from the config types (`src/schema/`); tests hold it to `TYPES`, to
/// `SECRET_PATHS` and to what the parsers accept. Not in the wasm: `scripts/build.sh` places
/// it among the static assets, and the Worker answers from the `ASSETS` binding.
#[cfg(any(test, not(target_arch = "wasm32")))]
pub const CATALOGUE: &str = include_str!(concat!(env!("OUT_DIR"), "/types.json"));

/// Each type's credentials, as the catalogue lists them (`secrets`): the paths in `config`
/// that are stored sealed and shown masked; `name.*` is every key of the object `name`.
/// A unit test keeps this equal to the catalogue.
pub const SECRET_PATHS: &[(&str, &[&str])] = &[
    (
        "webhook",
        &[
            "auth.token",
            "auth.password",
            "auth.key",
            "headers.*",
            "signing.secret",
        ],
    ),
    ("aws_sqs", &["secret_access_key", "session_token"]),
    ("aws_eventbridge", &["secret_access_key", "session_token"]),
    ("aws_s3", &["secret_access_key", "session_token"]),
    ("gcp_pubsub", &["service_account.private_key"]),
    ("kafka", &["auth.password"]),
    ("rabbitmq", &["password"]),
    ("websocket", &[]),
    ("slack", &["url"]),
    ("discord", &["url"]),
    ("pagerduty", &["routing_key"]),
    ("email", &[]),
];

/// The credentials of a type (`SECRET_PATHS`); none for an unknown one.
pub fn secret_paths(kind: &str) -> &'static [&'static str] {
    SECRET_PATHS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(&[], |(_, paths)| paths)
}

/// What a destination type's config gives the registry.
pub trait TypeConfig: Serialize + DeserializeOwned {
    /// Only alert channels: such a destination receives alerts, never a tenant's events.
    const ALERTS_ONLY: bool = false;
    /// Every problem with the config, fields named `config.…`; private addresses are refused
    /// unless `allow_private`.
    fn check(&self, allow_private: bool) -> Vec<FieldError>;
    /// The config as the API shows it: credentials replaced by `MASK`.
    fn masked(&self) -> Value;
    /// The key whose deliveries the receiver must get in order (an SQS FIFO message group, a
    /// Pub/Sub ordering key, a Kafka record key), if the type has one for this delivery: a
    /// destination spread over lanes keeps each key in one lane (`core::lanes`).
    fn ordering_key(&self, _delivery: &QueuedDelivery) -> Option<String> {
        None
    }
    /// Delivered to the clients connected to one object (WebSocket), not sent: such a
    /// destination has one lane.
    const ONE_LANE: bool = false;
}

/// What a provider may need beyond its config when it is built for a run.
pub struct Context<'a> {
    /// The destination's decrypted secrets (signing keys).
    pub secrets: &'a SecretBundle,
    /// An access token kept between runs, for the types that exchange one.
    pub tokens: &'a TokenCache,
    pub now: Millis,
}

/// Declares every destination type: `Variant("type", Config) => Provider = |config, context|
/// how to build the provider;`. Generates `TYPES`, `config_schemas` (native tests), `Target` (the typed config, one variant per
/// type), `AnyProvider` (the provider of any type, so the scheduler holds one concrete type),
/// `for_target`, and their dispatch.
macro_rules! registry {
    ($($variant:ident($kind:literal, $config:ty) => $provider:ty = |$c:ident, $ctx:ident| $build:expr;)*) => {
        /// Every destination type, by the name clients use in `type`.
        pub const TYPES: &[&str] = &[$($kind),*];

        /// Each type with the JSON Schema of its config, in the order of `TYPES`. Native tests
        /// only: the generator (`src/schema/`) writes the committed documents from these.
        #[cfg(all(test, not(target_arch = "wasm32")))]
        pub(crate) fn config_schemas(
            generator: &mut schemars::SchemaGenerator,
        ) -> Vec<(&'static str, schemars::Schema)> {
            vec![$(($kind, generator.subschema_for::<$config>())),*]
        }

        /// Whether the type named `kind` only carries alerts (`TypeConfig::ALERTS_ONLY`).
        pub fn alerts_only(kind: &str) -> bool {
            match kind {
                $($kind => <$config as TypeConfig>::ALERTS_ONLY,)*
                _ => false,
            }
        }

        /// A destination's typed config, one variant per type.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Target {
            $($variant($config)),*
        }

        /// The provider of any type, so the scheduler holds one concrete type.
        pub enum AnyProvider {
            $($variant($provider)),*
        }

        impl Target {
            /// The config of a known type, or `None` for an unknown `type`.
            fn parse_known(kind: &str, config: Value) -> Option<Result<Self, FieldError>> {
                match kind {
                    $($kind => Some(from_value(config, "config").map(Target::$variant)),)*
                    _ => None,
                }
            }

            fn kind_name(&self) -> &'static str {
                match self {
                    $(Target::$variant(_) => $kind,)*
                }
            }

            fn check_config(&self, allow_private: bool) -> Vec<FieldError> {
                match self {
                    $(Target::$variant(c) => TypeConfig::check(c, allow_private),)*
                }
            }

            fn config_json(&self) -> Value {
                match self {
                    $(Target::$variant(c) => serde_json::to_value(c).unwrap_or(Value::Null),)*
                }
            }

            fn masked_config(&self) -> Value {
                match self {
                    $(Target::$variant(c) => TypeConfig::masked(c),)*
                }
            }

            fn only_alerts(&self) -> bool {
                match self {
                    $(Target::$variant(_) => <$config as TypeConfig>::ALERTS_ONLY,)*
                }
            }

            /// The delivery's ordering key under this config (`TypeConfig::ordering_key`).
            pub fn ordering_key(&self, delivery: &QueuedDelivery) -> Option<String> {
                match self {
                    $(Target::$variant(c) => TypeConfig::ordering_key(c, delivery),)*
                }
            }

            fn one_lane(&self) -> bool {
                match self {
                    $(Target::$variant(_) => <$config as TypeConfig>::ONE_LANE,)*
                }
            }
        }

        /// Builds the provider for a destination from its config and the run's context.
        pub fn for_target(
            target: &Target,
            secrets: &SecretBundle,
            tokens: &TokenCache,
            now: Millis,
        ) -> AnyProvider {
            let context = Context { secrets, tokens, now };
            match target {
                $(Target::$variant($c) => {
                    let $ctx = &context;
                    AnyProvider::$variant($build)
                })*
            }
        }

        impl Provider for AnyProvider {
            fn max_batch(&self) -> usize {
                match self {
                    $(AnyProvider::$variant(p) => p.max_batch(),)*
                }
            }

            fn fit(&self, batch: &[QueuedDelivery]) -> usize {
                match self {
                    $(AnyProvider::$variant(p) => p.fit(batch),)*
                }
            }

            fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<Outbound, String> {
                match self {
                    $(AnyProvider::$variant(p) => p.build(batch, now),)*
                }
            }

            fn interpret(
                &self,
                batch: &[QueuedDelivery],
                result: &TransportResult,
                now: Millis,
            ) -> Vec<Verdict> {
                match self {
                    $(AnyProvider::$variant(p) => p.interpret(batch, result, now),)*
                }
            }

            fn secret_headers(&self) -> Vec<String> {
                match self {
                    $(AnyProvider::$variant(p) => p.secret_headers(),)*
                }
            }

            fn credential_request(&self, now: Millis) -> Option<Result<CredentialRequest, String>> {
                match self {
                    $(AnyProvider::$variant(p) => p.credential_request(now),)*
                }
            }

            fn accept_credential(
                &self,
                result: &TransportResult,
                now: Millis,
            ) -> Result<(), Verdict> {
                match self {
                    $(AnyProvider::$variant(p) => p.accept_credential(result, now),)*
                }
            }
        }
    };
}

registry! {
    Webhook("webhook", WebhookConfig) => webhook::Webhook
        = |c, ctx| webhook::Webhook::new(c.clone(), ctx.secrets, ctx.now);
    AwsSqs("aws_sqs", SqsConfig) => sqs::Sqs = |c, _ctx| sqs::Sqs::new(c.clone());
    AwsEventBridge("aws_eventbridge", EventBridgeConfig) => eventbridge::EventBridge
        = |c, _ctx| eventbridge::EventBridge::new(c.clone());
    AwsS3("aws_s3", S3Config) => s3::S3 = |c, _ctx| s3::S3::new(c.clone());
    GcpPubSub("gcp_pubsub", PubSubConfig) => pubsub::PubSub
        = |c, ctx| pubsub::PubSub::new(c.clone(), ctx.tokens.clone());
    Kafka("kafka", KafkaConfig) => kafka::Kafka = |c, _ctx| kafka::Kafka::new(c.clone());
    RabbitMq("rabbitmq", RabbitMqConfig) => rabbitmq::RabbitMq
        = |c, _ctx| rabbitmq::RabbitMq::new(c.clone());
    WebSocket("websocket", WebSocketConfig) => websocket::WebSocketProvider
        = |_c, _ctx| websocket::WebSocketProvider;
    Slack("slack", ChatConfig) => alert_channels::Slack
        = |c, _ctx| alert_channels::Slack(c.clone());
    Discord("discord", ChatConfig) => alert_channels::Discord
        = |c, _ctx| alert_channels::Discord(c.clone());
    PagerDuty("pagerduty", PagerDutyConfig) => alert_channels::PagerDuty
        = |c, _ctx| alert_channels::PagerDuty(c.clone());
    Email("email", EmailConfig) => alert_channels::Email
        = |c, _ctx| alert_channels::Email(c.clone());
}

impl TargetConfig for Target {
    fn parse(kind: &str, config: Value) -> Result<Self, FieldError> {
        Target::parse_known(kind, config).unwrap_or_else(|| {
            Err(FieldError::new(
                "type",
                format!(
                    "unknown destination type '{kind}'; one of {}",
                    TYPES.join(", ")
                ),
            ))
        })
    }

    fn kind(&self) -> &'static str {
        self.kind_name()
    }

    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        self.check_config(allow_private)
    }

    fn to_json(&self) -> Value {
        self.config_json()
    }

    fn masked(&self) -> Value {
        self.masked_config()
    }

    /// Only webhooks sign, with a secret of their own.
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
        self.only_alerts()
    }

    fn one_lane(&self) -> bool {
        Target::one_lane(self)
    }
}

impl Target {
    /// The lane of `delivery` among `lanes`: by its ordering key when it has one, else by its
    /// delivery id (`core::lanes::lane_for`).
    pub fn lane_for(&self, delivery: &QueuedDelivery, lanes: u32) -> u32 {
        match self.ordering_key(delivery) {
            Some(key) => crate::core::lanes::lane_for(&key, lanes),
            None => crate::core::lanes::lane_for(delivery.delivery_id.as_str(), lanes),
        }
    }
}

#[cfg(test)]
mod ordering_tests;
#[cfg(test)]
mod payload_tests;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
