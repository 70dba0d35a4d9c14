//! The HTTP shapes that providers build and the scheduler sends: plain data, no runtime types.

/// A request a provider wants sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A credential exchange a provider wants sent first (an OAuth token request). With
/// `assertion`, the body is not finished: it ends where an RS256 JWT goes, which the runtime
/// signs with its own crypto (WebCrypto in the Worker, `Transport::sign_rs256`) and the
/// engine appends, as `signing_input.signature` (all base64url, so no form encoding is due).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRequest {
    pub request: HttpRequest,
    pub assertion: Option<UnsignedJwt>,
}

/// A JWT to sign with RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsignedJwt {
    /// The private key, PKCS#8 DER (checked by `core::rsa_key` when the destination was saved).
    pub pkcs8_der: Vec<u8>,
    /// base64url(header) "." base64url(claims).
    pub signing_input: String,
}

impl CredentialRequest {
    /// The request to send, given the signature of `assertion` (ignored without one).
    pub fn complete(self, signature: &[u8]) -> HttpRequest {
        use base64::Engine;
        let mut request = self.request;
        if let Some(jwt) = self.assertion {
            let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature);
            request.body.extend_from_slice(jwt.signing_input.as_bytes());
            request.body.push(b'.');
            request.body.extend_from_slice(signature.as_bytes());
        }
        request
    }
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

/// What a provider wants sent. Most destinations speak HTTP; two sends never touch the
/// network and say so: a broadcast to the WebSocket clients connected to the destination's
/// Durable Object, and an email through the Worker's `send_email` binding. The transport
/// matches on the kind. Every kind is answered as a `TransportResult`, so that the verdicts,
/// the breaker and the attempt records treat all destinations alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    Http(HttpRequest),
    /// One message per event, sent to every connected client, in order.
    Broadcast(Vec<BroadcastMessage>),
    Email(EmailMessage),
}

/// One event for the WebSocket clients: its id (what a client acknowledges) and the JSON
/// text the clients receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastMessage {
    pub event_id: String,
    pub text: String,
}

/// A plain-text email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
}

impl Outbound {
    /// The headers sent, for the attempt record: none when the send is not HTTP.
    pub fn headers(&self) -> &[(String, String)] {
        match self {
            Outbound::Http(request) => &request.headers,
            Outbound::Broadcast(_) | Outbound::Email(_) => &[],
        }
    }

    /// The HTTP request, in tests of providers that only speak HTTP.
    #[cfg(test)]
    pub fn expect_http(self) -> HttpRequest {
        match self {
            Outbound::Http(request) => request,
            other => panic!("expected an HTTP request, got {other:?}"),
        }
    }
}

/// What came back. The body is whole up to `MAX_RESPONSE_BYTES` (read no further): batch APIs answer per
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

/// Connections one invocation of a Worker or a Durable Object keeps open at once in
/// production; more requests wait for one to close. Local workerd does not enforce it, so
/// Sluice keeps to it itself.
pub const MAX_CONNECTIONS: usize = 6;

/// The most of a response body read for interpretation: a 10-entry batch answer is a few
/// KiB; anything far beyond this is not an answer we need.
pub const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// What `read_capped` read: at most the cap, and whether the stream had more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped {
    pub bytes: Vec<u8>,
    /// The stream went on past the cap; the rest was never read.
    pub more: bool,
}

/// Reads a body stream up to `cap` bytes and stops there: a peer that streams hundreds of
/// MB costs at most `cap` bytes of the isolate's 128 MB, which every destination's scheduler
/// and every request of the isolate share. The stream is dropped on return, which cancels
/// the rest of it (the Workers `ReadableStream` behind it cancels on drop).
pub async fn read_capped<S, E>(stream: S, cap: usize) -> Result<Capped, E>
where
    S: futures::Stream<Item = Result<Vec<u8>, E>>,
{
    use futures::StreamExt;
    let mut stream = std::pin::pin!(stream);
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let room = cap - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(Capped { bytes, more: true });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Capped { bytes, more: false })
}

/// We keep the first 1 KiB of a response body for inspection; more is noise and cost.
const RESPONSE_SNIPPET_BYTES: usize = 1024;

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

    use futures::executor::block_on;
    use futures::stream::{self, StreamExt};

    fn chunks(sizes: &[usize]) -> Vec<Result<Vec<u8>, String>> {
        sizes.iter().map(|n| Ok(vec![b'x'; *n])).collect()
    }

    #[test]
    fn read_capped_stops_at_the_cap_without_reading_on() {
        // A stream that would go on forever (and fail the test if read) past the first
        // chunks: what a receiver streaming hundreds of MB looks like.
        let endless = || {
            stream::iter(chunks(&[400, 400, 400])).chain(stream::repeat_with(
                || -> Result<Vec<u8>, String> { panic!("read past the cap") },
            ))
        };
        let c = block_on(read_capped(endless(), 1000)).unwrap();
        assert_eq!((c.bytes.len(), c.more), (1000, true));
        let c = block_on(read_capped(endless(), 800)).unwrap();
        assert_eq!((c.bytes.len(), c.more), (800, true));
    }

    #[test]
    fn read_capped_reads_a_short_body_whole() {
        let c = block_on(read_capped(stream::iter(chunks(&[3, 4])), 7)).unwrap();
        assert_eq!(
            c,
            Capped {
                bytes: vec![b'x'; 7],
                more: false
            }
        );
        let c = block_on(read_capped(stream::iter(chunks(&[])), 7)).unwrap();
        assert_eq!(
            c,
            Capped {
                bytes: vec![],
                more: false
            }
        );
        let c = block_on(read_capped(stream::iter(chunks(&[3, 5])), 7)).unwrap();
        assert_eq!((c.bytes.len(), c.more), (7, true));
        let failing = stream::iter(vec![Ok(vec![1u8]), Err("reset".to_string())]);
        assert_eq!(block_on(read_capped(failing, 7)), Err("reset".to_string()));
    }

    #[test]
    fn snippet_cuts_on_char_boundary() {
        let s = "é".repeat(600); // 1200 bytes
        let cut = snippet(&s);
        assert!(cut.len() <= RESPONSE_SNIPPET_BYTES);
        assert_eq!(cut.len(), 1024);
        assert_eq!(snippet("short"), "short");
    }
}
