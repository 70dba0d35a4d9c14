//! Destinations: the write form a client sends, its validation into a typed spec
//! (`validate`), the split into what may be shown (masked) and what is sealed at rest
//! (credentials), the stored row parsed into types (`row`), and the PATCH merge (`patch`).

mod patch;
mod row;
mod validate;

pub use patch::merge_patch;
pub use row::{DestinationKind, DestinationRow, RowError, StoredRow};
pub use validate::{filter_error, transform_error, validate};
// The limits the schema states (`DestinationFields`); only the native build derives it.
#[cfg(not(target_arch = "wasm32"))]
use validate::{MAX_DISABLE_AFTER_FAILURES, MAX_NAME_CHARS};

use crate::core::alerts::AlertSettings;
use crate::core::breaker::BreakerSettings;
use crate::core::filter::Filter;
use crate::core::json;
#[cfg(not(target_arch = "wasm32"))]
use crate::core::lanes::MAX_LANES;
use crate::core::rate_limit::RateLimit;
use crate::core::retry::RetryPolicy;
use crate::core::time::Millis;
use crate::core::topics::TopicPattern;
#[cfg(not(target_arch = "wasm32"))]
use crate::core::topics::MAX_PATTERNS;
use crate::core::transform::Transform;
#[cfg(test)]
use crate::core::validate::from_value;
use crate::core::validate::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the API shows in place of a credential. Sending it back in a PATCH keeps the old value.
pub const MASK: &str = "********";
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub const MIN_TIMEOUT_MS: u64 = 100;
/// Workers give a subrequest at most this long in practice; longer would hold the queue.
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// The fields a destination's create body may carry, whatever its type (and the write form a
/// PATCH is merged into): `DestinationCreate` pairs each `type` with its `config` schema, and
/// refers here for the rest.
// The doc comments here are the API's `DestinationFields` schema (see `schema`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "DestinationFields"))]
pub struct DestinationInput {
    /// The destination type. `GET /v1/destination-types` serves each type's config schema.
    #[serde(rename = "type")]
    pub kind: String,
    /// A label, at most 128 characters, no control characters.
    #[serde(default)]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(max = MAX_NAME_CHARS)))]
    pub name: Option<String>,
    /// What the destination subscribes to: 1 to 100 patterns.
    #[serde(default = "all_topics")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(
            length(min = 1, max = MAX_PATTERNS),
            extend("items" = { "$ref": "#/components/schemas/TopicPattern" })
        )
    )]
    pub topics: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The type's config: `WebhookConfig` for `webhook`; for the other types the JSON Schema
    /// served at `GET /v1/destination-types`.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("type" = "object")))]
    pub config: Value,
    /// How long to wait for the receiver's answer, in milliseconds.
    #[serde(default = "default_timeout")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(range(min = MIN_TIMEOUT_MS, max = MAX_TIMEOUT_MS))
    )]
    pub timeout_ms: u64,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default)]
    pub circuit_breaker: BreakerSettings,
    /// Consecutive failed attempts (across all deliveries) after which the destination is
    /// disabled automatically, with `disabled_reason` saying so; 0 never disables. A delivered
    /// attempt resets the count, and so does enabling the destination again. Separate from the
    /// circuit breaker, which only pauses deliveries.
    #[serde(default = "default_disable_after")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(range(max = MAX_DISABLE_AFTER_FAILURES))
    )]
    pub disable_after_failures: u32,
    /// Pacing: at most `per_second` deliveries per second, from a token bucket that holds one
    /// second's worth (so a burst after a quiet spell is at most `per_second` deliveries, and
    /// at least one). `null`: no limit, as fast as the endpoint takes them. Default: `null`.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Requests to the destination at the same time; 1 sends strictly one after another. A
    /// half-open circuit still sends a single probe.
    #[serde(default = "one")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(range(min = 1, max = MAX_IN_FLIGHT))
    )]
    pub max_in_flight: u32,
    /// Schedulers (Durable Objects) the destination's deliveries are spread over, 1 to 16. One
    /// scheduler has at most 6 requests open at once (a Workers limit), so it delivers at most
    /// about 6 ÷ the receiver's latency per second; K lanes deliver up to K times that.
    /// `max_in_flight` and `rate_limit` are the destination's totals, divided among the lanes
    /// (so `max_in_flight` must be at least `lanes`). Deliveries with one ordering key (SQS FIFO
    /// message group, Pub/Sub ordering key, Kafka record key) stay in one lane, in order; others
    /// are spread by delivery id, in no particular order. `websocket` destinations have one lane.
    #[serde(default = "one")]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(range(min = 1, max = MAX_LANES))
    )]
    pub lanes: u32,
    /// Only events matching this filter are delivered; the others are recorded as `filtered`
    /// deliveries. null: no filter.
    // The filter is parsed by `core::filter` from the JSON; its schema is written by hand.
    #[serde(default)]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("oneOf" = [{ "$ref": "#/components/schemas/Filter" }, { "type": "null" }]))
    )]
    pub filter: Option<Value>,
    /// Create from a template: its type, config and transform are filled in, the fields given
    /// here winning (`config` merged over the template's; a `transform` given, even `null`,
    /// replaces the template's). `type` and `config` may then be left out where the template
    /// has a URL.
    // Kept on the destination so that the template's URL pattern and required headers hold on
    // every change (see `core::template`).
    #[serde(default)]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Value", extend("$ref" = "#/components/schemas/TemplateName"))
    )]
    pub template: Option<String>,
    /// Reshapes the payload at delivery, the same for every destination type; see `Transform`.
    /// `null` or absent: the event's data as is.
    // Parsed by `core::transform` from the JSON; its schema is written by hand.
    #[serde(default)]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("anyOf" = [{ "$ref": "#/components/schemas/Transform" }, { "type": "null" }]))
    )]
    pub transform: Option<Value>,
    // When failures raise an alert (see `core::alerts`).
    #[serde(default)]
    pub alerts: AlertSettings,
}

