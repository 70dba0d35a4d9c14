//! Validation helpers shared by every input: field errors that name the offending field,
//! and checks for URLs, header names and values, and free text.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One problem with one field, e.g. `{"field": "config.url", "message": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Deserialises `value` into `T`, naming the field (`config.auth.token`) when it fails.
/// `prefix` is the path of `value` inside the request body ("" for the body itself).
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| field_error(&e, prefix))
}

/// Why a body could not be read into its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON at all (a 400).
    Malformed(String),
    /// JSON of the wrong shape (a 422 naming the field).
    Field(FieldError),
}

/// Deserialises a JSON body straight from its bytes, like `from_value`, so that fields typed
/// `Box<RawValue>` keep the text exactly as it was sent (key order, number spelling,
/// escapes): an event's `data` travels to its destinations as its publisher wrote it.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8], prefix: &str) -> Result<T, BodyError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        if e.inner().is_data() {
            BodyError::Field(field_error(&e, prefix))
        } else {
            BodyError::Malformed(e.inner().to_string())
        }
    })?;
    de.end().map_err(|e| BodyError::Malformed(e.to_string()))?;
    Ok(value)
}

fn field_error(e: &serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> FieldError {
    let inner = e.path().to_string();
    let mut message = e.inner().to_string();
    // A parse from bytes says where ("… at line 1 column 40"); the field name says it better.
    if e.inner().line() > 0 {
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
    }
    let mut field = join_path(prefix, if inner == "." { "" } else { &inner });
    if let Some(unknown) = unknown_field_name(&message) {
        // The path already ends with the unknown field; the message lists every known
        // one, which is noise in an API error.
        if !field.ends_with(&unknown) {
            field = join_path(&field, &unknown);
        }
        message = format!("unknown field '{unknown}'");
    } else if let Some(missing) = quoted_after(&message, "missing field `") {
        field = join_path(&field, &missing);
        message = "this field is required".into();
    }
    FieldError::new(
        if field.is_empty() {
            "body".into()
        } else {
            field
        },
        message,
    )
}

fn unknown_field_name(message: &str) -> Option<String> {
    quoted_after(message, "unknown field `")
}

/// The name serde quotes after `prefix` in its messages ("missing field `topic`").
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next().map(str::to_string)
}

pub fn join_path(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}.{field}"),
    }
}

/// Longest URL we store and send to.
pub const MAX_URL_LEN: usize = 2048;

/// Checks a destination URL: absolute http(s), a host, no credentials in it, and no private,
/// loopback or link-local address unless the deployment allows them (local development).
pub fn check_url(raw: &str, allow_private: bool) -> Result<url::Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("a URL is at most {MAX_URL_LEN} characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("not a valid absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the URL's scheme must be http or https".into());
    }
    let host = url.host().ok_or("the URL must name a host")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("put credentials in `auth`, not in the URL".into());
    }
    if !allow_private {
        let private = match host {
            url::Host::Domain(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                d == "localhost" || d.ends_with(".localhost") || d.ends_with(".local")
            }
            url::Host::Ipv4(ip) => is_private_v4(ip),
            url::Host::Ipv6(ip) => is_private_v6(ip),
        };
        if private {
            return Err("private, loopback and link-local addresses are not allowed".into());
        }
    }
    Ok(url)
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT
        || (a == 100 && (b & 0xc0) == 64)
        // 240.0.0.0/4, reserved
        || a >= 240
}

/// An IPv4 address carried inside an IPv6 one, in the forms a network may route to it:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, deprecated but still
/// parsed), NAT64 (`64:ff9b::a.b.c.d`) and 6to4 (`2002:AABB:CCDD::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(low()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low()),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_private_v4(v4);
    }
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
}

/// Whether an IP literal is private/loopback/link-local (exposed for tests of callers).
pub fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

/// An HTTP header name: RFC 9110 token characters.
pub fn check_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 256 {
        return Err("a header name is 1 to 256 characters".into());
    }
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !name.chars().all(tchar) {
        return Err(format!("'{name}' is not a valid header name"));
    }
    Ok(())
}

/// A header value (or anything that ends up in one): no CR, LF or other control characters,
/// which would let a value inject headers.
pub fn check_header_value(value: &str) -> Result<(), String> {
    if value.len() > 4096 {
        return Err("a header value is at most 4096 characters".into());
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err("a header value may not contain control characters (CR, LF, …)".into());
    }
    Ok(())
}

