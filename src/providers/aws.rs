//! What the AWS providers (SQS, EventBridge, S3) share: the credentials, SigV4 signing with
//! `aws-sigv4` (time passed in), fitting a batch under a service's limits, and reading AWS
//! error responses into verdicts.

use crate::core::classify::{classify, classify_status, Verdict};
use crate::core::time::Millis;
use crate::core::validate::{check_header_value, check_url, join_path, FieldError};
use crate::core::wire::{HttpRequest, HttpResponse, TransportResult};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign as sigv4_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

/// Static AWS credentials. Flattened into each AWS destination config, so the JSON fields are
/// `access_key_id`, `secret_access_key` and `session_token`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct AwsCredentials {
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(length(min = 1, max = 128), regex(pattern = "^[A-Za-z0-9_]+$"))
    )]
    pub access_key_id: String,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1), extend("x-secret" = true, "writeOnly" = true)))]
    pub secret_access_key: String,
    /// For temporary (STS) credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("x-secret" = true, "writeOnly" = true)))]
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

/// A region name such as `eu-west-1` or `us-gov-west-1`: it becomes part of host names and of
/// the signing scope, so only lower-case letters, digits and inner hyphens.
pub fn check_region(field: &str, region: &str) -> Option<FieldError> {
    let ok = (1..=32).contains(&region.len())
        && region.starts_with(|c: char| c.is_ascii_lowercase())
        && !region.ends_with('-')
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    (!ok).then(|| FieldError::new(field, "an AWS region such as 'eu-west-1'"))
}

/// An endpoint override (LocalStack, moto, a VPC endpoint): an http(s) origin, no path.
pub fn check_endpoint(field: &str, raw: &str, allow_private: bool) -> Option<FieldError> {
    match check_url(raw, allow_private) {
        Err(e) => Some(FieldError::new(field, e)),
        Ok(url) if url.path() != "/" || url.query().is_some() || url.fragment().is_some() => {
            Some(FieldError::new(
                field,
                "an origin only, e.g. 'http://localhost:4566', no path",
            ))
        }
        Ok(_) => None,
    }
}

/// An endpoint override as the base of request URLs (no trailing slash), in the form the
/// runtime sends it. `fetch` parses the URL and sends the host lower-cased, IPv4 shorthand
/// expanded (`127.1` is `127.0.0.1`) and a default port dropped; SigV4 signs the `host`, so
/// a URL signed as written (`http://LOCALHOST:4566`) would never match what AWS recomputes.
/// The URL is therefore built from the parsed origin, which is exactly what is sent.
pub fn endpoint_base(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(url) if url.origin().is_tuple() => url.origin().ascii_serialization(),
        // Unreachable for a validated config (an http(s) origin); kept total all the same.
        _ => raw.trim_end_matches('/').to_string(),
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

/// The DNS suffix of a region's endpoints: the China regions live under `amazonaws.com.cn`.
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// Signs `request` in place for a JSON-protocol service (SQS, EventBridge): adds `x-amz-date`,
/// `authorization` and, with temporary credentials, `x-amz-security-token`. Every header
/// already on the request is signed (except `user-agent`), together with the URL's host.
pub fn sign(
    request: &mut HttpRequest,
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    now: Millis,
) -> Result<(), String> {
    sign_with(
        request,
        credentials,
        region,
        service,
        now,
        SigningSettings::default(),
    )
}

/// Signs `request` in place with S3's rules: the payload hash travels as
/// `x-amz-content-sha256`, and the path is signed exactly as sent (already URI-encoded once,
/// not normalised: S3 keys may contain `//`).
pub fn sign_s3(
    request: &mut HttpRequest,
    credentials: &AwsCredentials,
    region: &str,
    now: Millis,
) -> Result<(), String> {
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    sign_with(request, credentials, region, "s3", now, settings)
}

/// Headers the signer adds; stale copies are dropped first so that signing twice is harmless.
const SIGNING_HEADERS: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

fn sign_with(
    request: &mut HttpRequest,
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    now: Millis,
    settings: SigningSettings,
) -> Result<(), String> {
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

/// Where one delivery of a batch went when the request was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// In the request, as entry number `n`.
    Sent(usize),
    /// Cannot be sent at all (too large, refused by a local check): failed for good.
    Rejected(String),
    /// Valid, but the request was full: left for the next request.
    Deferred,
}

/// Packs a batch into one request of at most `max_entries` entries and `max_bytes` in total,
/// in order. `sizes` gives each delivery's size as the service counts it, or why it cannot be
/// sent. Once one delivery is deferred, all later ones are too, so that FIFO order holds.
/// The result is a pure function of the batch: `build` and `interpret` both call it.
pub fn plan_batch(
    sizes: impl IntoIterator<Item = Result<usize, String>>,
    max_entries: usize,
    max_bytes: usize,
) -> Vec<Slot> {
    let mut sent = 0;
    let mut total = 0;
    let mut full = false;
    sizes
        .into_iter()
        .map(|size| match size {
            Err(reason) => Slot::Rejected(reason),
            Ok(size) if size > max_bytes => Slot::Rejected(format!(
                "the message is {size} bytes; the service takes at most {max_bytes}"
            )),
            Ok(_) if full => Slot::Deferred,
            Ok(size) if sent == max_entries || total + size > max_bytes => {
                full = true;
                Slot::Deferred
            }
            Ok(size) => {
                total += size;
                sent += 1;
                Slot::Sent(sent - 1)
            }
        })
        .collect()
}

/// How many deliveries, from the front, a plan sends or rejects before the first deferred
/// one: what `Provider::fit` answers, so that the engine leases only those.
pub fn fitting(plan: &[Slot]) -> usize {
    plan.iter()
        .take_while(|slot| !matches!(slot, Slot::Deferred))
        .count()
}

/// The verdict of a delivery left out of a full request: it goes with a later one.
pub fn deferred_verdict() -> Verdict {
    Verdict::Transient {
        error: "not sent: the request was full (size or entry limit); sent with a later one".into(),
        retry_after_ms: Some(0),
    }
}

/// An AWS error response, read from whichever shape the service uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsError {
    /// The short code, e.g. `QueueDoesNotExist`, `AccessDenied`, `ThrottlingException`.
    pub code: Option<String>,
    /// The code of the older Query protocol (`x-amzn-query-error`), e.g.
    /// `AWS.SimpleQueueService.NonExistentQueue`, when the service sends it.
    pub query_code: Option<String>,
    pub message: Option<String>,
}

