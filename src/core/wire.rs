//! The HTTP shapes that providers build and the scheduler sends: plain data, no runtime types.

/// A request a provider wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// A header's value by case-insensitive name.
fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// What came back. The body is whole (up to `MAX_RESPONSE_BYTES`): batch APIs answer per
/// entry in it; only the attempt record keeps a `snippet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// Why no response came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The destination's `timeout_ms` passed; the request was aborted.
    Timeout { after_ms: u64 },
    /// Connection refused, DNS failure, TLS error, reset…
    Network(String),
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransportError::Timeout { after_ms } => write!(f, "timed out after {after_ms} ms"),
            TransportError::Network(e) => write!(f, "network error: {e}"),
        }
    }
}

pub type TransportResult = Result<HttpResponse, TransportError>;

/// The most of a response body read for interpretation: a 10-entry batch answer is a few
/// KiB; anything far beyond this is not an answer we need.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// We keep the first 1 KiB of a response body for inspection; more is noise and cost.
pub const RESPONSE_SNIPPET_BYTES: usize = 1024;

/// Cuts a body to at most `RESPONSE_SNIPPET_BYTES`, on a character boundary.
pub fn snippet(body: &str) -> String {
    if body.len() <= RESPONSE_SNIPPET_BYTES {
        return body.to_string();
    }
    let mut end = RESPONSE_SNIPPET_BYTES;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_cuts_on_char_boundary() {
        let s = "é".repeat(600); // 1200 bytes
        let cut = snippet(&s);
        assert!(cut.len() <= RESPONSE_SNIPPET_BYTES);
        assert_eq!(cut.len(), 1024);
        assert_eq!(snippet("short"), "short");
    }
}
