//! Validation helpers shared by every input: field errors that name the offending field,
//! and checks for URLs, header names and values, and free text.

use super::json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::net::{Ipv4Addr, Ipv6Addr};

mod position;

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
    // As text, so that every input is read by one reader (`from_str`), and a failure is placed
    // by its position in the text.
    from_text(&value.to_string(), prefix).map_err(|e| match e {
        BodyError::Field(f) => f,
        BodyError::Malformed(why) => FieldError::new(or_body(prefix), why),
    })
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
    let text = std::str::from_utf8(bytes)
        .map_err(|e| BodyError::Malformed(format!("the body is not UTF-8: {e}")))?;
    from_text(text, prefix)
}

/// Reads `text` into `T`; a failure of shape names the field where the reader stopped.
fn from_text<T: DeserializeOwned>(text: &str, prefix: &str) -> Result<T, BodyError> {
    json::from_str(text).map_err(|e| {
        // The rest is the same whatever `T` is: one copy of it in the wasm, not one per type.
        why_not(text, e, prefix, &|again| json::from_str::<T>(again).err())
    })
}

/// What `error`, met reading `text`, says to the sender; `read` reads a text into the type
/// again (the error it meets, if any).
fn why_not(
    text: &str,
    error: serde_json::Error,
    prefix: &str,
    read: &dyn Fn(&str) -> Option<serde_json::Error>,
) -> BodyError {
    if !error.is_data() {
        return BodyError::Malformed(error.to_string());
    }
    // Text that is not JSON further on is a 400, whatever its start did not fit.
    if let Err(e) = json::from_str::<serde::de::IgnoredAny>(text) {
        return BodyError::Malformed(e.to_string());
    }
    let at = position::offset(text, error.line(), error.column());
    let path = if !text.is_char_boundary(at) {
        // Not where a reader stops (after a token); no field to name rather than a panic.
        String::new()
    } else if text[..at].ends_with(['}', ']']) {
        // The reader stopped just past a closing bracket: either the object (array) that
        // closed there failed as a whole (a missing field), or the last value in it failed
        // after it was read whole (an internally tagged enum, from the object it buffered)
        // and the reader closed the container on its way out. A mark put before that bracket
        // tells them apart: read again, the first case now meets the mark (no longer a
        // failure of shape), the second fails as before and stops at the mark, inside.
        let marked = format!("{}#{}", &text[..at - 1], &text[at - 1..]);
        match read(&marked) {
            Some(again) if again.is_data() => {
                let inside = position::offset(&marked, again.line(), again.column());
                position::path_at(&marked, inside)
            }
            _ => position::path_at(text, at),
        }
    } else {
        position::path_at(text, at)
    };
    BodyError::Field(field_error(&error, &path, prefix))
}

fn or_body(field: &str) -> String {
    if field.is_empty() {
        "body".into()
    } else {
        field.into()
    }
}

fn field_error(e: &serde_json::Error, inner: &str, prefix: &str) -> FieldError {
    let mut message = e.to_string();
    // The reader says where ("… at line 1 column 40"); the field name says it better.
    if e.line() > 0 {
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
    }
    let mut field = join_path(prefix, inner);
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
    FieldError::new(or_body(&field), message)
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
        _ if field.starts_with('[') => format!("{prefix}{field}"),
        _ => format!("{prefix}.{field}"),
    }
}

/// Longest URL we store and send to.
const MAX_URL_LEN: usize = 2048;

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

/// A base URL that paths are appended to: `check_url`'s rules, and no query or fragment
/// (`otherwise` is the error then, saying what the field should hold).
pub fn check_base_url(raw: &str, allow_private: bool, otherwise: &str) -> Result<url::Url, String> {
    let url = check_url(raw, allow_private)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(otherwise.to_string());
    }
    Ok(url)
}

