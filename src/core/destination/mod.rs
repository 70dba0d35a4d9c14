//! Destinations: the write form a client sends, its validation into a typed spec
//! (`validate`), the split into what may be shown (masked) and what is sealed at rest
//! (credentials), the stored row parsed into types (`row`), and the PATCH merge (`patch`).

mod patch;
mod row;
mod validate;

pub use patch::merge_patch;
pub use row::{DestinationKind, DestinationRow, RowError, StoredRow};
pub use validate::{filter_error, transform_error, validate};

use crate::core::alerts::AlertSettings;
use crate::core::breaker::BreakerSettings;
use crate::core::filter::Filter;
use crate::core::rate_limit::RateLimit;
use crate::core::retry::RetryPolicy;
use crate::core::time::Millis;
use crate::core::topics::TopicPattern;
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

/// The write form: the body of a create, and what a PATCH is merged into.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationInput {
    /// The destination type (`webhook`, `aws_sqs`, …), checked by the target's parser.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "all_topics")]
    pub topics: Vec<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub config: Value,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default)]
    pub circuit_breaker: BreakerSettings,
    /// Consecutive failed attempts after which the destination is disabled; 0 never.
    #[serde(default = "default_disable_after")]
    pub disable_after_failures: u32,
    /// Pacing: at most this many deliveries per second (none: as fast as the endpoint takes).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// Requests to the destination at the same time (1: strictly one after another).
    #[serde(default = "one")]
    pub max_in_flight: u32,
    /// Only events matching this payload filter are delivered (see `core::filter`).
    #[serde(default)]
    pub filter: Option<Value>,
    /// The template the destination was made from (see `core::template`); kept so that its
    /// URL pattern and required headers hold on every change.
    #[serde(default)]
    pub template: Option<String>,
    /// Reshapes the payload at delivery (see `core::transform`).
    #[serde(default)]
    pub transform: Option<Value>,
    /// When failures raise an alert (see `core::alerts`).
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
    /// Keys that sign at `now`: the current one, and a rotated-out one still in its grace period.
    pub fn active_keys(&self, now: Millis) -> impl Iterator<Item = &SigningKey> {
        self.signing_keys
            .iter()
            .filter(move |k| k.expires_at.is_none_or(|t| t > now))
    }
}

#[cfg(test)]
mod tests;
