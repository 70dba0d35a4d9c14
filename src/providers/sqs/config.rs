//! The destination config of type `aws_sqs`: the queue, the AWS target, FIFO grouping; its
//! checks, and the id rule that grouping and deduplication share.

use crate::core::engine::QueuedDelivery;
use crate::core::validate::{check_header_name, check_url, FieldError};
use crate::providers::aws::{self, AwsTarget, SQS};
use crate::providers::TypeConfig;
use serde::{Deserialize, Serialize};

/// `MessageGroupId` and `MessageDeduplicationId`: up to 128 characters.
pub const MAX_ID_LEN: usize = 128;
/// Queue names are 1 to 80 characters, the `.fifo` suffix included.
pub const MAX_QUEUE_NAME_LEN: usize = 80;
/// Where and how to send: the destination config of type `aws_sqs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct SqsConfig {
    /// E.g. `https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo`.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url))]
    pub queue_url: String,
    /// The region, the credentials, and another origin to send to instead of
    /// `https://sqs.{region}.amazonaws.com` (LocalStack, moto, a VPC endpoint).
    #[serde(flatten)]
    pub aws: AwsTarget,
    /// The `MessageGroupId` (FIFO queues; fair queues for standard ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(max = 128)))]
    pub message_group_id: Option<String>,
    /// The name of an event metadata field whose value is the `MessageGroupId`; when the
    /// event lacks it, `message_group_id` (or "default" on a FIFO queue) applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_group_id_from_metadata: Option<String>,
}

impl SqsConfig {
    /// Every problem with the config, fields named `config.…`.
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        match check_url(&self.queue_url, allow_private) {
            Err(e) => errors.push(FieldError::new("config.queue_url", e)),
            Ok(url) => {
                if let Err(e) = check_queue_path(url.path()) {
                    errors.push(FieldError::new("config.queue_url", e));
                }
                let host = url.host_str().unwrap_or_default();
                let region_in_host = host
                    .strip_prefix("sqs.")
                    .and_then(|h| h.split('.').next())
                    .filter(|_| host.contains(".amazonaws.com"));
                if region_in_host.is_some_and(|r| r != self.aws.region) {
                    errors.push(FieldError::new(
                        "config.region",
                        "does not match the region of the queue URL",
                    ));
                }
            }
        }
        errors.extend(self.aws.validate("config", allow_private));
        if let Some(group) = &self.message_group_id {
            if !is_sqs_id(group) {
                errors.push(FieldError::new(
                    "config.message_group_id",
                    format!("1 to {MAX_ID_LEN} printable ASCII characters, no spaces"),
                ));
            }
        }
        if let Some(field) = &self.message_group_id_from_metadata {
            if let Err(e) = check_header_name(field) {
                errors.push(FieldError::new("config.message_group_id_from_metadata", e));
            }
        }
        errors
    }

    /// FIFO queues' names end with `.fifo`.
    pub fn is_fifo(&self) -> bool {
        self.queue_url.trim_end_matches('/').ends_with(".fifo")
    }

    /// A delivery's `MessageGroupId`: the metadata field named by
    /// `message_group_id_from_metadata`, else `message_group_id`, else "default" on a FIFO
    /// queue; none on a standard queue without one.
    pub fn message_group(&self, d: &QueuedDelivery) -> Option<String> {
        let from_metadata = self
            .message_group_id_from_metadata
            .as_ref()
            .and_then(|field| d.metadata.get(field))
            .filter(|v| !v.is_empty());
        match from_metadata.or(self.message_group_id.as_ref()) {
            Some(group) => Some(super::sqs_id(group)),
            None if self.is_fifo() => Some(super::DEFAULT_GROUP_ID.to_string()),
            None => None,
        }
    }

    /// The URL requests go to: the endpoint override; else, for a queue at AWS, the region's
    /// SQS endpoint (what the AWS SDKs use with the JSON protocol, whatever the queue URL's
    /// legacy host); else the queue URL's own origin (LocalStack's queue URLs work as given).
    pub fn endpoint_url(&self) -> String {
        let queue = url::Url::parse(&self.queue_url).ok();
        let host = queue
            .as_ref()
            .and_then(|u| u.host_str())
            .unwrap_or_default();
        match queue {
            Some(u)
                if self.aws.endpoint.is_none()
                    && !host.ends_with(".amazonaws.com")
                    && !host.ends_with(".amazonaws.com.cn") =>
            {
                format!("{}/", u.origin().ascii_serialization())
            }
            _ => self.aws.service_url(&SQS),
        }
    }
}

/// `/{account}/{queue name}`.
pub(super) fn check_queue_path(path: &str) -> Result<(), String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let [account, name] = segments[..] else {
        return Err("expected https://sqs.{region}.amazonaws.com/{account}/{queue name}".into());
    };
    if account.is_empty() || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err("the account id in the queue URL must be digits".into());
    }
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let valid = !base.is_empty()
        && name.len() <= MAX_QUEUE_NAME_LEN
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(format!(
            "a queue name is 1 to {MAX_QUEUE_NAME_LEN} letters, digits, '-' or '_' (plus '.fifo')"
        ));
    }
    Ok(())
}

/// Group and deduplication ids: 1 to 128 of SQS's allowed characters (ASCII letters, digits
/// and punctuation).
pub(super) fn is_sqs_id(value: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&value.len()) && value.chars().all(|c| c.is_ascii_graphic())
}

/// `value` itself when SQS accepts it as an id, else its hex SHA-256 (64 characters): the
/// same input always gives the same id, so grouping and deduplication still hold.
pub fn sqs_id(value: &str) -> String {
    if is_sqs_id(value) {
        value.to_string()
    } else {
        aws::sha256_hex(value.as_bytes())
    }
}

impl TypeConfig for SqsConfig {
    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        self.validate(allow_private)
    }

    fn masked(&self) -> serde_json::Value {
        AwsTarget::masked_json(self)
    }

    /// A FIFO queue delivers each message group in order; a standard queue keeps no order.
    fn ordering_key(&self, d: &QueuedDelivery) -> Option<String> {
        self.is_fifo().then(|| self.message_group(d)).flatten()
    }
}
