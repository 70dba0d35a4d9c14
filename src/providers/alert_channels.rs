//! Alert channels: destination types that format an alert event (`sluice.alert.*`, data =
//! `core::alerts::AlertContent`, incidents and deliveries that failed for good alike) for a
//! chat or paging service. Slack and Discord incoming
//! webhooks get a message; PagerDuty's Events API v2 gets a trigger or resolve whose dedup key
//! is the failing destination and the incident, so PagerDuty keeps one incident per ours.
//! A generic webhook channel needs no type of its own: it is a `webhook` destination.

use crate::core::alerts::AlertContent;
use crate::core::destination::MASK;
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::time::Millis;
use crate::core::validate::{check_url, FieldError};
use crate::core::wire::HttpRequest;
use crate::providers::webhook::USER_AGENT;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// PagerDuty's Events API v2 endpoint (https://developer.pagerduty.com/api-reference/).
pub const PAGERDUTY_ENDPOINT: &str = "https://events.pagerduty.com/v2/enqueue";
/// PagerDuty truncates `payload.summary` at 1024 characters.
const PAGERDUTY_SUMMARY_CHARS: usize = 1024;
/// Discord: `content` ≤ 2000 characters, an embed field's value ≤ 1024, a description ≤ 4096.
const DISCORD_CONTENT_CHARS: usize = 2000;
const DISCORD_FIELD_CHARS: usize = 1024;
const DISCORD_DESCRIPTION_CHARS: usize = 4096;
/// Slack: a section's text and each field's text ≤ 3000 and 2000 characters.
const SLACK_TEXT_CHARS: usize = 3000;
const SLACK_FIELD_CHARS: usize = 2000;
const RED: u32 = 0xE0_1E_5A;
const GREEN: u32 = 0x2E_B6_7D;

/// Slack or Discord: an incoming-webhook URL, which is the credential (masked, sealed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct ChatConfig {
    /// The incoming webhook URL (`https://hooks.slack.com/services/…`,
    /// `https://discord.com/api/webhooks/{id}/{token}`); it is the credential, so it is masked.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url, length(max = 2048), extend("x-secret" = true, "writeOnly" = true)))]
    pub url: String,
}

impl ChatConfig {
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        match check_url(&self.url, allow_private) {
            Ok(_) => vec![],
            Err(e) => vec![FieldError::new("config.url", e)],
        }
    }

    pub fn masked(&self) -> Self {
        ChatConfig { url: MASK.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct PagerDutyConfig {
    /// The integration key of an Events API v2 integration on a PagerDuty service.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1, max = 64), regex(pattern = "^[A-Za-z0-9]+$"), extend("x-secret" = true, "writeOnly" = true)))]
    pub routing_key: String,
    /// Another Events API v2 endpoint (EU service region, a proxy, a test receiver).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url, length(max = 2048), extend("default" = PAGERDUTY_ENDPOINT)))]
    pub endpoint: Option<String>,
}

impl PagerDutyConfig {
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        let k = &self.routing_key;
        if k.is_empty() || k.len() > 64 || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
            errors.push(FieldError::new(
                "config.routing_key",
                "an integration key: 1 to 64 letters and digits",
            ));
        }
        if let Some(e) = &self.endpoint {
            if let Err(e) = check_url(e, allow_private) {
                errors.push(FieldError::new("config.endpoint", e));
            }
        }
        errors
    }

    pub fn masked(&self) -> Self {
        PagerDutyConfig {
            routing_key: MASK.into(),
            endpoint: self.endpoint.clone(),
        }
    }
}

fn alert(batch: &[QueuedDelivery]) -> Result<(&QueuedDelivery, AlertContent), String> {
    let d = batch.first().ok_or("empty batch")?;
    let content = serde_json::from_str(&d.payload)
        .map_err(|e| format!("topic {} does not carry an alert: {e}", d.topic))?;
    Ok((d, content))
}

fn json_post(url: &str, body: &Value, d: &QueuedDelivery) -> HttpRequest {
    HttpRequest {
        method: "POST",
        url: url.to_string(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("user-agent".into(), USER_AGENT.into()),
            ("x-sluice-event-id".into(), d.event_id.to_string()),
        ],
        body: body.to_string().into_bytes(),
    }
}

