//! The destination config of type `rabbitmq`: the management API endpoint, vhost, exchange,
//! credentials and routing key template; their checks and the routing key's rendering.

use crate::core::destination::MASK;
use crate::core::engine::QueuedDelivery;
use crate::core::validate::{check_base_url, check_text, FieldError};
use crate::providers::placeholders::render;
use crate::providers::TypeConfig;
use serde::{Deserialize, Serialize};

/// AMQP 0-9-1 carries exchange names and routing keys as `shortstr`: at most 255 bytes.
pub const MAX_SHORTSTR: usize = 255;
/// Virtual host names, usernames: no limit in RabbitMQ; ours keeps configs sane.
pub(super) const MAX_NAME: usize = 255;
/// Passwords: long generated ones fit.
pub(super) const MAX_PASSWORD: usize = 1024;
/// The placeholders a routing key template may use.
pub const ROUTING_KEY_PLACEHOLDERS: &[&str] = &["topic", "event_id", "tenant_id"];
/// The HTTP API's name for the default exchange, whose real name is "".
pub(super) const DEFAULT_EXCHANGE: &str = "amq.default";
pub(super) fn default_vhost() -> String {
    "/".into()
}

pub(super) fn default_routing_key() -> String {
    "{topic}".into()
}

/// A `rabbitmq` destination's `config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct RabbitMqConfig {
    /// The management API's base URL, e.g. `https://rabbit.example.com:15672` (a path
    /// prefix is kept, for a management API behind a reverse proxy).
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url, length(max = 2048)))]
    pub endpoint: String,
    /// The virtual host.
    #[serde(default = "default_vhost")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1, max = 255)))]
    pub vhost: String,
    /// The exchange to publish to; "" (or "amq.default") is the default exchange, which
    /// routes by queue name.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(max = 255)))]
    pub exchange: String,
    /// A template of `{topic}`, `{event_id}`, `{tenant_id}` and literal text.
    #[serde(default = "default_routing_key")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(max = 255)))]
    pub routing_key: String,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(length(min = 1, max = 255), regex(pattern = "^[^:]*$"))
    )]
    pub username: String,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1, max = 1024), extend("x-secret" = true, "writeOnly" = true)))]
    pub password: String,
    /// Count a message that no binding routed anywhere as delivered (the broker drops it).
    #[serde(default)]
    pub allow_unrouted: bool,
}

impl RabbitMqConfig {
    /// Every problem with the config, fields named `config.…`.
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        if let Err(e) = check_base_url(
            &self.endpoint,
            allow_private,
            "the management API's base URL, e.g. 'http://127.0.0.1:15672', no query",
        ) {
            errors.push(FieldError::new("config.endpoint", e));
        }
        let mut name = |field: &str, value: &str, max: usize| {
            if value.is_empty() {
                errors.push(FieldError::new(field, "must not be empty"));
            } else if value.len() > max {
                errors.push(FieldError::new(field, format!("at most {max} bytes")));
            } else if let Err(e) = check_text(value, max) {
                errors.push(FieldError::new(field, e));
            }
        };
        name("config.vhost", &self.vhost, MAX_NAME);
        name("config.username", &self.username, MAX_NAME);
        name("config.password", &self.password, MAX_PASSWORD);
        if self.username.contains(':') {
            errors.push(FieldError::new("config.username", "may not contain ':'"));
        }
        if self.exchange.len() > MAX_SHORTSTR {
            errors.push(FieldError::new(
                "config.exchange",
                format!("at most {MAX_SHORTSTR} bytes"),
            ));
        } else if let Err(e) = check_text(&self.exchange, MAX_SHORTSTR) {
            errors.push(FieldError::new("config.exchange", e));
        }
        if let Err(e) = check_routing_key_template(&self.routing_key) {
            errors.push(FieldError::new("config.routing_key", e));
        }
        errors
    }

    /// The config as the API shows it: the password masked.
    pub fn masked(&self) -> Self {
        RabbitMqConfig {
            password: MASK.into(),
            ..self.clone()
        }
    }

    /// `{endpoint}/api/exchanges/{vhost}/{exchange}/publish`, names percent-encoded.
    pub fn publish_url(&self) -> String {
        let exchange = if self.exchange.is_empty() {
            DEFAULT_EXCHANGE
        } else {
            &self.exchange
        };
        format!(
            "{}/api/exchanges/{}/{}/publish",
            self.endpoint.trim_end_matches('/'),
            encode_segment(&self.vhost),
            encode_segment(exchange)
        )
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so that "/" (the
/// default vhost) becomes `%2F` and a name cannot add path segments.
pub(super) fn encode_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn check_routing_key_template(template: &str) -> Result<(), String> {
    check_text(template, MAX_SHORTSTR)?;
    render(template, known_placeholders, |name| {
        ROUTING_KEY_PLACEHOLDERS.contains(&name).then(String::new)
    })?;
    if template.len() > MAX_SHORTSTR {
        return Err(format!("at most {MAX_SHORTSTR} bytes"));
    }
    Ok(())
}

/// The placeholders a routing key template may use, as an error lists them.
fn known_placeholders() -> String {
    ROUTING_KEY_PLACEHOLDERS
        .iter()
        .map(|p| format!("{{{p}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A delivery's routing key: the template filled in.
pub fn routing_key(template: &str, d: &QueuedDelivery) -> Result<String, String> {
    let key = render(template, known_placeholders, |name| {
        Some(match name {
            "topic" => d.topic.clone(),
            "event_id" => d.event_id.to_string(),
            "tenant_id" => d.tenant_id.to_string(),
            _ => return None,
        })
    })?;
    if key.len() > MAX_SHORTSTR {
        return Err(format!(
            "the routing key is {} bytes; AMQP allows at most {MAX_SHORTSTR}",
            key.len()
        ));
    }
    Ok(key)
}

impl TypeConfig for RabbitMqConfig {
    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        self.validate(allow_private)
    }

    fn masked(&self) -> serde_json::Value {
        serde_json::to_value(RabbitMqConfig::masked(self)).unwrap_or_default()
    }
}
