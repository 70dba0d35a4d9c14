//! Timestamps: milliseconds since the Unix epoch inside, RFC 3339 at the API edge.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// RFC 3339 with milliseconds, e.g. `2026-11-23T10:00:00.123Z`.
pub fn to_rfc3339(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an HTTP-date (`Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`) into epoch millis.
pub fn parse_http_date(raw: &str) -> Option<Millis> {
    DateTime::parse_from_rfc2822(raw.trim())
        .ok()
        .map(|d| d.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis() {
        assert_eq!(to_rfc3339(1_614_265_330_123), "2021-02-25T15:02:10.123Z");
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(
            parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(1_445_412_480_000)
        );
        assert_eq!(parse_http_date("soon"), None);
    }
}
