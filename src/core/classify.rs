//! Error classification: is an attempt's result a success, worth retrying, or final?

use crate::core::time::{parse_http_date, Millis};
use crate::core::wire::{HttpResponse, TransportError, TransportResult};

/// A `Retry-After` longer than this is clamped: a destination cannot park its deliveries
/// for days by answering 503 with a huge value.
const MAX_RETRY_AFTER_MS: u64 = 3_600_000;

/// What one attempt's result means for that delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Worth another try; `retry_after_ms` when the server said when.
    Transient {
        error: String,
        retry_after_ms: Option<u64>,
    },
    /// Retrying would not help (e.g. a 400, a 404, bad credentials).
    Permanent {
        error: String,
    },
}

impl Verdict {
    /// Whether the endpoint itself looks unhealthy (what the circuit breaker counts).
    pub fn is_transient(&self) -> bool {
        matches!(self, Verdict::Transient { .. })
    }
}

/// `Retry-After` as a delay from `now`: delta-seconds or an HTTP-date, clamped.
pub fn parse_retry_after(raw: &str, now: Millis) -> Option<u64> {
    let raw = raw.trim();
    let ms = if let Ok(secs) = raw.parse::<u64>() {
        secs.saturating_mul(1_000)
    } else {
        let at = parse_http_date(raw)?;
        (at - now).max(0) as u64
    };
    Some(ms.min(MAX_RETRY_AFTER_MS))
}

/// The HTTP status rule shared by every provider: 2xx delivered; 408, 429 and 5xx transient;
/// everything else (3xx included: redirects are not followed) permanent.
pub fn classify_status(response: &HttpResponse, now: Millis) -> Verdict {
    let status = response.status;
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Transient {
            error: format!("HTTP {status}"),
            retry_after_ms: response
                .header("retry-after")
                .and_then(|v| parse_retry_after(v, now)),
        },
        300..=399 => Verdict::Permanent {
            error: format!("HTTP {status}: redirects are not followed"),
        },
        _ => Verdict::Permanent {
            error: format!("HTTP {status}"),
        },
    }
}

/// Classifies a whole transport result: no response at all is always transient.
pub fn classify(result: &TransportResult, now: Millis) -> Verdict {
    match result {
        Ok(response) => classify_status(response, now),
        Err(e @ (TransportError::Timeout { .. } | TransportError::Network(_))) => {
            Verdict::Transient {
                error: e.to_string(),
                retry_after_ms: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, headers: &[(&str, &str)]) -> TransportResult {
        Ok(HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: String::new(),
        })
    }

    #[test]
    fn status_table() {
        let cases: &[(u16, &str)] = &[
            (200, "delivered"),
            (204, "delivered"),
            (299, "delivered"),
            (301, "permanent"),
            (400, "permanent"),
            (401, "permanent"),
            (404, "permanent"),
            (408, "transient"),
            (410, "permanent"),
            (422, "permanent"),
            (429, "transient"),
            (500, "transient"),
            (502, "transient"),
            (503, "transient"),
            (599, "transient"),
        ];
        for (status, expected) in cases {
            let got = match classify(&resp(*status, &[]), 0) {
                Verdict::Delivered => "delivered",
                Verdict::Transient { .. } => "transient",
                Verdict::Permanent { .. } => "permanent",
            };
            assert_eq!(got, *expected, "HTTP {status}");
        }
    }

    #[test]
    fn no_response_is_transient() {
        for e in [
            TransportError::Timeout { after_ms: 100 },
            TransportError::Network("connection refused".into()),
        ] {
            assert!(classify(&Err(e), 0).is_transient());
        }
    }

    #[test]
    fn retry_after_seconds_and_dates_are_honoured_and_clamped() {
        let v = classify(&resp(429, &[("Retry-After", "7")]), 0);
        assert_eq!(
            v,
            Verdict::Transient {
                error: "HTTP 429".into(),
                retry_after_ms: Some(7_000)
            }
        );
        let now = 1_445_412_470_000; // ten seconds before the date below
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(10_000)
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now + 60_000),
            Some(0)
        );
        assert_eq!(parse_retry_after("999999999", 0), Some(MAX_RETRY_AFTER_MS));
        assert_eq!(parse_retry_after("soon", 0), None);
    }
}
