//! GCP Pub/Sub: REST `topics.publish` with a service account key. The provider signs an RS256
//! JWT with the key, exchanges it at the key's `token_uri` for an access token (the engine's
//! credential step), keeps the token until shortly before it expires, and publishes up to
//! 1,000 messages per request: base64 `data`, `attributes` with the event id, topic and
//! attempt, and an optional ordering key.

use crate::core::classify::{classify, parse_retry_after, Verdict};
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::json;
use crate::core::time::Millis;
use crate::core::wire::{CredentialRequest, HttpRequest, HttpResponse, Outbound, TransportResult};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

mod config;
pub use config::*;

/// `topics.publish` takes at most 1,000 messages per request.
pub const MAX_BATCH_MESSAGES: usize = 1_000;
/// A publish request is at most 10 MB; the base64 data counts at its encoded size. This
/// leaves room for attributes and JSON framing.
pub const MAX_BATCH_BYTES: usize = 9_000_000;
/// The scope a publisher needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/pubsub";
/// Google accepts assertions valid for at most an hour.
const ASSERTION_LIFETIME_SECS: i64 = 3_600;
/// A token is replaced this long before it expires, so no request carries a stale one.
const TOKEN_MARGIN_MS: Millis = 60_000;
/// An access token and when it stops being used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub refresh_at: Millis,
}

/// Where a destination's access token lives between runs (the Durable Object holds it in
/// memory; it is never stored).
pub type TokenCache = Rc<RefCell<Option<AccessToken>>>;

pub struct PubSub {
    config: PubSubConfig,
    token: TokenCache,
}

impl PubSub {
    pub fn new(config: PubSubConfig, token: TokenCache) -> Self {
        PubSub { config, token }
    }

    fn ordering_key<'a>(&'a self, d: &'a QueuedDelivery) -> Option<&'a str> {
        self.config.ordering_key_of(d)
    }

    fn message(&self, d: &QueuedDelivery) -> Value {
        let mut m = json!({
            "data": STANDARD.encode(d.payload.as_bytes()),
            "attributes": {
                "sluice-event-id": d.event_id.as_str(),
                "sluice-topic": d.topic,
                "sluice-attempt": (d.attempts + 1).to_string(),
            },
        });
        if let Some(key) = self.ordering_key(d) {
            m["orderingKey"] = Value::String(key.into());
        }
        m
    }
}

/// The text of a Google API error answer: `{"error": {"code", "message", "status"}}`, or an
/// OAuth one: `{"error": "invalid_grant", "error_description": …}`.
fn google_error(response: &HttpResponse) -> String {
    let body: Value = json::from_str(&response.body).unwrap_or(Value::Null);
    let status = response.status;
    match &body["error"] {
        Value::Object(e) => {
            let code = e.get("status").and_then(Value::as_str).unwrap_or("");
            let message = e.get("message").and_then(Value::as_str).unwrap_or("");
            format!("HTTP {status} {code}: {message}")
        }
        Value::String(code) => {
            let description = body["error_description"].as_str().unwrap_or("");
            format!("HTTP {status} {code}: {description}")
        }
        _ => format!("HTTP {status}"),
    }
}

impl Provider for PubSub {
    fn max_batch(&self) -> usize {
        MAX_BATCH_MESSAGES
    }

