//! Timestamps: milliseconds since the Unix epoch inside, RFC 3339 at the API edge.

use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The UTC time of `ms`; the epoch for one out of range (beyond year ±9999).
fn utc(ms: Millis) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The epoch millis of `t` (rounded down, before the epoch too).
fn millis(t: OffsetDateTime) -> Option<Millis> {
    Millis::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// RFC 3339 with milliseconds, e.g. `2026-11-23T10:00:00.123Z`.
pub fn to_rfc3339(ms: Millis) -> String {
    let t = utc(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The UTC calendar date and hour of `ms`: (year, month, day, hour).
pub fn utc_date_hour(ms: Millis) -> (i32, u8, u8, u8) {
    let t = utc(ms);
    (t.year(), u8::from(t.month()), t.day(), t.hour())
}

/// Parses an RFC 3339 time with any offset (`2026-11-23T10:00:00Z`,
/// `2026-11-23T12:00:00.5+02:00`) into epoch millis.
pub fn parse_rfc3339(raw: &str) -> Option<Millis> {
    millis(OffsetDateTime::parse(raw, &Rfc3339).ok()?)
}

/// Parses an HTTP-date (`Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`) into epoch millis.
pub fn parse_http_date(raw: &str) -> Option<Millis> {
    millis(OffsetDateTime::parse(raw.trim(), &Rfc2822).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_millis() {
        assert_eq!(to_rfc3339(1_614_265_330_123), "2021-02-25T15:02:10.123Z");
        assert_eq!(to_rfc3339(1_614_265_330_000), "2021-02-25T15:02:10.000Z");
        assert_eq!(to_rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(to_rfc3339(i64::MAX), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_date_hour(1_614_265_330_123), (2021, 2, 25, 15));
    }

    #[test]
    fn parses_rfc3339_with_any_offset() {
        assert_eq!(
            parse_rfc3339("2021-02-25T15:02:10.123Z"),
            Some(1_614_265_330_123)
        );
        assert_eq!(
            parse_rfc3339("2021-02-25T17:02:10.123+02:00"),
            Some(1_614_265_330_123)
        );
        assert_eq!(
            parse_rfc3339("2021-02-25t15:02:10z"),
            Some(1_614_265_330_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.9995Z"), Some(-1));
        for bad in [
            "2021-02-25",
            "2021-02-25T15:02:10",
            "yesterday",
            "2021-13-01T00:00:00Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(
            parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(1_445_412_480_000)
        );
        assert_eq!(
            parse_http_date(" Wed, 21 Oct 2015 09:28:00 +0200 "),
            Some(1_445_412_480_000)
        );
        assert_eq!(parse_http_date("soon"), None);
    }
}
