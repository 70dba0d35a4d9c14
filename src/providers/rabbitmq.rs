//! RabbitMQ through its management plugin's HTTP API: one `POST
//! {endpoint}/api/exchanges/{vhost}/{exchange}/publish` per event, with basic auth. The event's
//! data is the payload; its id is the AMQP `message_id`, and id, topic and attempt travel as
//! headers. The HTTP API has no batch publish, so a request carries one message.
//!
//! The answer says whether the broker routed the message to at least one queue. An unrouted
//! message is dropped by the broker: that fails the delivery for good (retrying cannot help
//! until someone adds a binding; a manual retry resends it then), unless `allow_unrouted`.

use crate::core::classify::{classify, classify_status, Verdict};
use crate::core::destination::MASK;
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::time::Millis;
use crate::core::validate::{check_text, check_url, FieldError};
use crate::core::wire::{snippet, HttpRequest, HttpResponse, TransportResult};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

pub const USER_AGENT: &str = concat!("Sluice/", env!("CARGO_PKG_VERSION"), " (rabbitmq delivery)");

/// AMQP 0-9-1 carries exchange names and routing keys as `shortstr`: at most 255 bytes.
pub const MAX_SHORTSTR: usize = 255;
/// Virtual host names, usernames: no limit in RabbitMQ; ours keeps configs sane.
const MAX_NAME: usize = 255;
/// Passwords: long generated ones fit.
const MAX_PASSWORD: usize = 1024;
/// The placeholders a routing key template may use.
pub const ROUTING_KEY_PLACEHOLDERS: &[&str] = &["topic", "event_id", "tenant_id"];
/// The HTTP API's name for the default exchange, whose real name is "".
const DEFAULT_EXCHANGE: &str = "amq.default";
/// AMQP `delivery_mode` 2: persistent (written to disk by durable queues).
const PERSISTENT: u8 = 2;

fn default_vhost() -> String {
    "/".into()
}

