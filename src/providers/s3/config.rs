//! The destination config of type `aws_s3`: the bucket, the AWS target, the object key
//! template and content type, and their checks; the key template's rendering.

use crate::core::validate::{check_text, FieldError};
use crate::providers::aws::{check_signed_header_value, AwsTarget, S3 as S3_SERVICE};
use crate::providers::placeholders::render;
use crate::providers::TypeConfig;
use serde::{Deserialize, Serialize};

/// S3 object keys are at most 1024 bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;
/// The placeholders a key template may use; the dates are the event's creation time, UTC.
pub const KEY_PLACEHOLDERS: [&str; 8] = [
    "tenant_id",
    "topic",
    "event_id",
    "delivery_id",
    "yyyy",
    "mm",
    "dd",
    "hh",
];

pub(super) fn default_key_template() -> String {
    "{tenant_id}/{topic}/{yyyy}/{mm}/{dd}/{event_id}.json".into()
}

pub(super) fn default_content_type() -> String {
    "application/json".into()
}

/// The destination config of type `aws_s3`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct S3Config {
    /// The bucket's name.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 3, max = 63)))]
    pub bucket: String,
    /// The region, the credentials, and another origin to send to (LocalStack, MinIO,
    /// moto), which is always addressed path style.
    #[serde(flatten)]
    pub aws: AwsTarget,
    /// Where each event goes, e.g. `{tenant_id}/{topic}/{yyyy}/{mm}/{dd}/{event_id}.json`.
    #[serde(default = "default_key_template")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1)))]
    pub key_template: String,
    /// The objects' `Content-Type`; printable ASCII only (it is a signed header, and AWS reads
    /// header bytes as ISO-8859-1).
    #[serde(default = "default_content_type")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(regex(pattern = "^[ -~]+$")))]
    pub content_type: String,
    /// `https://s3.{region}.amazonaws.com/{bucket}/…` instead of
    /// `https://{bucket}.s3.{region}.amazonaws.com/…` (needed for bucket names with dots).
    #[serde(default)]
    pub path_style: bool,
}

impl S3Config {
    /// Every problem with the config, fields named `config.…`.
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        if let Err(e) = check_bucket(&self.bucket) {
            errors.push(FieldError::new("config.bucket", e));
        } else if self.bucket.contains('.') && !self.path_style && self.aws.endpoint.is_none() {
            errors.push(FieldError::new(
                "config.bucket",
                "a bucket name with dots needs `path_style: true` (TLS certificates do not cover it)",
            ));
        }
        errors.extend(self.aws.validate("config", allow_private));
        if let Err(e) = check_key_template(&self.key_template) {
            errors.push(FieldError::new("config.key_template", e));
        }
        // Sent as `content-type`, a signed header.
        let content_type = check_signed_header_value(&self.content_type).and_then(|()| match self
            .content_type
            .split_once('/')
        {
            Some((t, s)) if !t.trim().is_empty() && !s.trim().is_empty() => Ok(()),
            _ => Err("a media type such as 'application/json'".to_string()),
        });
        if let Err(e) = content_type {
            errors.push(FieldError::new("config.content_type", e));
        }
        errors
    }

    /// The object's URL, `key` already URI-encoded.
    pub(super) fn object_url(&self, encoded_key: &str) -> String {
        let bucket = &self.bucket;
        if self.path_style || self.aws.endpoint.is_some() {
            format!(
                "{}{bucket}/{encoded_key}",
                self.aws.service_url(&S3_SERVICE)
            )
        } else {
            let origin = self.aws.regional_origin(&format!("{bucket}.s3"));
            format!("{origin}/{encoded_key}")
        }
    }
}

/// S3's bucket naming rules: 3 to 63 lower-case letters, digits, '.' and '-', starting and
/// ending with a letter or digit, no "..", not shaped like an IP address.
pub(super) fn check_bucket(bucket: &str) -> Result<(), String> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let valid = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && edge_ok(bucket.chars().next())
        && edge_ok(bucket.chars().last())
        && !bucket.contains("..")
        && bucket.parse::<std::net::Ipv4Addr>().is_err();
    if valid {
        Ok(())
    } else {
        Err("3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit".into())
    }
}

/// The placeholders a key template may use, as an error lists them.
pub(super) fn known_placeholders() -> String {
    KEY_PLACEHOLDERS.join(", ")
}

pub(super) fn check_key_template(template: &str) -> Result<(), String> {
    check_text(template, MAX_KEY_BYTES)?;
    if template.is_empty() || template.starts_with('/') {
        return Err("a key template is not empty and does not start with '/'".into());
    }
    let mut used = vec![];
    render(template, known_placeholders, |name| {
        used.push(name.to_string());
        KEY_PLACEHOLDERS.contains(&name).then(String::new)
    })?;
    if !used.iter().any(|p| p == "event_id" || p == "delivery_id") {
        return Err(
            "the key must contain {event_id} or {delivery_id}, or objects overwrite each other"
                .into(),
        );
    }
    Ok(())
}

impl TypeConfig for S3Config {
    fn check(&self, allow_private: bool) -> Vec<FieldError> {
        self.validate(allow_private)
    }

    fn masked(&self) -> serde_json::Value {
        AwsTarget::masked_json(self)
    }
}
