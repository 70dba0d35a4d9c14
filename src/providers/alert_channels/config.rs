//! The configs of the alert channels (`slack`, `discord`, `pagerduty`, `email`) and
//! their checks; for email, the sender domains the deployment allows.

use crate::core::destination::MASK;
use crate::core::validate::{check_url, FieldError};
use crate::providers::TypeConfig;
use serde::{Deserialize, Serialize};

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
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url, length(max = 2048), extend("default" = super::PAGERDUTY_ENDPOINT)))]
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

/// Email through the Worker's `send_email` binding named `EMAIL_BINDING` (Cloudflare Email
/// Workers / Email Service). Not HTTP: the provider builds an `Outbound::Email`, which the
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
pub(super) const MAX_EMAIL_RECIPIENTS: usize = 10;
/// RFC 5321: a path (address) is at most 254 octets in practice.
pub(super) const MAX_ADDRESS_LEN: usize = 254;

/// A plain `local@domain` address: no display name, spaces, angle brackets or line breaks
/// (they would let a config inject headers).
pub(super) fn check_address(a: &str) -> Result<(), String> {
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
pub(super) fn at_domain(address: &str, domain: &str) -> bool {
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

/// Slack and Discord: the webhook URL is the secret.
impl TypeConfig for ChatConfig {
    const ALERTS_ONLY: bool = true;

    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        self.validate(allow_private)
    }

    fn masked(&self) -> serde_json::Value {
        serde_json::to_value(ChatConfig::masked(self)).unwrap_or_default()
    }
}

impl TypeConfig for PagerDutyConfig {
    const ALERTS_ONLY: bool = true;

    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        self.validate(allow_private)
    }

    fn masked(&self) -> serde_json::Value {
        serde_json::to_value(PagerDutyConfig::masked(self)).unwrap_or_default()
    }
}

/// Addresses only, nothing secret; the binding, not a URL, is where it goes, so
/// `allow_private` does not apply.
impl TypeConfig for EmailConfig {
    const ALERTS_ONLY: bool = true;

    fn check(&self, _allow_private: bool) -> Vec<FieldError> {
        self.validate()
    }

    fn masked(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
