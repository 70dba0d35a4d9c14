//! GCP Pub/Sub: REST `topics.publish` with a service account key. The provider signs an RS256
//! JWT with the key, exchanges it at the key's `token_uri` for an access token (the engine's
//! credential step), keeps the token until shortly before it expires, and publishes up to
//! 1,000 messages per request: base64 `data`, `attributes` with the event id, topic and
//! attempt, and an optional ordering key.

use crate::core::classify::{classify, parse_retry_after, Verdict};
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::time::Millis;
use crate::core::validate::{check_text, check_url, FieldError};
use crate::core::wire::{HttpRequest, HttpResponse, TransportResult};
use crate::providers::aws::check_endpoint;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

/// `topics.publish` takes at most 1,000 messages per request.
pub const MAX_BATCH_MESSAGES: usize = 1_000;
/// A publish request is at most 10 MB; the base64 data counts at its encoded size. This
/// leaves room for attributes and JSON framing.
pub const MAX_BATCH_BYTES: usize = 9_000_000;
/// The scope a publisher needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/pubsub";
pub const DEFAULT_ENDPOINT: &str = "https://pubsub.googleapis.com";
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Google accepts assertions valid for at most an hour.
const ASSERTION_LIFETIME_SECS: i64 = 3_600;
/// A token is replaced this long before it expires, so no request carries a stale one.
const TOKEN_MARGIN_MS: Millis = 60_000;
const MAX_ORDERING_KEY_BYTES: usize = 1_024;

fn default_token_uri() -> String {
    DEFAULT_TOKEN_URI.into()
}

/// The parts of a service account key file (the JSON downloaded from the console) that
/// publishing needs. The file's other fields are accepted and dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct ServiceAccountKey {
    /// `service_account` in a key file.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("const" = "service_account")))]
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_id: Option<String>,
    /// PEM, PKCS#8 (`BEGIN PRIVATE KEY`) as Google issues it, or PKCS#1.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("x-secret" = true, "writeOnly" = true)))]
    pub private_key: String,
    /// The service account's address; it needs `roles/pubsub.publisher` on the topic.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(email))]
    pub client_email: String,
    #[serde(default = "default_token_uri")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url))]
    pub token_uri: String,
}

/// The destination config of type `gcp_pubsub`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct PubSubConfig {
    /// The topic id, or its full name `projects/{project}/topics/{topic}`.
    pub topic: String,
    /// The topic's project when `topic` is a bare id; the key's project when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The service account key file's JSON as downloaded.
    pub service_account: ServiceAccountKey,
    /// One ordering key for every message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(max = 1024)))]
    pub ordering_key: Option<String>,
    /// The name of an event metadata field whose value is the ordering key; when the event
    /// lacks it, `ordering_key` (if any) applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key_from_metadata: Option<String>,
    /// Another origin to publish to instead of `https://pubsub.googleapis.com` (an emulator,
    /// a regional or private endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url))]
    pub endpoint: Option<String>,
}

/// A resource id in a Pub/Sub name: letters, digits and `-_.~+%`, 3–255 characters for a
/// topic; projects are 6–30 lowercase letters, digits and hyphens.
fn check_topic_id(id: &str) -> Result<(), String> {
    let ok = (3..=255).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && !id.starts_with("goog")
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.~+%".contains(c));
    if ok {
        Ok(())
    } else {
        Err(
            "3 to 255 of letters, digits and -_.~+%, starting with a letter and not with 'goog'"
                .into(),
        )
    }
}

fn check_project_id(id: &str) -> Result<(), String> {
    let ok = (6..=30).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    // Domain-scoped projects ("example.com:proj") are also valid project ids.
    let scoped = id.split_once(':').is_some_and(|(domain, rest)| {
        !domain.is_empty()
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
            && check_project_id(rest).is_ok()
    });
    if ok || scoped {
        Ok(())
    } else {
        Err("6 to 30 lowercase letters, digits and hyphens, starting with a letter".into())
    }
}

impl PubSubConfig {
    /// `(project, topic)`, from the full name or from the id and the project fields.
    pub fn topic_path(&self) -> Option<(String, String)> {
        if let Some(rest) = self.topic.strip_prefix("projects/") {
            let (project, topic) = rest.split_once("/topics/")?;
            return Some((project.into(), topic.into()));
        }
        let project = self
            .project_id
            .clone()
            .or_else(|| self.service_account.project_id.clone())?;
        Some((project, self.topic.clone()))
    }