    /// As many messages as stay under the request size limit (at least one: a single message
    /// over it fails in `build`).
    fn fit(&self, batch: &[QueuedDelivery]) -> usize {
        let mut total = 0;
        batch
            .iter()
            .take_while(|d| {
                total += self.message(d).to_string().len() + 1;
                total <= MAX_BATCH_BYTES
            })
            .count()
    }

    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<Outbound, String> {
        let token = self
            .token
            .borrow()
            .as_ref()
            .map(|t| t.token.clone())
            .ok_or("no access token")?;
        let (project, topic) = self
            .config
            .topic_path()
            .ok_or("the topic's project is unknown")?;
        let messages: Vec<Value> = batch.iter().map(|d| self.message(d)).collect();
        let body = serde_json::to_vec(&json!({ "messages": messages }))
            .map_err(|e| format!("could not encode the messages: {e}"))?;
        if body.len() > MAX_BATCH_BYTES {
            return Err(format!(
                "the request would be {} bytes, over Pub/Sub's 10 MB limit",
                body.len()
            ));
        }
        Ok(Outbound::Http(HttpRequest {
            method: "POST",
            url: format!(
                "{}/v1/projects/{project}/topics/{topic}:publish",
                self.config.endpoint()
            ),
            headers: vec![
                ("authorization".into(), format!("Bearer {token}")),
                ("content-type".into(), "application/json".into()),
            ],
            body,
        }))
    }

    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        let verdict = match result {
            Ok(r) if r.status == 200 => {
                let ids = json::from_str::<Value>(&r.body)
                    .ok()
                    .and_then(|v| v["messageIds"].as_array().map(Vec::len));
                if ids == Some(batch.len()) {
                    Verdict::Delivered
                } else {
                    Verdict::Transient {
                        error: format!(
                            "Pub/Sub answered 200 without one message id per message ({} sent)",
                            batch.len()
                        ),
                        retry_after_ms: None,
                    }
                }
            }
            // The token was refused (revoked, or expired early): fetch a new one and retry.
            Ok(r) if r.status == 401 => {
                self.token.borrow_mut().take();
                Verdict::Transient {
                    error: google_error(r),
                    retry_after_ms: None,
                }
            }
            Ok(r) => match classify(result, now) {
                Verdict::Transient { retry_after_ms, .. } => Verdict::Transient {
                    error: google_error(r),
                    retry_after_ms,
                },
                Verdict::Permanent { .. } => Verdict::Permanent {
                    error: google_error(r),
                },
                Verdict::Delivered => Verdict::Transient {
                    error: format!("unexpected HTTP {} from topics.publish", r.status),
                    retry_after_ms: None,
                },
            },
            Err(_) => classify(result, now),
        };
        vec![verdict; batch.len()]
    }

    fn credential_request(&self, now: Millis) -> Option<Result<CredentialRequest, String>> {
        let fresh = self
            .token
            .borrow()
            .as_ref()
            .is_some_and(|t| t.refresh_at > now);
        if fresh {
            return None;
        }
        Some(self.config.service_account.assertion(now).map(|jwt| {
            // The assertion goes last: the engine appends it once the runtime has signed it.
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
                .append_pair("assertion", "")
                .finish();
            CredentialRequest {
                request: HttpRequest {
                    method: "POST",
                    url: self.config.service_account.token_uri.clone(),
                    headers: vec![(
                        "content-type".into(),
                        "application/x-www-form-urlencoded".into(),
                    )],
                    body: body.into_bytes(),
                },
                assertion: Some(jwt),
            }
        }))
    }

    fn accept_credential(&self, result: &TransportResult, now: Millis) -> Result<(), Verdict> {
        let response = match result {
            Ok(r) => r,
            Err(_) => return Err(classify(result, now)),
        };
        if response.status != 200 {
            let error = format!("token exchange failed: {}", google_error(response));
            return Err(match response.status {
                429 | 500..=599 => Verdict::Transient {
                    error,
                    retry_after_ms: response
                        .header("retry-after")
                        .and_then(|v| parse_retry_after(v, now)),
                },
                // invalid_grant (a deleted key, a bad signature), invalid_client…: retrying
                // with the same key cannot help.
                _ => Verdict::Permanent { error },
            });
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: String,
            #[serde(default)]
            expires_in: Option<i64>,
        }
        let answer: TokenAnswer =
            json::from_str(&response.body).map_err(|e| Verdict::Transient {
                error: format!("token exchange answered 200 without an access token: {e}"),
                retry_after_ms: None,
            })?;
        let lifetime_ms = answer.expires_in.unwrap_or(3_600).max(0) * 1_000;
        *self.token.borrow_mut() = Some(AccessToken {
            token: answer.access_token,
            refresh_at: now + (lifetime_ms - TOKEN_MARGIN_MS).max(0),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests;
