//! Destinations: the write form a client sends, its validation into a typed spec, and the
//! split into what may be shown (masked) and what is sealed at rest (credentials).

use crate::core::alerts::{
    check_settings as check_alert_settings, is_alert_pattern, AlertSettings,
};
use crate::core::breaker::BreakerSettings;
use crate::core::filter::{Filter, FilterError};
use crate::core::rate_limit::{RateLimit, MAX_PER_SECOND, MIN_PER_SECOND};
use crate::core::redact::is_masked_url_of;
use crate::core::retry::{Backoff, RetryPolicy, MAX_DELAY_MS, MAX_RETRIES_LIMIT};
use crate::core::time::Millis;
use crate::core::topics::{TopicPattern, MAX_PATTERNS};
use crate::core::transform::{Transform, TransformError};
#[cfg(test)]
use crate::core::validate::from_value;
use crate::core::validate::{check_text, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the API shows in place of a credential. Sending it back in a PATCH keeps the old value.
pub const MASK: &str = "********";
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
pub const MIN_TIMEOUT_MS: u64 = 100;
/// Workers give a subrequest at most this long in practice; longer would hold the queue.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
const MAX_NAME_CHARS: usize = 128;
/// Shortest retry interval and breaker cooldown we accept (milliseconds keep tests fast).
const MIN_INTERVAL_MS: u64 = 10;
const MIN_COOLDOWN_MS: u64 = 100;
const MAX_COOLDOWN_MS: u64 = 86_400_000;

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
const MAX_DISABLE_AFTER_FAILURES: u32 = 10_000;

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

/// Parses and checks a whole input; every problem found is reported, each naming its field.
pub fn validate<T: TargetConfig>(
    input: DestinationInput,
    allow_private: bool,
) -> Result<DestinationSpec<T>, Vec<FieldError>> {
    let mut errors = vec![];
    if let Some(name) = &input.name {
        if let Err(e) = check_text(name, MAX_NAME_CHARS) {
            errors.push(FieldError::new("name", e));
        }
    }
    let mut topics = vec![];
    if input.topics.is_empty() {
        errors.push(FieldError::new(
            "topics",
            "subscribe to at least one topic pattern (\"*\" for all)",
        ));
    }
    if input.topics.len() > MAX_PATTERNS {
        errors.push(FieldError::new(
            "topics",
            format!("at most {MAX_PATTERNS} patterns"),
        ));
    }
    for (i, raw) in input.topics.iter().enumerate() {
        match TopicPattern::parse(raw) {
            Ok(p) => topics.push(p),
            Err(e) => errors.push(FieldError::new(format!("topics[{i}]"), e)),
        }
    }
    if !(MIN_TIMEOUT_MS..=MAX_TIMEOUT_MS).contains(&input.timeout_ms) {
        errors.push(FieldError::new(
            "timeout_ms",
            format!("between {MIN_TIMEOUT_MS} and {MAX_TIMEOUT_MS}"),
        ));
    }
    errors.extend(check_retry(&input.retry));
    if let Some(r) = &input.rate_limit {
        if !(r.per_second.is_finite() && (MIN_PER_SECOND..=MAX_PER_SECOND).contains(&r.per_second))
        {
            errors.push(FieldError::new(
                "rate_limit.per_second",
                format!("between {MIN_PER_SECOND} and {MAX_PER_SECOND}"),
            ));
        }
    }
    if !(1..=MAX_IN_FLIGHT).contains(&input.max_in_flight) {
        errors.push(FieldError::new(
            "max_in_flight",
            format!("between 1 and {MAX_IN_FLIGHT}"),
        ));
    }
    if input.disable_after_failures > MAX_DISABLE_AFTER_FAILURES {
        errors.push(FieldError::new(
            "disable_after_failures",
            format!("between 0 (never) and {MAX_DISABLE_AFTER_FAILURES}"),
        ));
    }
    errors.extend(check_breaker(&input.circuit_breaker));
    errors.extend(check_alert_settings(&input.alerts));

    let filter = match input
        .filter
        .as_ref()
        .filter(|f| !f.is_null())
        .map(Filter::parse)
    {
        None => None,
        Some(Ok(f)) => Some(f),
        Some(Err(problems)) => {
            errors.extend(problems.into_iter().map(filter_error));
            None
        }
    };
    let transform = match input
        .transform
        .as_ref()
        .filter(|t| !t.is_null())
        .map(Transform::compile)
    {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(problems)) => {
            errors.extend(problems.into_iter().map(transform_error));
            None
        }
    };
    if let Some(name) = &input.template {
        errors.extend(crate::core::template::check(
            name,
            &input.kind,
            &input.config,
            allow_private,
        ));
    }
    let mut given_signing_secret = None;
    let target = match T::parse(&input.kind, input.config) {
        Ok(mut target) => {
            errors.extend(target.check(allow_private));
            if target.alerts_only() {
                for (i, p) in topics.iter().enumerate() {
                    if !is_alert_pattern(p) {
                        errors.push(FieldError::new(
                            format!("topics[{i}]"),
                            format!(
                                "a {} destination receives alerts only: subscribe to \"sluice.alert.*\", \"sluice.alert.triggered\" or \"sluice.alert.resolved\"",
                                target.kind()
                            ),
                        ));
                    }
                }
            }
            given_signing_secret = target.take_signing_secret();
            if let Some(secret) = &given_signing_secret {
                if let Err(e) = target.check_signing_secret(secret) {
                    errors.push(FieldError::new("config.signing.secret", e));
                }
            }
            Some(target)
        }
        Err(e) => {
            errors.push(e);
            None
        }
    };
    match target {
        Some(target) if errors.is_empty() => Ok(DestinationSpec {
            name: input.name,
            topics,
            enabled: input.enabled,
            target,
            settings: DeliverySettings {
                timeout_ms: input.timeout_ms,
                retry: input.retry,
                circuit_breaker: input.circuit_breaker,
                disable_after_failures: input.disable_after_failures,
                rate_limit: input.rate_limit,
                max_in_flight: input.max_in_flight,
                alerts: input.alerts,
            },
            filter,
            template: input.template,
            transform,
            given_signing_secret,
        }),
        _ => Err(errors),
    }
}