    /// Every problem with the config, fields named `config.…`.
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        match self.topic_path() {
            None if self.topic.starts_with("projects/") => errors.push(FieldError::new(
                "config.topic",
                "a full name is projects/{project}/topics/{topic}",
            )),
            None => errors.push(FieldError::new(
                "config.project_id",
                "required when `topic` is a bare id and the key names no project_id",
            )),
            Some((project, topic)) => {
                if let Err(e) = check_topic_id(&topic) {
                    errors.push(FieldError::new("config.topic", e));
                }
                if let Err(e) = check_project_id(&project) {
                    let field = if self.topic.starts_with("projects/") {
                        "config.topic"
                    } else {
                        "config.project_id"
                    };
                    errors.push(FieldError::new(field, format!("project id: {e}")));
                }
            }
        }
        errors.extend(self.service_account.validate(allow_private));
        if let Some(key) = &self.ordering_key {
            if let Err(e) = check_ordering_key(key) {
                errors.push(FieldError::new("config.ordering_key", e));
            }
        }
        if let Some(field) = &self.ordering_key_from_metadata {
            if let Err(e) = check_text(field, 128).and_then(|()| {
                if field.is_empty() {
                    Err("this field may not be empty".into())
                } else {
                    Ok(())
                }
            }) {
                errors.push(FieldError::new("config.ordering_key_from_metadata", e));
            }
        }
        if let Some(endpoint) = &self.endpoint {
            errors.extend(check_endpoint("config.endpoint", endpoint, allow_private));
        }
        errors
    }

    fn endpoint(&self) -> &str {
        self.endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT)
            .trim_end_matches('/')
    }
}

fn check_ordering_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_ORDERING_KEY_BYTES {
        return Err(format!("1 to {MAX_ORDERING_KEY_BYTES} bytes"));
    }
    check_text(key, MAX_ORDERING_KEY_BYTES)
}

impl ServiceAccountKey {
    fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        if self.kind.as_deref().is_some_and(|k| k != "service_account") {
            errors.push(FieldError::new(
                "config.service_account.type",
                "a service account key has type 'service_account'",
            ));
        }
        let email_ok = self
            .client_email
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
            && check_text(&self.client_email, 320).is_ok();
        if !email_ok {
            errors.push(FieldError::new(
                "config.service_account.client_email",
                "the service account's e-mail address, e.g. publisher@my-project.iam.gserviceaccount.com",
            ));
        }
        if let Err(e) = check_url(&self.token_uri, allow_private) {
            errors.push(FieldError::new("config.service_account.token_uri", e));
        }
        // Signing once proves the key is an RSA private key that works (not just PEM-shaped).
        if let Err(e) = self.assertion(0) {
            errors.push(FieldError::new("config.service_account.private_key", e));
        }
        errors
    }

    /// The signed JWT that asks `token_uri` for a Pub/Sub access token (RFC 7523).
    pub fn assertion(&self, now: Millis) -> Result<String, String> {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: i64,
            exp: i64,
        }
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.private_key.as_bytes())
            .map_err(|e| format!("not an RSA private key in PEM form: {e}"))?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.private_key_id.clone();
        let iat = now.div_euclid(1_000);
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat,
            exp: iat + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| format!("could not sign with this key: {e}"))
    }
}

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
        self.config
            .ordering_key_from_metadata
            .as_ref()
            .and_then(|field| d.metadata.get(field))
            .filter(|k| check_ordering_key(k).is_ok())
            .or(self.config.ordering_key.as_ref())
            .map(String::as_str)
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
    let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
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

    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<HttpRequest, String> {
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
        Ok(HttpRequest {
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
        })
    }

    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        let verdict = match result {
            Ok(r) if r.status == 200 => {
                let ids = serde_json::from_str::<Value>(&r.body)
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

    fn credential_request(&self, now: Millis) -> Option<Result<HttpRequest, String>> {
        let fresh = self
            .token
            .borrow()
            .as_ref()
            .is_some_and(|t| t.refresh_at > now);
        if fresh {
            return None;
        }
        Some(self.config.service_account.assertion(now).map(|jwt| {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
                .append_pair("assertion", &jwt)
                .finish();
            HttpRequest {
                method: "POST",
                url: self.config.service_account.token_uri.clone(),
                headers: vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                )],
                body: body.into_bytes(),
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
            serde_json::from_str(&response.body).map_err(|e| Verdict::Transient {
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
