//! Alert channels: destination types that format an alert event (`sluice.alert.*`, data =
//! `core::alerts::AlertContent`, incidents and deliveries that failed for good alike) for a
//! chat or paging service. Slack and Discord incoming
//! webhooks get a message; PagerDuty's Events API v2 gets a trigger or resolve whose dedup key
//! is the failing destination and the incident, so PagerDuty keeps one incident per ours.
//! A generic webhook channel needs no type of its own: it is a `webhook` destination.

use crate::core::alerts::AlertContent;
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::json;
use crate::core::time::Millis;
use crate::core::wire::{EmailMessage, HttpRequest, Outbound};
use crate::providers::webhook::USER_AGENT;
use serde_json::{json, Value};

mod config;
pub use config::*;

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

fn alert(batch: &[QueuedDelivery]) -> Result<(&QueuedDelivery, AlertContent), String> {
    let d = batch.first().ok_or("empty batch")?;
    let content = json::from_str(&d.payload)
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

/// The email of an alert, from and to the configured addresses.
pub fn email(c: &EmailConfig, a: &AlertContent) -> EmailMessage {
    let (subject, text) = email_message(a);
    EmailMessage {
        from: c.from.clone(),
        to: c.to.clone(),
        subject,
        text,
    }
}

pub struct Email(pub EmailConfig);

impl Provider for Email {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<Outbound, String> {
        let (_, a) = alert(batch)?;
        Ok(Outbound::Email(email(&self.0, &a)))
    }
}

pub struct Slack(pub ChatConfig);
pub struct Discord(pub ChatConfig);
pub struct PagerDuty(pub PagerDutyConfig);

impl Provider for Slack {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<Outbound, String> {
        let (d, a) = alert(batch)?;
        Ok(Outbound::Http(json_post(&self.0.url, &slack_body(&a), d)))
    }
}

impl Provider for Discord {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<Outbound, String> {
        let (d, a) = alert(batch)?;
        Ok(Outbound::Http(json_post(&self.0.url, &discord_body(&a), d)))
    }
}

impl Provider for PagerDuty {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<Outbound, String> {
        let (d, a) = alert(batch)?;
        let url = self.0.endpoint.as_deref().unwrap_or(PAGERDUTY_ENDPOINT);
        Ok(Outbound::Http(json_post(
            url,
            &pagerduty_body(&self.0.routing_key, &a),
            d,
        )))
    }
}

#[cfg(test)]
mod tests;
