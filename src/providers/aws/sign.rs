//! SigV4 with the `aws-sigv4` crate, the time passed in.

use super::credentials::AwsCredentials;
use crate::core::time::Millis;
use crate::core::wire::HttpRequest;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign as sigv4_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

/// Which of SigV4's variants a service expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningRules {
    /// The defaults (SQS, EventBridge): the path normalised and encoded twice, the payload
    /// hash inside the signature only.
    Standard,
    /// S3's: the payload hash travels as `x-amz-content-sha256`, and the path is signed
    /// exactly as sent (already URI-encoded once, not normalised: S3 keys may contain `//`).
    S3,
}

/// Headers the signer adds; stale copies are dropped first so that signing twice is harmless.
const SIGNING_HEADERS: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Signs `request` in place for `service` in `region`: adds `x-amz-date`, `authorization`
/// and, with temporary credentials, `x-amz-security-token`. Every header already on the
/// request is signed (except `user-agent`), together with the URL's host.
pub fn sign(
    request: &mut HttpRequest,
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    rules: SigningRules,
    now: Millis,
) -> Result<(), String> {
    let mut settings = SigningSettings::default();
    if rules == SigningRules::S3 {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    request
        .headers
        .retain(|(k, _)| !SIGNING_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)));
    let identity: Identity = Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        credentials.session_token.clone(),
        None,
        "sluice-destination",
    )
    .into();
    let time = SystemTime::UNIX_EPOCH + Duration::from_millis(now.max(0) as u64);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("SigV4 parameters: {e}"))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url.as_str(),
        request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(&request.body),
    )
    .map_err(|e| format!("cannot sign the request: {e}"))?;
    let (instructions, _signature) = sigv4_sign(signable, &params)
        .map_err(|e| format!("cannot sign the request: {e}"))?
        .into_parts();
    let added: Vec<(String, String)> = instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    request.headers.extend(added);
    Ok(())
}

/// Lower-case hex SHA-256, e.g. for identifiers that must be short and plain.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
