//! Webhook signatures: the Standard Webhooks scheme by default, a custom HMAC header as an option.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::Sha256;

/// Standard Webhooks secrets are `whsec_` + base64 of the key bytes.
const SECRET_PREFIX: &str = "whsec_";
/// 24 random bytes: the size the Standard Webhooks libraries generate.
pub const GENERATED_SECRET_BYTES: usize = 24;
/// The spec asks for keys between 24 and 64 bytes.
const MIN_KEY_BYTES: usize = 24;
const MAX_KEY_BYTES: usize = 64;

/// A new `whsec_…` secret from the given random bytes.
pub fn secret_from_bytes(bytes: &[u8; GENERATED_SECRET_BYTES]) -> String {
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

/// The key bytes of a `whsec_…` secret, or why it is not one.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or_else(|| format!("a signing secret starts with '{SECRET_PREFIX}'"))?;
    let key = B64
        .decode(encoded)
        .map_err(|_| "a signing secret is 'whsec_' followed by base64".to_string())?;
    if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
        return Err(format!(
            "a signing secret's key is {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes"
        ));
    }
    Ok(key)
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// One `v1,<base64>` signature over `msg_id.timestamp.body` (Standard Webhooks).
fn standard_signature(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", B64.encode(mac))
}

/// The `webhook-signature` header: one signature per active key, space-separated, so that
/// consumers keep verifying during a secret rotation.
pub fn standard_signature_header(
    keys: &[Vec<u8>],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    keys.iter()
        .map(|k| standard_signature(k, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub enum HmacAlgorithm {
    #[default]
    Sha256,
    Sha1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

/// A custom HMAC signature: over `timestamp.body` when a timestamp is sent, else over the body;
/// keyed with the secret string's bytes (as most hand-rolled receivers expect).
pub fn custom_signature(
    secret: &str,
    algorithm: HmacAlgorithm,
    encoding: SignatureEncoding,
    timestamp: Option<i64>,
    body: &[u8],
) -> String {
    let ts = timestamp.map(|t| t.to_string());
    let mut parts: Vec<&[u8]> = Vec::with_capacity(3);
    if let Some(ts) = &ts {
        parts.push(ts.as_bytes());
        parts.push(b".");
    }
    parts.push(body);
    let mac = match algorithm {
        HmacAlgorithm::Sha256 => hmac_sha256(secret.as_bytes(), &parts),
        HmacAlgorithm::Sha1 => hmac_sha1(secret.as_bytes(), &parts),
    };
    match encoding {
        SignatureEncoding::Hex => hex(&mac),
        SignatureEncoding::Base64 => B64.encode(mac),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in the Standard Webhooks specification (and its reference libraries' tests).
    #[test]
    fn matches_the_standard_webhooks_published_example() {
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = standard_signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn header_carries_one_signature_per_key() {
        let a = vec![1u8; 24];
        let b = vec![2u8; 24];
        let h = standard_signature_header(&[a.clone(), b.clone()], "m", 1, b"{}");
        let parts: Vec<_> = h.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], standard_signature(&a, "m", 1, b"{}"));
        assert_eq!(parts[1], standard_signature(&b, "m", 1, b"{}"));
    }

    #[test]
    fn generated_secrets_parse_back() {
        let s = secret_from_bytes(&[7u8; GENERATED_SECRET_BYTES]);
        assert!(s.starts_with("whsec_"));
        assert_eq!(secret_key(&s).unwrap(), vec![7u8; 24]);
    }

    #[test]
    fn malformed_secrets_are_refused() {
        assert!(secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(secret_key("whsec_!!!").is_err());
        assert!(
            secret_key("whsec_c2hvcnQ=").is_err(),
            "5 bytes is too short"
        );
    }

    /// Values computed independently: `printf '1614265330.{"a":1}' | openssl dgst -sha256 -hmac secret`
    /// and `printf '{"a":1}' | openssl dgst -sha1 -hmac secret -binary | base64`.
    #[test]
    fn custom_hmac_matches_openssl() {
        let body = br#"{"a":1}"#;
        assert_eq!(
            custom_signature(
                "secret",
                HmacAlgorithm::Sha256,
                SignatureEncoding::Hex,
                Some(1_614_265_330),
                body
            ),
            "4bb160dc7ea56e3e4aec227afb24fe04ae1870355134295a3ce43e77a6ef4f6e"
        );
        assert_eq!(
            custom_signature(
                "secret",
                HmacAlgorithm::Sha1,
                SignatureEncoding::Base64,
                None,
                body
            ),
            "+ERmcvAz5LK+r8XKOnHq/NLK+24="
        );
    }
}
