//! AWS error responses (the JSON protocols' and S3's XML) read into verdicts.

use crate::core::classify::{classify, classify_status, Verdict};
use crate::core::json;
use crate::core::time::Millis;
use crate::core::wire::{HttpResponse, TransportResult};

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
        let body: serde_json::Value = json::from_str(&response.body).unwrap_or_default();
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
pub(super) fn short_code(raw: &str) -> String {
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
