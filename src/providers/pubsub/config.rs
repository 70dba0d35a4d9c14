//! The destination config of type `gcp_pubsub`: the topic, the service account key and
//! the endpoint override, and their checks.

use super::*;
use crate::core::destination::MASK;
use crate::core::time::Millis;
use crate::core::validate::{check_text, check_url, FieldError};
use crate::core::wire::UnsignedJwt;
use crate::providers::aws::check_endpoint;
use crate::providers::TypeConfig;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

pub const DEFAULT_ENDPOINT: &str = "https://pubsub.googleapis.com";
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
pub(super) const MAX_ORDERING_KEY_BYTES: usize = 1_024;

pub(super) fn default_token_uri() -> String {
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
pub(super) fn check_topic_id(id: &str) -> Result<(), String> {
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

pub(super) fn check_project_id(id: &str) -> Result<(), String> {
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

    pub(super) fn endpoint(&self) -> &str {
        self.endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT)
            .trim_end_matches('/')
    }
}

pub(super) fn check_ordering_key(key: &str) -> Result<(), String> {
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
        // The key's structure is checked now (the Worker signs with WebCrypto, at delivery).
        if let Err(e) = crate::core::rsa_key::private_key_der(&self.private_key) {
            errors.push(FieldError::new("config.service_account.private_key", e));
        }
        errors
    }

    /// The JWT that asks `token_uri` for a Pub/Sub access token (RFC 7523), to be signed with
    /// RS256 by the runtime (`Transport::sign_rs256`).
    pub fn assertion(&self, now: Millis) -> Result<UnsignedJwt, String> {
        #[derive(Serialize)]
        struct JwtHeader<'a> {
            alg: &'static str,
            typ: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            kid: Option<&'a str>,
        }
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            scope: &'a str,
            aud: &'a str,
            iat: i64,
            exp: i64,
        }
        let pkcs8_der = crate::core::rsa_key::private_key_der(&self.private_key)?;
        let header = JwtHeader {
            alg: "RS256",
            typ: "JWT",
            kid: self.private_key_id.as_deref(),
        };
        let iat = now.div_euclid(1_000);
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat,
            exp: iat + ASSERTION_LIFETIME_SECS,
        };
        // Serialising these two structs cannot fail (strings and integers only).
        let header = serde_json::to_vec(&header).unwrap_or_default();
        let claims = serde_json::to_vec(&claims).unwrap_or_default();
        Ok(UnsignedJwt {
            pkcs8_der,
            signing_input: format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(claims)
            ),
        })
    }
}

impl TypeConfig for PubSubConfig {
    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        self.validate(allow_private)
    }

    /// The service account key's private key is the secret; the rest of it stays visible.
    fn masked(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["service_account"]["private_key"] = serde_json::Value::String(MASK.into());
        v
    }

    fn ordering_key(&self, d: &QueuedDelivery) -> Option<String> {
        self.ordering_key_of(d).map(str::to_string)
    }
}

impl PubSubConfig {
    /// A delivery's `orderingKey`: the metadata field named by `ordering_key_from_metadata`
    /// (when it is a valid key), else `ordering_key`.
    pub fn ordering_key_of<'a>(&'a self, d: &'a QueuedDelivery) -> Option<&'a str> {
        self.ordering_key_from_metadata
            .as_ref()
            .and_then(|field| d.metadata.get(field))
            .filter(|k| check_ordering_key(k).is_ok())
            .or(self.ordering_key.as_ref())
            .map(String::as_str)
    }
}
