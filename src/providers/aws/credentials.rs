//! Static AWS credentials and the checks on what goes into signed headers.

use crate::core::validate::{check_header_value, join_path, FieldError};

/// Static AWS credentials: `access_key_id`, `secret_access_key` and `session_token` in a
/// destination config (see `AwsTarget`, which carries them).
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// For temporary (STS) credentials.
    pub session_token: Option<String>,
}

/// Never prints the secret parts, so a config in a log line leaks nothing.
impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// AWS access key ids are at most 128 characters (IAM `AccessKeyIdType`).
pub const MAX_ACCESS_KEY_ID_LEN: usize = 128;

impl AwsCredentials {
    /// Checks the fields (they sit at `prefix`, e.g. `config`). Lengths are loose on purpose:
    /// LocalStack and moto accept `test`/`test`.
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut errors = vec![];
        let id = &self.access_key_id;
        if id.is_empty()
            || id.len() > MAX_ACCESS_KEY_ID_LEN
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            errors.push(FieldError::new(
                join_path(prefix, "access_key_id"),
                format!("1 to {MAX_ACCESS_KEY_ID_LEN} letters, digits or '_'"),
            ));
        }
        if self.secret_access_key.is_empty() {
            errors.push(FieldError::new(
                join_path(prefix, "secret_access_key"),
                "this field is required",
            ));
        } else if let Err(e) = check_header_value(&self.secret_access_key) {
            errors.push(FieldError::new(join_path(prefix, "secret_access_key"), e));
        }
        if let Some(token) = &self.session_token {
            let check = if token.is_empty() {
                Err("empty; leave it out for long-term credentials".to_string())
            } else {
                // Sent as `x-amz-security-token`, a signed header.
                check_signed_header_value(token)
            };
            if let Err(e) = check {
                errors.push(FieldError::new(join_path(prefix, "session_token"), e));
            }
        }
        errors
    }
}

/// A value sent in a signed header. AWS reads header bytes as ISO-8859-1 when it recomputes
/// the signature while the signer hashes the UTF-8 text, so any character outside printable
/// ASCII makes every request fail with `SignatureDoesNotMatch`: refuse it up front.
pub fn check_signed_header_value(value: &str) -> Result<(), String> {
    check_header_value(value)?;
    match value.chars().find(|c| !(' '..='~').contains(c)) {
        Some(c) => Err(format!(
            "only printable ASCII characters: AWS checks the signature over this header's \
             bytes read as ISO-8859-1, so {c:?} could never be delivered"
        )),
        None => Ok(()),
    }
}