impl AwsError {
    /// The JSON protocols' shape: `{"__type": "com.amazonaws.sqs#QueueDoesNotExist",
    /// "message": "…"}` (the code may also come in `code` or the `x-amzn-errortype` header).
    pub fn from_json(response: &HttpResponse) -> AwsError {
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap_or_default();
        let text = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| body.get(k).and_then(|v| v.as_str()))
                .map(str::to_string)
        };
        let code = text(&["__type", "code", "Code"])
            .or_else(|| response.header("x-amzn-errortype").map(str::to_string))
            .map(|raw| short_code(&raw));
        let query_code = response
            .header("x-amzn-query-error")
            .and_then(|v| v.split(';').next())
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        AwsError {
            code,
            query_code,
            message: text(&["message", "Message"]),
        }
    }

    /// S3's XML shape: `<Error><Code>NoSuchBucket</Code><Message>…</Message></Error>`.
    pub fn from_xml(response: &HttpResponse) -> AwsError {
        AwsError {
            code: xml_element(&response.body, "Code"),
            query_code: None,
            message: xml_element(&response.body, "Message"),
        }
    }

    fn codes(&self) -> impl Iterator<Item = &str> {
        self.code.iter().chain(&self.query_code).map(String::as_str)
    }
}

/// `com.amazonaws.sqs#QueueDoesNotExist` → `QueueDoesNotExist`; `Code:http://…` → `Code`.
fn short_code(raw: &str) -> String {
    let after_hash = raw.rsplit('#').next().unwrap_or(raw);
    after_hash
        .split(':')
        .next()
        .unwrap_or(after_hash)
        .to_string()
}

/// The text of the first `<name>…</name>` element, entities decoded. S3 error documents are
/// flat and small; this is all of XML that we need.
fn xml_element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Error codes worth retrying, whatever the status: throttling and the service's own
/// trouble (the codes botocore's standard retry mode treats as throttling or transient).
pub const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "PriorRequestNotComplete",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "KmsThrottled",
];

/// Whether an AWS error code means "try again later".
pub fn is_transient_code(code: &str) -> bool {
    TRANSIENT_CODES.contains(&code)
}

/// The verdict for a whole request that AWS refused: transient for throttling codes and what
/// the shared status rule calls transient (5xx, 429, 408); permanent otherwise (a missing
/// queue or bucket, bad credentials, a bad signature, access denied, invalid input).
pub fn error_verdict(
    service: &str,
    response: &HttpResponse,
    error: &AwsError,
    now: Millis,
) -> Verdict {
    let mut text = format!("{service} HTTP {}", response.status);
    if let Some(code) = &error.code {
        text.push_str(&format!(" {code}"));
    }
    if let Some(q) = error
        .query_code
        .as_ref()
        .filter(|q| Some(*q) != error.code.as_ref())
    {
        text.push_str(&format!(" ({q})"));
    }
    if let Some(message) = &error.message {
        text.push_str(&format!(": {message}"));
    }
    match classify_status(response, now) {
        Verdict::Transient { retry_after_ms, .. } => Verdict::Transient {
            error: text,
            retry_after_ms,
        },
        _ if error.codes().any(is_transient_code) => Verdict::Transient {
            error: text,
            retry_after_ms: None,
        },
        _ => Verdict::Permanent { error: text },
    }
}

/// The response of a request that reached AWS, or the verdict for every delivery in it when
/// there is none (timeout, network error).
pub fn response_or_verdict(
    result: &TransportResult,
    now: Millis,
) -> Result<&HttpResponse, Verdict> {
    match result {
        Ok(response) => Ok(response),
        Err(_) => Err(classify(result, now)),
    }
}

/// Per-entry failure codes of batch APIs: throttling and internal failures are transient.
pub fn entry_verdict(service: &str, code: &str, message: &str, transient: bool) -> Verdict {
    let error = if message.is_empty() {
        format!("{service} entry failed: {code}")
    } else {
        format!("{service} entry failed: {code}: {message}")
    };
    if transient || is_transient_code(code) {
        Verdict::Transient {
            error,
            retry_after_ms: None,
        }
    } else {
        Verdict::Permanent { error }
    }
}

#[cfg(test)]
mod tests;
