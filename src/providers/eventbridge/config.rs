//! The destination config of type `aws_eventbridge`: the bus, the AWS target and the
//! events' source, and their checks.

use crate::core::validate::{check_text, FieldError};
use crate::providers::aws::{AwsTarget, EVENTBRIDGE};
use crate::providers::TypeConfig;
use serde::{Deserialize, Serialize};

/// `Source` is 1 to 256 characters.
pub const MAX_SOURCE_LEN: usize = 256;
/// An event bus name or ARN is at most 1600 characters.
pub const MAX_BUS_LEN: usize = 1600;

pub(super) fn default_bus() -> String {
    "default".into()
}

pub(super) fn default_source() -> String {
    "sluice".into()
}

/// The destination config of type `aws_eventbridge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct EventBridgeConfig {
    /// A bus name or ARN; the account's default bus when left out.
    #[serde(default = "default_bus")]
    pub event_bus_name: String,
    /// The region, the credentials, and another origin to send to instead of
    /// `https://events.{region}.amazonaws.com`.
    #[serde(flatten)]
    pub aws: AwsTarget,
    /// The events' `Source`, for rules to match on.
    #[serde(default = "default_source")]
    pub source: String,
}

impl EventBridgeConfig {
    /// Every problem with the config, fields named `config.…`.
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        if let Err(e) = check_bus(&self.event_bus_name) {
            errors.push(FieldError::new("config.event_bus_name", e));
        }
        errors.extend(self.aws.validate("config", allow_private));
        let source = check_text(&self.source, MAX_SOURCE_LEN).and_then(|()| {
            if self.source.is_empty() {
                Err("this field may not be empty".into())
            } else if self.source.starts_with("aws.") {
                Err("sources starting with 'aws.' are reserved for AWS services".into())
            } else {
                Ok(())
            }
        });
        if let Err(e) = source {
            errors.push(FieldError::new("config.source", e));
        }
        errors
    }

    /// The URL requests go to: the endpoint override, or the region's EventBridge endpoint.
    pub fn endpoint_url(&self) -> String {
        self.aws.service_url(&EVENTBRIDGE)
    }
}

/// A bus name (`[/.\-_A-Za-z0-9]+`, partner buses contain '/') or an event bus ARN.
pub(super) fn check_bus(bus: &str) -> Result<(), String> {
    let name =
        match bus.strip_prefix("arn:") {
            Some(arn) => {
                let parts: Vec<&str> = arn.splitn(5, ':').collect();
                match parts[..] {
                    [partition, "events", region, account, resource]
                        if partition.starts_with("aws")
                            && !region.is_empty()
                            && account.len() == 12
                            && account.chars().all(|c| c.is_ascii_digit()) =>
                    {
                        resource.strip_prefix("event-bus/").unwrap_or_default()
                    }
                    _ => return Err(
                        "not an event bus ARN (arn:aws:events:{region}:{account}:event-bus/{name})"
                            .into(),
                    ),
                }
            }
            None => bus,
        };
    let valid = !name.is_empty()
        && bus.len() <= MAX_BUS_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err("a bus name is letters, digits, '/', '.', '-' and '_', or an event bus ARN".into())
    }
}

impl TypeConfig for EventBridgeConfig {
    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        self.validate(allow_private)
    }

    fn masked(&self) -> serde_json::Value {
        AwsTarget::masked_json(self)
    }
}