/// Free text such as names: bounded, no control characters.
pub fn check_text(value: &str, max: usize) -> Result<(), String> {
    if value.chars().count() > max {
        return Err(format!("at most {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("control characters are not allowed".into());
    }
    Ok(())
}

/// Metadata maps: at most 50 keys, header-safe keys and values (they may travel as headers).
pub fn check_metadata(
    field: &str,
    metadata: &std::collections::BTreeMap<String, String>,
) -> Vec<FieldError> {
    const MAX_KEYS: usize = 50;
    let mut errors = vec![];
    if metadata.len() > MAX_KEYS {
        errors.push(FieldError::new(field, format!("at most {MAX_KEYS} keys")));
    }
    for (k, v) in metadata {
        let path = join_path(field, k);
        if let Err(e) = check_header_name(k) {
            errors.push(FieldError::new(&path, e));
        } else if let Err(e) = check_header_value(v) {
            errors.push(FieldError::new(&path, e));
        }
    }
    errors
}

/// `order.items[0].sku` → `$.order.items[0].sku`: plain keys and indexes only, so that
/// SQLite's `json_extract` is never handed a malformed path.
pub fn sqlite_json_path(raw: &str) -> Result<String, String> {
    let bad =
        || "dot-separated keys of letters, digits and '_', each with optional [index]".to_string();
    if raw.is_empty() {
        return Err(bad());
    }
    for segment in raw.split('.') {
        let (key, mut rest) = segment
            .find('[')
            .map_or((segment, ""), |i| segment.split_at(i));
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad());
        }
        while !rest.is_empty() {
            let inner = rest.strip_prefix('[').ok_or_else(bad)?;
            let (index, after) = inner.split_once(']').ok_or_else(bad)?;
            if index.is_empty() || !index.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            rest = after;
        }
    }
    Ok(format!("$.{raw}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_paths() {
        assert_eq!(
            super::sqlite_json_path("order.items[0].sku").unwrap(),
            "$.order.items[0].sku"
        );
        assert_eq!(super::sqlite_json_path("a[1][2]").unwrap(), "$.a[1][2]");
        for bad in [
            "", "a..b", ".a", "a.", "a[", "a[x]", "a[1]b", "a-b", "a'b", "$.a", "a[]",
        ] {
            assert!(
                super::sqlite_json_path(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        token: String,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        auth: Inner,
        n: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let e = from_value::<Outer>(serde_json::json!({"auth": {"token": 5}, "n": 1}), "config")
            .unwrap_err();
        assert_eq!(e.field, "config.auth.token");
        let e = from_value::<Outer>(
            serde_json::json!({"auth": {"token": "t", "x": 1}, "n": 1}),
            "",
        )
        .unwrap_err();
        assert_eq!(e.field, "auth.x");
        assert_eq!(e.message, "unknown field 'x'");
        let e = from_value::<Outer>(serde_json::json!({"auth": {"token": "t"}}), "").unwrap_err();
        assert_eq!(e.field, "n");
        assert_eq!(e.message, "this field is required");
        let e = from_value::<Outer>(serde_json::json!({"auth": {}, "n": 1}), "config").unwrap_err();
        assert_eq!(e.field, "config.auth.token");
        let e = from_value::<Outer>(serde_json::json!("text"), "").unwrap_err();
        assert_eq!(e.field, "body");
    }

    #[test]
    fn urls() {
        assert!(check_url("https://example.com/hook?x=1", false).is_ok());
        // Public addresses, including IPv6 ones that embed a public IPv4 address.
        for public in [
            "http://93.184.215.14/",
            "http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/",
            "http://[64:ff9b::5db8:d70e]/",
            "http://[2002:5db8:d70e::1]/",
            "http://[::ffff:93.184.215.14]/",
        ] {
            assert!(check_url(public, false).is_ok(), "{public} is public");
        }
        for bad in [
            "ftp://example.com",
            "example.com/hook",
            "https://user:pw@example.com",
            "http://",
            "javascript:alert(1)",
        ] {
            assert!(check_url(bad, true).is_err(), "{bad} should be refused");
        }
        for private in [
            "http://127.0.0.1:8080",
            "http://localhost/x",
            "http://10.1.2.3",
            "http://192.168.1.1",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://100.64.0.1",
            // IPv4 inside IPv6: compatible, NAT64 and 6to4 forms of loopback and metadata.
            "http://[::127.0.0.1]/",
            "http://[::a9fe:a9fe]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[64:ff9b::169.254.169.254]/",
            "http://[2002:7f00:1::]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[fec0::1]/",
            // Multicast, reserved, and addresses spelled as numbers.
            "http://224.0.0.1",
            "http://[ff02::1]/",
            "http://240.0.0.1",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0/",
        ] {
            assert!(
                check_url(private, false).is_err(),
                "{private} should be refused"
            );
            assert!(
                check_url(private, true).is_ok(),
                "{private} allowed in development"
            );
        }
    }

    #[test]
    fn headers_refuse_injection() {
        assert!(check_header_name("X-Api-Key").is_ok());
        assert!(check_header_name("bad header").is_err());
        assert!(check_header_name("bad:header").is_err());
        assert!(check_header_value("ok value\twith tab").is_ok());
        assert!(check_header_value("evil\r\nx-injected: 1").is_err());
        assert!(check_header_value("nul\0").is_err());
    }
}