/// Separate from the circuit breaker, which only pauses: this many failures in a row means
/// the endpoint is gone or broken, and a person should look (the default of Svix and Outpost
/// is in this range).
pub const DEFAULT_DISABLE_AFTER_FAILURES: u32 = 50;

fn one() -> u32 {
    1
}

/// Requests in flight per destination at most: a destination is one endpoint, and more
/// parallel requests than this would look like an attack to it.
pub const MAX_IN_FLIGHT: u32 = 50;

fn default_disable_after() -> u32 {
    DEFAULT_DISABLE_AFTER_FAILURES
}

fn all_topics() -> Vec<String> {
    vec!["*".into()]
}
fn yes() -> bool {
    true
}
fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// Settings every destination type shares, stored as one JSON column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliverySettings {
    pub timeout_ms: u64,
    pub retry: RetryPolicy,
    pub circuit_breaker: BreakerSettings,
    #[serde(default = "default_disable_after")]
    pub disable_after_failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    #[serde(default = "one")]
    pub max_in_flight: u32,
    #[serde(default)]
    pub alerts: AlertSettings,
    #[serde(default = "one")]
    pub lanes: u32,
    /// The most lanes the destination has had (0: never more than `lanes`): a lane beyond
    /// `lanes` may still hold deliveries, so status, resets and purges reach it too. Kept by
    /// the API across changes (`core::lanes::carry_span`), never shown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lanes_used: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A destination type's config, as `providers` implement it: parsed once at the edge, checked,
/// shown masked, sealed whole.
pub trait TargetConfig: Sized {
    /// Parses `config` for type `kind`; the error names the field (`type` for an unknown type).
    fn parse(kind: &str, config: Value) -> Result<Self, FieldError>;
    fn kind(&self) -> &'static str;
    /// Every problem, fields named `config.…`.
    fn check(&self, allow_private: bool) -> Vec<FieldError>;
    /// The full config, credentials included (for sealing).
    fn to_json(&self) -> Value;
    /// The config as the API shows it: every credential replaced by `MASK`.
    fn masked(&self) -> Value;
    /// Whether requests are signed with a secret Sluice keeps.
    fn signs(&self) -> bool;
    /// Takes a write-only signing secret out of the config.
    fn take_signing_secret(&mut self) -> Option<String>;
    fn check_signing_secret(&self, secret: &str) -> Result<(), String>;
    /// Types that only format alerts (Slack, Discord, PagerDuty) subscribe to alert topics only.
    fn alerts_only(&self) -> bool {
        false
    }
    /// Types delivered to clients connected to one object (WebSocket) take no `lanes` above 1.
    fn one_lane(&self) -> bool {
        false
    }
}

/// A validated destination, credentials in the clear (never stored like this).
#[derive(Debug, Clone, PartialEq)]
pub struct DestinationSpec<T> {
    pub name: Option<String>,
    pub topics: Vec<TopicPattern>,
    pub enabled: bool,
    pub target: T,
    pub settings: DeliverySettings,
    pub filter: Option<Filter>,
    pub template: Option<String>,
    pub transform: Option<Transform>,
    /// A signing secret given in the input (write-only), to use instead of a generated one.
    pub given_signing_secret: Option<String>,
}

/// One signing key; during a rotation the previous one stays valid until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningKey {
    pub secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

/// Everything secret about a destination, sealed as one blob in D1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretBundle {
    /// The full target config, credentials included.
    pub config: Value,
    /// Newest first.
    #[serde(default)]
    pub signing_keys: Vec<SigningKey>,
}

impl SecretBundle {
    /// The bundle sealed in a destination's row (`SealKey::seal` of its JSON), read as text.
    pub fn open(key: &crate::core::crypto::SealKey, sealed: &str) -> Result<SecretBundle, String> {
        let plain = key.open(sealed).map_err(|e| e.to_string())?;
        let text = std::str::from_utf8(&plain).map_err(|e| e.to_string())?;
        json::from_str(text).map_err(|e| e.to_string())
    }

    /// Keys that sign at `now`: the current one, and a rotated-out one still in its grace period.
    pub fn active_keys(&self, now: Millis) -> impl Iterator<Item = &SigningKey> {
        self.signing_keys
            .iter()
            .filter(move |k| k.expires_at.is_none_or(|t| t > now))
    }
}

#[cfg(test)]
mod tests;