fn default_routing_key() -> String {
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
    #[serde(default = "default_vhost")]
    /// The virtual host.
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
        match check_url(&self.endpoint, allow_private) {
            Err(e) => errors.push(FieldError::new("config.endpoint", e)),
            Ok(url) if url.query().is_some() || url.fragment().is_some() => {
                errors.push(FieldError::new(
                    "config.endpoint",
                    "the management API's base URL, e.g. 'http://127.0.0.1:15672', no query",
                ));
            }
            Ok(_) => {}
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
fn encode_segment(raw: &str) -> String {
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

fn check_routing_key_template(template: &str) -> Result<(), String> {
    check_text(template, MAX_SHORTSTR)?;
    render(template, |name| {
        ROUTING_KEY_PLACEHOLDERS.contains(&name).then(String::new)
    })?;
    if template.len() > MAX_SHORTSTR {
        return Err(format!("at most {MAX_SHORTSTR} bytes"));
    }
    Ok(())
}

/// Replaces each `{name}` of `template` with `value(name)`; an unknown name or an unpaired
/// brace is an error.
fn render(template: &str, mut value: impl FnMut(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err("a '}' without its '{'".into());
        }
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("a '{' without its '}'")?;
        let name = &after[..close];
        let v = value(name).ok_or_else(|| {
            format!(
                "unknown placeholder {{{name}}}; known: {}",
                ROUTING_KEY_PLACEHOLDERS
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        out.push_str(&v);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A delivery's routing key: the template filled in.
pub fn routing_key(template: &str, d: &QueuedDelivery) -> Result<String, String> {
    let key = render(template, |name| {
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
        match serde_json::from_str::<ApiError>(&response.body) {
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
        match serde_json::from_str::<Routed>(&response.body) {
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
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<HttpRequest, String> {
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
        Ok(HttpRequest {
            method: "POST",
            url: self.config.publish_url(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("user-agent".into(), USER_AGENT.into()),
                ("authorization".into(), format!("Basic {creds}")),
            ],
            body,
        })
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
mod tests {
    use super::*;
    use crate::core::validate::from_value;
    use crate::core::wire::TransportError;
    use crate::providers::testing::{delivery, response, NOW};

    fn config() -> RabbitMqConfig {
        RabbitMqConfig {
            endpoint: "https://rabbit.example.com:15672".into(),
            vhost: "/".into(),
            exchange: "orders".into(),
            routing_key: "{topic}".into(),
            username: "sluice".into(),
            password: "s3cret".into(),
            allow_unrouted: false,
        }
    }

    fn kind(v: &Verdict) -> &'static str {
        match v {
            Verdict::Delivered => "delivered",
            Verdict::Transient { .. } => "transient",
            Verdict::Permanent { .. } => "permanent",
        }
    }

    fn verdict(c: RabbitMqConfig, result: TransportResult) -> Verdict {
        let v = RabbitMq::new(c).interpret(&[delivery("evt_1", "{}")], &result, NOW);
        assert_eq!(v.len(), 1);
        v.into_iter().next().unwrap()
    }

    /// The publish request as the management API's reference describes it
    /// (`POST /api/exchanges/vhost/name/publish`; the default vhost "/" is `%2F`).
    #[test]
    fn publish_wire_format() {
        let request = RabbitMq::new(config())
            .build(&[delivery("evt_1", r#"{"order":1}"#)], NOW)
            .unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.url,
            "https://rabbit.example.com:15672/api/exchanges/%2F/orders/publish"
        );
        assert_eq!(
            String::from_utf8(request.body.clone()).unwrap(),
            concat!(
                r#"{"properties":{"message_id":"evt_1","delivery_mode":2,"content_type":"application/json","#,
                r#""headers":{"sluice-event-id":"evt_1","sluice-topic":"order.created","sluice-attempt":3}},"#,
                r#""routing_key":"order.created","payload":"{\"order\":1}","payload_encoding":"string"}"#
            )
        );
        // base64("sluice:s3cret")
        assert_eq!(
            request.header("authorization"),
            Some("Basic c2x1aWNlOnMzY3JldA==")
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert!(request.header("user-agent").unwrap().starts_with("Sluice/"));
    }

    #[test]
    fn names_are_percent_encoded_and_the_default_exchange_is_amq_default() {
        let mut c = config();
        c.endpoint = "http://127.0.0.1:15672/rabbit/".into();
        c.vhost = "tenant a/b".into();
        c.exchange = String::new();
        assert_eq!(
            c.publish_url(),
            "http://127.0.0.1:15672/rabbit/api/exchanges/tenant%20a%2Fb/amq.default/publish"
        );
        c.exchange = "events.v1:ü".into();
        assert!(c.publish_url().ends_with("/events.v1%3A%C3%BC/publish"));
    }

    #[test]
    fn routing_key_templates() {
        let d = delivery("evt_7", "{}");
        assert_eq!(routing_key("{topic}", &d).unwrap(), "order.created");
        assert_eq!(
            routing_key("sluice.{tenant_id}.{topic}.{event_id}", &d).unwrap(),
            "sluice.acme.order.created.evt_7"
        );
        assert_eq!(routing_key("", &d).unwrap(), "");
        assert_eq!(routing_key("fixed", &d).unwrap(), "fixed");
        for bad in ["{colour}", "{topic", "topic}", "a{}b"] {
            assert!(check_routing_key_template(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}{{topic}}{{topic}}", "k".repeat(230));
        assert!(check_routing_key_template(&long).is_ok());
        let err = RabbitMq::new(RabbitMqConfig {
            routing_key: long,
            ..config()
        })
        .build(&[d], NOW)
        .unwrap_err();
        assert!(err.contains("256 bytes"), "{err}");
    }

    /// Answers as RabbitMQ 3.10's management API gives them (captured from a real node).
    #[test]
    fn answers() {
        type Case<'a> = (u16, &'a str, &'a str);
        let cases: &[Case] = &[
            (200, r#"{"routed":true}"#, "delivered"),
            (200, r#"{"routed":false}"#, "permanent"),
            (200, "<html>ok</html>", "permanent"),
            (
                400,
                r#"{"error":"bad_request","reason":"404 NOT_FOUND - no exchange 'missing' in vhost '/'"}"#,
                "permanent",
            ),
            (
                401,
                r#"{"error":"not_authorized","reason":"Login failed"}"#,
                "permanent",
            ),
            (
                401,
                r#"{"error":"not_authorised","reason":"Access refused."}"#,
                "permanent",
            ),
            (
                404,
                r#"{"error":"Object Not Found","reason":"Not Found"}"#,
                "permanent",
            ),
            (
                400,
                r#"{"error":"bad_request","reason":["not_int","delivery_mode"]}"#,
                "permanent",
            ),
            (429, "", "transient"),
            (500, r#"{"error":"Internal Server Error"}"#, "transient"),
            (503, "Service Unavailable", "transient"),
        ];
        for (status, body, expected) in cases {
            let v = verdict(config(), response(*status, &[], body));
            assert_eq!(kind(&v), *expected, "{status} {body}: {v:?}");
        }
        assert_eq!(
            verdict(
                config(),
                response(
                    401,
                    &[],
                    r#"{"error":"not_authorized","reason":"Login failed"}"#
                )
            ),
            Verdict::Permanent {
                error: "RabbitMQ HTTP 401 not_authorized: Login failed (check username and \
                        password, and that vhost '/' exists and the user may write to it)"
                    .into()
            }
        );
        assert_eq!(
            verdict(
                config(),
                response(
                    400,
                    &[],
                    r#"{"error":"bad_request","reason":"404 NOT_FOUND - no exchange 'missing' in vhost '/'"}"#
                )
            ),
            Verdict::Permanent {
                error: "RabbitMQ HTTP 400 bad_request: 404 NOT_FOUND - no exchange 'missing' in vhost '/'"
                    .into()
            }
        );
        let Verdict::Permanent { error } =
            verdict(config(), response(200, &[], r#"{"routed":false}"#))
        else {
            panic!("unrouted is permanent")
        };
        assert!(
            error.contains("'orders'") && error.contains("'order.created'"),
            "{error}"
        );
        let allow = RabbitMqConfig {
            allow_unrouted: true,
            ..config()
        };
        assert_eq!(
            verdict(allow, response(200, &[], r#"{"routed":false}"#)),
            Verdict::Delivered
        );
        assert_eq!(
            verdict(config(), response(503, &[("retry-after", "5")], "")),
            Verdict::Transient {
                error: "RabbitMQ HTTP 503".into(),
                retry_after_ms: Some(5_000)
            }
        );
        assert_eq!(
            kind(&verdict(
                config(),
                Err(TransportError::Network("connection refused".into()))
            )),
            "transient"
        );
        assert_eq!(
            kind(&verdict(
                config(),
                Err(TransportError::Timeout { after_ms: 100 })
            )),
            "transient"
        );
    }

    #[test]
    fn config_parsing_and_validation() {
        let json = serde_json::json!({
            "endpoint": "https://rabbit.example.com:15672",
            "exchange": "orders",
            "username": "sluice",
            "password": "s3cret"
        });
        let c: RabbitMqConfig = from_value(json, "config").unwrap();
        assert_eq!(c, config());
        assert!(c.validate(false).is_empty(), "{:?}", c.validate(false));
        assert_eq!(c.masked().password, MASK);
        assert_eq!(c.masked().username, "sluice");
        let e = from_value::<RabbitMqConfig>(
            serde_json::json!({"endpoint": "https://r.example", "username": "u", "password": "p"}),
            "config",
        )
        .unwrap_err();
        assert_eq!(e.field, "config.exchange");

        let bad = RabbitMqConfig {
            endpoint: "http://127.0.0.1:15672?x=1".into(),
            vhost: String::new(),
            exchange: "e\n".into(),
            routing_key: "{nope}".into(),
            username: "a:b".into(),
            password: String::new(),
            allow_unrouted: false,
        };
        let fields: Vec<String> = bad.validate(true).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "config.endpoint",
                "config.vhost",
                "config.password",
                "config.username",
                "config.exchange",
                "config.routing_key"
            ]
        );
        let local = RabbitMqConfig {
            endpoint: "http://127.0.0.1:15672".into(),
            ..config()
        };
        assert!(local.validate(true).is_empty());
        assert_eq!(local.validate(false)[0].field, "config.endpoint");
        let long = RabbitMqConfig {
            exchange: "x".repeat(256),
            ..config()
        };
        assert_eq!(long.validate(false)[0].field, "config.exchange");
    }
}
