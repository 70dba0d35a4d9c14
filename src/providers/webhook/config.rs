//! The webhook destination's `config`: target URL, custom headers, auth and signing, with
//! its validation and masking. The request itself is built in `webhook`.

use super::cloudevents::CloudEventsConfig;
use crate::core::destination::MASK;
use crate::core::signing::{self, HmacAlgorithm, SignatureEncoding};
use crate::core::validate::{check_header_name, check_header_value, check_url, FieldError};
use crate::providers::TypeConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const MAX_CUSTOM_HEADERS: usize = 32;
/// Headers Sluice sets itself; a destination may not override them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// A webhook destination's `config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct WebhookConfig {
    /// Absolute http(s) URL with a host and no credentials. Private, loopback and link-local
    /// addresses are refused unless the deployment sets `ALLOW_PRIVATE_DESTINATIONS`.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url, length(max = 2048)))]
    pub url: String,
    /// Custom headers (at most 32). Headers Sluice sets itself (`host`, `content-type`,
    /// `webhook-*`, `x-sluice-*`, …) cannot be overridden. Values are masked in responses.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("maxProperties" = 32, "additionalProperties" = {"type": "string", "x-secret": true, "writeOnly": true})))]
    pub headers: BTreeMap<String, String>,
    /// How Sluice authenticates to the receiver, besides the signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<WebhookAuth>,
    /// How each request is signed; Standard Webhooks by default.
    #[serde(default)]
    pub signing: Signing,
    /// Frame each event as a CloudEvent 1.0 (binary or structured mode) instead of the bare
    /// data; signing is unchanged and covers the body as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudevents: Option<CloudEventsConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub enum WebhookAuth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1), extend("x-secret" = true, "writeOnly" = true)))]
        token: String,
    },
    /// `Authorization: Basic …`.
    Basic {
        #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1)))]
        username: String,
        #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1), extend("x-secret" = true, "writeOnly" = true)))]
        password: String,
    },
    /// The key in a header of the receiver's choosing.
    ApiKey {
        header: String,
        #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1), extend("x-secret" = true, "writeOnly" = true)))]
        key: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(not(target_arch = "wasm32"), schemars(rename = "WebhookSigning"))]
pub enum Signing {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`.
    StandardWebhooks {
        /// Write-only: a `whsec_…` secret to use instead of a generated one.
        #[cfg_attr(not(target_arch = "wasm32"), schemars(regex(pattern = "^whsec_"), extend("x-secret" = true, "writeOnly" = true)))]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// A custom header carrying an HMAC of the body (and timestamp, when a header is named).
    Hmac {
        header: String,
        #[serde(default)]
        algorithm: HmacAlgorithm,
        #[serde(default)]
        encoding: SignatureEncoding,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp_header: Option<String>,
        /// Write-only: a secret of the receiver's choosing (16 to 256 characters).
        #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 16, max = 256), extend("x-secret" = true, "writeOnly" = true)))]
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// Requests are not signed.
    None,
}

impl Default for Signing {
    fn default() -> Self {
        Signing::StandardWebhooks { secret: None }
    }
}

impl Signing {
    /// Takes the write-only secret out (it is sealed apart from the config).
    pub fn take_secret(&mut self) -> Option<String> {
        match self {
            Signing::StandardWebhooks { secret } | Signing::Hmac { secret, .. } => secret.take(),
            Signing::None => None,
        }
    }
}

impl WebhookConfig {
    /// Every problem with the config, fields named `config.…`.
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let c = self;
        let mut errors = vec![];

        if let Err(e) = check_url(&c.url, allow_private) {
            errors.push(FieldError::new("config.url", e));
        }
        if c.headers.len() > MAX_CUSTOM_HEADERS {
            errors.push(FieldError::new(
                "config.headers",
                format!("at most {MAX_CUSTOM_HEADERS} headers"),
            ));
        }
        for (name, value) in &c.headers {
            let field = format!("config.headers.{name}");
            let lower = name.to_ascii_lowercase();
            if let Err(e) = check_header_name(name) {
                errors.push(FieldError::new(&field, e));
            } else if RESERVED_HEADERS.contains(&lower.as_str())
                || lower.starts_with("x-sluice-")
                // CloudEvents attributes travel as `ce-*` headers in binary mode.
                || (c.cloudevents.is_some() && lower.starts_with("ce-"))
            {
                errors.push(FieldError::new(
                    &field,
                    format!("'{name}' is set by Sluice and cannot be overridden"),
                ));
            } else if let Err(e) = check_header_value(value) {
                errors.push(FieldError::new(&field, e));
            }
        }
        let mut nonempty = |field: &str, value: &str| {
            if value.is_empty() {
                errors.push(FieldError::new(field, "must not be empty"));
            } else if let Err(e) = check_header_value(value) {
                errors.push(FieldError::new(field, e));
            }
        };
        match &c.auth {
            Some(WebhookAuth::Bearer { token }) => nonempty("config.auth.token", token),
            Some(WebhookAuth::Basic { username, password }) => {
                nonempty("config.auth.username", username);
                nonempty("config.auth.password", password);
                if username.contains(':') {
                    errors.push(FieldError::new(
                        "config.auth.username",
                        "may not contain ':'",
                    ));
                }
            }
            Some(WebhookAuth::ApiKey { header, key }) => {
                nonempty("config.auth.key", key);
                if let Err(e) = check_header_name(header) {
                    errors.push(FieldError::new("config.auth.header", e));
                }
            }
            None => {}
        }
        if let Some(ce) = &c.cloudevents {
            errors.extend(ce.validate());
        }
        if let Signing::Hmac {
            header,
            timestamp_header,
            ..
        } = &c.signing
        {
            for (field, h) in [
                ("config.signing.header", Some(header)),
                ("config.signing.timestamp_header", timestamp_header.as_ref()),
            ] {
                if let Some(h) = h {
                    if let Err(e) = check_header_name(h) {
                        errors.push(FieldError::new(field, e));
                    }
                }
            }
        }
        errors
    }

    /// The config as the API shows it: auth credentials and custom header values masked,
    /// the write-only signing secret left out.
    pub fn masked(&self) -> Self {
        let mut c = self.clone();
        for v in c.headers.values_mut() {
            *v = MASK.into();
        }
        c.auth = c.auth.map(|a| match a {
            WebhookAuth::Bearer { .. } => WebhookAuth::Bearer { token: MASK.into() },
            WebhookAuth::Basic { username, .. } => WebhookAuth::Basic {
                username,
                password: MASK.into(),
            },
            WebhookAuth::ApiKey { header, .. } => WebhookAuth::ApiKey {
                header,
                key: MASK.into(),
            },
        });
        c.signing.take_secret();
        c
    }

    pub fn signs(&self) -> bool {
        !matches!(self.signing, Signing::None)
    }

    /// A signing secret given by the user: `whsec_…` for Standard Webhooks, any 16 to 256
    /// printable characters for a custom HMAC.
    pub fn check_signing_secret(&self, secret: &str) -> Result<(), String> {
        match self.signing {
            Signing::StandardWebhooks { .. } => signing::secret_key(secret).map(|_| ()),
            _ if !(16..=256).contains(&secret.len()) || secret.chars().any(char::is_control) => {
                Err("a signing secret is 16 to 256 printable characters".into())
            }
            _ => Ok(()),
        }
    }
}

impl TypeConfig for WebhookConfig {
    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        self.validate(allow_private)
    }

    fn masked(&self) -> serde_json::Value {
        serde_json::to_value(WebhookConfig::masked(self)).unwrap_or_default()
    }
}