/// A filter problem as a field error: `filter.data.amount.$gt`, with the operator named.
pub fn filter_error(e: FilterError) -> FieldError {
    let field = if e.path.is_empty() {
        "filter".to_string()
    } else {
        format!("filter.{}", e.path)
    };
    let message = match e.operator {
        Some(op) => format!("{op}: {}", e.message),
        None => e.message,
    };
    FieldError::new(field, message)
}

/// A transform problem as a field error: `transform` and the JSON pointer of the bad string,
/// `transform/blocks/0/text`.
pub fn transform_error(e: TransformError) -> FieldError {
    FieldError::new(format!("transform{}", e.pointer), e.message)
}

fn check_retry(p: &RetryPolicy) -> Vec<FieldError> {
    let mut errors = vec![];
    let mut err = |f: &str, m: String| errors.push(FieldError::new(format!("retry.{f}"), m));
    if p.max_retries > MAX_RETRIES_LIMIT {
        err("max_retries", format!("at most {MAX_RETRIES_LIMIT}"));
    }
    if !(p.jitter.is_finite() && (0.0..=1.0).contains(&p.jitter)) {
        err("jitter", "a fraction between 0 and 1".into());
    }
    let interval_ok = |ms: u64| (MIN_INTERVAL_MS..=MAX_DELAY_MS).contains(&ms);
    let range = format!("between {MIN_INTERVAL_MS} and {MAX_DELAY_MS} ms");
    match &p.backoff {
        Backoff::Schedule { intervals_ms } => {
            if intervals_ms.is_empty() || intervals_ms.len() > 20 {
                err("backoff.intervals_ms", "1 to 20 intervals".into());
            }
            for (i, ms) in intervals_ms.iter().enumerate() {
                if !interval_ok(*ms) {
                    err(&format!("backoff.intervals_ms[{i}]"), range.clone());
                }
            }
        }
        Backoff::Fixed { interval_ms } | Backoff::Linear { interval_ms } => {
            if !interval_ok(*interval_ms) {
                err("backoff.interval_ms", range.clone());
            }
        }
        Backoff::Exponential {
            initial_ms,
            factor,
            max_ms,
        } => {
            if !interval_ok(*initial_ms) {
                err("backoff.initial_ms", range.clone());
            }
            if !(factor.is_finite() && (1.0..=10.0).contains(factor)) {
                err("backoff.factor", "between 1 and 10".into());
            }
            if !interval_ok(*max_ms) || max_ms < initial_ms {
                err(
                    "backoff.max_ms",
                    format!("{range}, and at least initial_ms"),
                );
            }
        }
    }
    errors
}

fn check_breaker(s: &BreakerSettings) -> Vec<FieldError> {
    let mut errors = vec![];
    if !(1..=1000).contains(&s.failure_threshold) {
        errors.push(FieldError::new(
            "circuit_breaker.failure_threshold",
            "between 1 and 1000",
        ));
    }
    if !(MIN_COOLDOWN_MS..=MAX_COOLDOWN_MS).contains(&s.cooldown_ms) {
        errors.push(FieldError::new(
            "circuit_breaker.cooldown_ms",
            format!("between {MIN_COOLDOWN_MS} and {MAX_COOLDOWN_MS}"),
        ));
    }
    errors
}

/// JSON Merge Patch (RFC 7396), except that a string equal to `MASK` (or to the shown form of
/// a URL whose path is masked) keeps the current value: a client may send back what it read
/// without wiping the credentials it could not see.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let map = target.as_object_mut().expect("made an object above");
            for (k, v) in fields {
                match v {
                    Value::Null => {
                        map.remove(k);
                    }
                    Value::String(s) if s == MASK && map.contains_key(k) => {}
                    // A URL shown with its path masked (`core::redact::shown_config`).
                    Value::String(s)
                        if map
                            .get(k)
                            .and_then(Value::as_str)
                            .is_some_and(|cur| is_masked_url_of(s, cur)) => {}
                    _ => merge_patch(map.entry(k.clone()).or_insert(Value::Null), v),
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests;