/// An IPv4 address in `net/len`.
fn in_v4(ip: Ipv4Addr, net: [u8; 4], len: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// IPv4 ranges of the IANA IPv4 Special-Purpose Address Registry (RFC 6890 and later) that a
/// webhook has no business reaching: every entry except the few that are globally reachable
/// services (the `192.0.0.9`/`.10` anycast and the AS112 ones are refused too: no receiver
/// lives there). Multicast (224/4) and the limited broadcast are in the 224/3 entry.
const SPECIAL_V4: &[([u8; 4], u32)] = &[
    ([0, 0, 0, 0], 8),       // "this network" (RFC 791)
    ([10, 0, 0, 0], 8),      // private (RFC 1918)
    ([100, 64, 0, 0], 10),   // shared address space, carrier-grade NAT (RFC 6598)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local, cloud metadata services
    ([172, 16, 0, 0], 12),   // private (RFC 1918)
    ([192, 0, 0, 0], 24),    // IETF protocol assignments (RFC 6890)
    ([192, 0, 2, 0], 24),    // documentation TEST-NET-1 (RFC 5737)
    ([192, 31, 196, 0], 24), // AS112-v4 (RFC 7535)
    ([192, 52, 193, 0], 24), // AMT (RFC 7450)
    ([192, 88, 99, 0], 24),  // deprecated 6to4 relay anycast (RFC 7526)
    ([192, 168, 0, 0], 16),  // private (RFC 1918)
    ([192, 175, 48, 0], 24), // direct delegation AS112 (RFC 7534)
    ([198, 18, 0, 0], 15),   // benchmarking (RFC 2544)
    ([198, 51, 100, 0], 24), // documentation TEST-NET-2 (RFC 5737)
    ([203, 0, 113, 0], 24),  // documentation TEST-NET-3 (RFC 5737)
    ([224, 0, 0, 0], 3),     // multicast 224/4, reserved 240/4, broadcast
];

fn is_private_v4(ip: Ipv4Addr) -> bool {
    SPECIAL_V4.iter().any(|(net, len)| in_v4(ip, *net, *len))
}

/// An IPv6 address in `net/len`.
fn in_v6(ip: Ipv6Addr, net: [u16; 8], len: u32) -> bool {
    let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
    u128::from(ip) & mask == u128::from(Ipv6Addr::from(net)) & mask
}

/// IPv6 ranges of the IANA IPv6 Special-Purpose Address Registry (and the other
/// non-global blocks) that are refused outright, whatever they might embed.
const SPECIAL_V6: &[([u16; 8], u32)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128),             // unspecified
    ([0, 0, 0, 0, 0, 0, 0, 1], 128),             // loopback
    ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),      // local-use NAT64 (RFC 8215)
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64),          // discard-only (RFC 6666)
    ([0x100, 0, 0, 1, 0, 0, 0, 0], 64),          // dummy IPv6 prefix (RFC 9780)
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments, Teredo, ORCHID, benchmarking
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation (RFC 3849)
    ([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48), // direct delegation AS112 (RFC 7534)
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation (RFC 9637)
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), // segment routing SIDs (RFC 9602)
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),  // unique local
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link-local
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), // site-local (deprecated, still routed by some)
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),  // multicast
];

/// An IPv4 address carried inside an IPv6 one, in the forms a network may route to it:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`, RFC 2765),
/// IPv4-compatible (`::a.b.c.d`, deprecated but still parsed), NAT64 (`64:ff9b::a.b.c.d`)
/// and 6to4 (`2002:AABB:CCDD::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(low()),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low()),
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
    if SPECIAL_V6.iter().any(|(net, len)| in_v6(ip, *net, *len)) {
        return true;
    }
    // The rest of the IPv4-embedding prefixes (`::/96` compatible, `::ffff:0:0/96` mapped,
    // `::ffff:0:0:0/96` translated, `64:ff9b::/96`, `2002::/16`) follow their IPv4 address.
    embedded_v4(ip).is_some_and(is_private_v4)
        // The rest of the deprecated IPv4-compatible `::/96` (`::1.2.3.4` has its IPv4 above;
        // `::0.0.x.y` would be "this network").
        || (u128::from(ip) >> 32 == 0)
}

/// The config fields that say where requests (and so credentials) go, at any depth.
const ENDPOINT_KEYS: [&str; 4] = ["url", "endpoint", "queue_url", "token_uri"];

/// Every endpoint field of a config (`ENDPOINT_KEYS`, at any depth) with its text, as
/// `(dotted path, value)`.
pub fn endpoint_fields(config: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(v: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
        if let serde_json::Value::Object(map) = v {
            for (key, value) in map {
                let here = join_path(path, key);
                match value {
                    serde_json::Value::String(s) if ENDPOINT_KEYS.contains(&key.as_str()) => {
                        out.push((here, s.clone()))
                    }
                    serde_json::Value::Object(_) => walk(value, &here, out),
                    _ => {}
                }
            }
        }
    }
    let mut out = vec![];
    walk(config, "", &mut out);
    out
}

/// With `REQUIRE_HTTPS` on, every endpoint of a config must be `https`: credentials, signed
/// payloads and the events themselves never cross the network in clear text. Fields are named
/// `config.…`; a URL that does not parse is left to the type's own check.
pub fn check_https(config: &serde_json::Value) -> Vec<FieldError> {
    endpoint_fields(config)
        .into_iter()
        .filter(|(_, raw)| url::Url::parse(raw).is_ok_and(|u| u.scheme() == "http"))
        .map(|(path, _)| {
            FieldError::new(
                join_path("config", &path),
                "the URL must use https (REQUIRE_HTTPS is on)",
            )
        })
        .collect()
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
mod tests;
