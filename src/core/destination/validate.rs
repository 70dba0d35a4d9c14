//! Checking a client's destination input into a typed `DestinationSpec`: every problem found
//! is reported at once, each naming its field.

use super::{
    DeliverySettings, DestinationInput, DestinationSpec, TargetConfig, MAX_IN_FLIGHT,
    MAX_TIMEOUT_MS, MIN_TIMEOUT_MS,
};
use crate::core::alerts::{check_settings as check_alert_settings, is_alert_pattern};
use crate::core::breaker::BreakerSettings;
use crate::core::filter::{Filter, FilterError};
use crate::core::lanes::MAX_LANES;
use crate::core::rate_limit::{MAX_PER_SECOND, MIN_PER_SECOND};
use crate::core::retry::{Backoff, RetryPolicy, MAX_DELAY_MS, MAX_RETRIES_LIMIT};
use crate::core::topics::{TopicPattern, MAX_PATTERNS};
use crate::core::transform::{Transform, TransformError};
use crate::core::validate::{check_text, FieldError};

pub(super) const MAX_NAME_CHARS: usize = 128;
/// Shortest retry interval and breaker cooldown we accept (milliseconds keep tests fast).
const MIN_INTERVAL_MS: u64 = 10;
const MIN_COOLDOWN_MS: u64 = 100;
const MAX_COOLDOWN_MS: u64 = 86_400_000;
pub(super) const MAX_DISABLE_AFTER_FAILURES: u32 = 10_000;

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
    if !(1..=MAX_LANES).contains(&input.lanes) {
        errors.push(FieldError::new(
            "lanes",
            format!("between 1 and {MAX_LANES}"),
        ));
    } else if input.lanes > input.max_in_flight {
        errors.push(FieldError::new(
            "lanes",
            format!(
                "at most max_in_flight ({}): the lanes share it, each sending at least one request at a time; raise max_in_flight too",
                input.max_in_flight
            ),
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
            if target.one_lane() && input.lanes > 1 {
                errors.push(FieldError::new(
                    "lanes",
                    format!(
                        "a {} destination has one lane: its clients connect to one scheduler",
                        target.kind()
                    ),
                ));
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
                lanes: input.lanes,
                lanes_used: 0,
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