fn cut(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn title(a: &AlertContent) -> String {
    if a.resolved() {
        "Sluice alert resolved".into()
    } else {
        format!("Sluice alert: {}", a.trigger.as_str().replace('_', " "))
    }
}

/// The facts every message lists, as (label, value).
fn facts(a: &AlertContent) -> Vec<(&'static str, String)> {
    let d = &a.destination;
    let name = match &d.name {
        Some(n) => format!("{n} ({})", d.id),
        None => d.id.clone(),
    };
    let c = &a.counts;
    let mut facts = vec![
        ("Tenant", a.tenant_id.clone()),
        ("Destination", name),
        ("Type", d.kind.clone()),
        ("Target", d.target.clone()),
        (
            "Last status",
            a.last_status_code
                .map_or("none (no answer)".into(), |s| s.to_string()),
        ),
        (
            "Failures",
            format!("{} ({} in a row)", c.failures, c.consecutive_failures),
        ),
        (
            "First failure",
            a.first_failure_at.clone().unwrap_or_else(|| "-".into()),
        ),
        ("Inspect", a.links.failed_deliveries.clone()),
    ];
    // A delivery that failed for good: which event, after how many attempts, and where its
    // attempts are (in place of the destination's running counts).
    if let Some(f) = &a.delivery {
        facts.truncate(5);
        facts.extend([
            ("Event", f.event_id.clone()),
            ("Attempts", f.attempts.to_string()),
            ("Failed at", f.failed_at.clone()),
        ]);
        if let Some(more) = &a.suppressed {
            facts.push((
                "Also failed",
                format!("{} more, {} to {}", more.count, more.since, more.until),
            ));
        }
        facts.push(("Inspect", f.attempts_link.clone()));
    }
    facts
}

/// Slack's mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting).
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Slack message: `text` (notifications, fallback) and Block Kit `blocks`.
pub fn slack_body(a: &AlertContent) -> Value {
    let icon = if a.resolved() {
        ":white_check_mark:"
    } else {
        ":rotating_light:"
    };
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": title(a)}}),
        json!({"type": "section", "text": {"type": "mrkdwn",
            "text": cut(&format!("{icon} {}", slack_escape(&a.summary)), SLACK_TEXT_CHARS)}}),
        json!({"type": "section", "fields": facts(a).iter().map(|(k, v)| json!({"type": "mrkdwn",
            "text": cut(&format!("*{k}*\n{}", slack_escape(v)), SLACK_FIELD_CHARS)})).collect::<Vec<_>>()}),
    ];
    if let Some(e) = &a.error {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn",
            "text": cut(&format!("*Error*\n```{}```", slack_escape(e)), SLACK_TEXT_CHARS)}}));
    }
    json!({"text": format!("{icon} {}", slack_escape(&a.summary)), "blocks": blocks})
}

/// The Discord message: `content` and one embed; mentions in the text never ping anyone.
pub fn discord_body(a: &AlertContent) -> Value {
    let fields: Vec<Value> = facts(a)
        .into_iter()
        .map(|(k, v)| json!({"name": k, "value": cut(&v, DISCORD_FIELD_CHARS), "inline": true}))
        .collect();
    let description = a.error.as_deref().unwrap_or(&a.summary);
    json!({
        "content": cut(&a.summary, DISCORD_CONTENT_CHARS),
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": title(a),
            "description": cut(description, DISCORD_DESCRIPTION_CHARS),
            "color": if a.resolved() { GREEN } else { RED },
            "fields": fields,
            "timestamp": a.at,
        }]
    })
}

/// The dedup key: one PagerDuty incident per failing destination and Sluice incident.
pub fn pagerduty_dedup_key(a: &AlertContent) -> String {
    format!("sluice/{}/{}", a.destination.id, a.incident_id)
}

/// The Events API v2 event: `trigger` with a payload, or `resolve` with the same dedup key.
pub fn pagerduty_body(routing_key: &str, a: &AlertContent) -> Value {
    let dedup_key = pagerduty_dedup_key(a);
    if a.resolved() {
        return json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key});
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "client": "Sluice",
        "payload": {
            "summary": cut(&a.summary, PAGERDUTY_SUMMARY_CHARS),
            "source": format!("sluice/{}/{}", a.tenant_id, a.destination.id),
            "severity": a.severity,
            "timestamp": a.at,
            "component": a.destination.id,
            "group": a.tenant_id,
            "class": a.trigger.as_str(),
            "custom_details": a,
        }
    })
}

/// Email through the Worker's `send_email` binding named `EMAIL_BINDING` (Cloudflare Email
/// Workers / Email Service). Not HTTP: the provider builds a request to `EMAIL_URL`, which the
/// scheduler's transport hands to the binding instead of `fetch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct EmailConfig {
    /// A sender address the account may send from.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(email, length(max = 254)))]
    pub from: String,
    /// 1 to 10 (`MAX_EMAIL_RECIPIENTS`) addresses.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(length(min = 1, max = 10), inner(email, length(max = 254)))
    )]
    pub to: Vec<String>,
}

pub const EMAIL_BINDING: &str = "EMAIL";
/// The pseudo-URL of an email "request": never fetched, see `scheduler::email`.
pub const EMAIL_URL: &str = "cf-email://send_email/EMAIL";
const MAX_EMAIL_RECIPIENTS: usize = 10;
/// RFC 5321: a path (address) is at most 254 octets in practice.
const MAX_ADDRESS_LEN: usize = 254;

/// A plain `local@domain` address: no display name, spaces, angle brackets or line breaks
/// (they would let a config inject headers).
fn check_address(a: &str) -> Result<(), String> {
    let ok = a.len() <= MAX_ADDRESS_LEN
        && a.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && a.matches('@').count() == 1
        && a.chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | ',' | ';' | '(' | ')'));
    if ok {
        Ok(())
    } else {
        Err("an address like ops@example.com (no display name)".into())
    }
}

