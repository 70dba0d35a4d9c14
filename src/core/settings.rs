//! The deployment's settings (`[vars]` in wrangler.toml), parsed in one place into types. The
//! Worker and the Durable Objects read their environment through this and nothing else, so a
//! value means the same everywhere, and a value that does not parse is an error naming the
//! variable instead of a silent default.

use crate::core::alert_limits::DEFAULT_TENANT_ALERT_FLOOR;
use crate::core::json;
use crate::core::log::Layout;
use crate::core::routing_cache::DEFAULT_TTL_MS;
use crate::core::time::Millis;
use std::fmt;

/// Default largest request body (`MAX_BODY_BYTES`): 256 KiB, the payload size SQS, EventBridge
/// and Pub/Sub messages take, with room for the envelope.
const DEFAULT_MAX_BODY_BYTES: usize = 262_144;
/// Default retention of events, deliveries and attempts (`RETENTION_DAYS`).
const DEFAULT_RETENTION_DAYS: f64 = 30.0;
/// Default: `/metrics` counters kept by shards and schedulers reach D1 at most once a
/// minute (`METRICS_FLUSH_SECONDS`), so D1's writes do not grow with the event rate.
const DEFAULT_FLUSH_MS: Millis = 60_000;
/// Default manual retries of one delivery (`MAX_MANUAL_RETRIES`).
const DEFAULT_MAX_MANUAL_RETRIES: u32 = 10;
/// Destinations one tenant may have unless `MAX_DESTINATIONS_PER_TENANT` says otherwise: a
/// publish evaluates every matching destination's filter, so their number is capped.
const DEFAULT_MAX_DESTINATIONS_PER_TENANT: u32 = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Destination URLs may point at loopback and private addresses (local development).
    pub allow_private_destinations: bool,
    /// Destination and alert-channel URLs must be https. Unset: on unless private
    /// destinations are allowed (local development, receivers on http://127.0.0.1).
    pub require_https: bool,
    /// Comma-separated domains a portal user's email channel may send from and to.
    pub alert_email_domains: String,
    /// The lowest alert threshold a portal user may set.
    pub alert_min_consecutive_failures: u32,
    pub max_body_bytes: usize,
    /// Publishes to topics missing from the catalogue are accepted.
    pub allow_unknown_topics: bool,
    pub retention_ms: Millis,
    /// The data plane's time bucket.
    pub layout: Layout,
    /// How often `/metrics` counters reach D1 at most.
    pub metrics_flush_ms: Millis,
    /// How long an isolate trusts its cached view of a tenant's destinations.
    pub routing_cache_ms: Millis,
    pub max_manual_retries: u32,
    pub max_destinations_per_tenant: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allow_private_destinations: false,
            require_https: true,
            alert_email_domains: String::new(),
            alert_min_consecutive_failures: DEFAULT_TENANT_ALERT_FLOOR,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            allow_unknown_topics: false,
            retention_ms: days_ms(DEFAULT_RETENTION_DAYS),
            layout: Layout::default(),
            metrics_flush_ms: DEFAULT_FLUSH_MS,
            routing_cache_ms: DEFAULT_TTL_MS,
            max_manual_retries: DEFAULT_MAX_MANUAL_RETRIES,
            max_destinations_per_tenant: DEFAULT_MAX_DESTINATIONS_PER_TENANT,
        }
    }
}

/// A variable whose value does not parse.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {:?}: expected {}",
            self.name, self.value, self.expected
        )
    }
}

fn days_ms(days: f64) -> Millis {
    (days * 86_400_000.0) as Millis
}

fn seconds_ms(seconds: f64) -> Millis {
    (seconds * 1000.0) as Millis
}

impl Settings {
    /// The settings from `var` (a variable's value, `None` when unset). An unset or empty
    /// variable takes its default; a value that does not parse is an error naming it.
    pub fn parse(var: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let get = |name: &'static str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map(|v| (name, v))
        };
        let d = Settings::default();
        let allow_private_destinations =
            get("ALLOW_PRIVATE_DESTINATIONS").map_or(Ok(false), |(n, v)| flag(n, &v))?;
        let require_https =
            get("REQUIRE_HTTPS").map_or(Ok(!allow_private_destinations), |(n, v)| flag(n, &v))?;
        Ok(Settings {
            allow_private_destinations,
            require_https,
            alert_email_domains: get("ALERT_EMAIL_DOMAINS").map_or(d.alert_email_domains, |v| v.1),
            alert_min_consecutive_failures: get("ALERT_MIN_CONSECUTIVE_FAILURES")
                .map_or(Ok(d.alert_min_consecutive_failures), whole)?,
            max_body_bytes: get("MAX_BODY_BYTES").map_or(Ok(d.max_body_bytes), whole)?,
            allow_unknown_topics: get("ALLOW_UNKNOWN_TOPICS")
                .map_or(Ok(false), |(n, v)| flag(n, &v))?,
            retention_ms: get("RETENTION_DAYS")
                .map_or(Ok(d.retention_ms), |v| non_negative(v).map(days_ms))?,
            layout: get("LOG_BUCKET_SECONDS").map_or(Ok(d.layout), |(n, v)| {
                match v.parse::<i64>() {
                    Ok(s) if s > 0 => Ok(Layout::from_seconds(s)),
                    _ => Err(SettingsError {
                        name: n,
                        value: v,
                        expected: "a whole number of seconds above 0",
                    }),
                }
            })?,
            metrics_flush_ms: get("METRICS_FLUSH_SECONDS")
                .map_or(Ok(d.metrics_flush_ms), |v| non_negative(v).map(seconds_ms))?,
            routing_cache_ms: get("ROUTING_CACHE_SECONDS")
                .map_or(Ok(d.routing_cache_ms), |v| non_negative(v).map(seconds_ms))?,
            max_manual_retries: get("MAX_MANUAL_RETRIES")
                .map_or(Ok(d.max_manual_retries), whole)?,
            max_destinations_per_tenant: get("MAX_DESTINATIONS_PER_TENANT")
                .map_or(Ok(d.max_destinations_per_tenant), whole)?,
        })
    }
}

fn flag(name: &'static str, value: &str) -> Result<bool, SettingsError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(SettingsError {
            name,
            value: value.to_string(),
            expected: "\"true\" or \"false\"",
        }),
    }
}

fn whole<T: std::str::FromStr>((name, value): (&'static str, String)) -> Result<T, SettingsError> {
    value.parse().map_err(|_| SettingsError {
        name,
        value,
        expected: "a whole number",
    })
}

/// A number of 0 or more, written as JSON writes numbers (`0.5`, `2`, `1e3`): read by the
/// JSON reader the Worker has anyway, rather than by `str::parse`, whose float tables
/// (and their parser) would add 14.7 KB to the gzipped wasm for these few settings.
fn non_negative((name, value): (&'static str, String)) -> Result<f64, SettingsError> {
    match json::from_str::<f64>(&value) {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(SettingsError {
            name,
            value,
            expected: "a number of 0 or more",
        }),
    }
}

#[cfg(test)]
mod tests;