impl EmailConfig {
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = vec![];
        if let Err(e) = check_address(&self.from) {
            errors.push(FieldError::new("config.from", e));
        }
        if self.to.is_empty() || self.to.len() > MAX_EMAIL_RECIPIENTS {
            errors.push(FieldError::new(
                "config.to",
                format!("1 to {MAX_EMAIL_RECIPIENTS} addresses"),
            ));
        }
        for (i, a) in self.to.iter().enumerate() {
            if let Err(e) = check_address(a) {
                errors.push(FieldError::new(format!("config.to[{i}]"), e));
            }
        }
        errors
    }
}

/// Whether `address` is at `domain` or one of its subdomains (any case).
fn at_domain(address: &str, domain: &str) -> bool {
    let Some((_, at)) = address.rsplit_once('@') else {
        return false;
    };
    let (at, domain) = (at.to_ascii_lowercase(), domain.to_ascii_lowercase());
    at == domain || at.ends_with(&format!(".{domain}"))
}

impl EmailConfig {
    /// What a tenant token (a portal user) may do with the operator's email binding: send
    /// from and to the domains the operator allows (`ALERT_EMAIL_DOMAINS`), and nothing when
    /// it allows none. Otherwise any portal user could send mail of the operator's to anyone
    /// (spam, phishing under the operator's sender reputation). The admin key is not held to
    /// this. `allowed` are bare domains, a subdomain of one counting as allowed.
    pub fn check_tenant_domains(&self, allowed: &[String]) -> Vec<FieldError> {
        if allowed.is_empty() {
            return vec![FieldError::new(
                "type",
                "email alert channels are created by the operator (admin key): this deployment \
                 allows portal users no email domain (ALERT_EMAIL_DOMAINS)",
            )];
        }
        let ok = |a: &str| allowed.iter().any(|d| at_domain(a, d));
        let refuse = |field: String| {
            FieldError::new(
                field,
                format!(
                    "a portal user may send email only from and to {} (ALERT_EMAIL_DOMAINS)",
                    allowed.join(", ")
                ),
            )
        };
        let mut errors = vec![];
        if !ok(&self.from) {
            errors.push(refuse("config.from".into()));
        }
        for (i, a) in self.to.iter().enumerate() {
            if !ok(a) {
                errors.push(refuse(format!("config.to[{i}]")));
            }
        }
        errors
    }
}

/// The operator's list of email domains open to portal users: comma- or space-separated.
pub fn parse_domains(raw: &str) -> Vec<String> {
    raw.split([',', ' '])
        .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect()
}

/// The email's subject and plain-text body.
pub fn email_message(a: &AlertContent) -> (String, String) {
    let d = &a.destination;
    let subject = format!(
        "[Sluice] {}: {} ({}) of tenant {}",
        title(a).trim_start_matches("Sluice "),
        d.name.as_deref().unwrap_or(&d.id),
        d.kind,
        a.tenant_id
    );
    let mut text = format!("{}\n\n", a.summary);
    for (k, v) in facts(a) {
        text.push_str(&format!("{k}: {v}\n"));
    }
    if let Some(e) = &a.error {
        text.push_str(&format!("Error: {e}\n"));
    }
    text.push_str(&format!(
        "Incident: {} ({}, {})\nStatus: {}\n",
        a.incident_id,
        a.trigger.as_str(),
        a.severity,
        a.links.status
    ));
    (subject.chars().filter(|c| !c.is_control()).collect(), text)
}

/// The request the email transport takes: `{from, to, subject, text}` as JSON.
pub fn email_request(c: &EmailConfig, a: &AlertContent) -> HttpRequest {
    let (subject, text) = email_message(a);
    HttpRequest {
        method: "POST",
        url: EMAIL_URL.into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: json!({"from": c.from, "to": c.to, "subject": subject, "text": text})
            .to_string()
            .into_bytes(),
    }
}

pub struct Email(pub EmailConfig);

impl Provider for Email {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<HttpRequest, String> {
        let (_, a) = alert(batch)?;
        Ok(email_request(&self.0, &a))
    }
}

pub struct Slack(pub ChatConfig);
pub struct Discord(pub ChatConfig);
pub struct PagerDuty(pub PagerDutyConfig);

impl Provider for Slack {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<HttpRequest, String> {
        let (d, a) = alert(batch)?;
        Ok(json_post(&self.0.url, &slack_body(&a), d))
    }
}

impl Provider for Discord {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<HttpRequest, String> {
        let (d, a) = alert(batch)?;
        Ok(json_post(&self.0.url, &discord_body(&a), d))
    }
}

impl Provider for PagerDuty {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<HttpRequest, String> {
        let (d, a) = alert(batch)?;
        let url = self.0.endpoint.as_deref().unwrap_or(PAGERDUTY_ENDPOINT);
        Ok(json_post(url, &pagerduty_body(&self.0.routing_key, &a), d))
    }
}

#[cfg(test)]
mod tests;
