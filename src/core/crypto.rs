//! Encryption at rest for destination credentials: AES-256-GCM with a key from a Worker
//! secret. The nonce is passed in (random, 96 bits), so this stays pure and testable.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// Versioned so that a future key rotation or algorithm change can tell old blobs apart.
const PREFIX: &str = "v1:";
pub const NONCE_BYTES: usize = 12;
const KEY_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CryptoError {
    BadKey,
    Corrupt,
}

impl std::fmt::Display for CryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CryptoError::BadKey => f.write_str("ENCRYPTION_KEY must be base64 of 32 bytes"),
            CryptoError::Corrupt => {
                f.write_str("encrypted value is corrupt or was sealed with another key")
            }
        }
    }
}

/// The sealing key, parsed from the `ENCRYPTION_KEY` secret (base64 of 32 bytes).
#[derive(Clone)]
pub struct SealKey(Aes256Gcm);

impl SealKey {
    pub fn from_base64(raw: &str) -> Result<Self, CryptoError> {
        let bytes = B64.decode(raw.trim()).map_err(|_| CryptoError::BadKey)?;
        if bytes.len() != KEY_BYTES {
            return Err(CryptoError::BadKey);
        }
        Aes256Gcm::new_from_slice(&bytes)
            .map(SealKey)
            .map_err(|_| CryptoError::BadKey)
    }

    /// `v1:` + base64(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plaintext: &[u8], nonce: [u8; NONCE_BYTES]) -> String {
        let ct = self
            .0
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        format!("{PREFIX}{}", B64.encode(out))
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let raw = sealed.strip_prefix(PREFIX).ok_or(CryptoError::Corrupt)?;
        let bytes = B64.decode(raw).map_err(|_| CryptoError::Corrupt)?;
        if bytes.len() < NONCE_BYTES {
            return Err(CryptoError::Corrupt);
        }
        let (nonce, ct) = bytes.split_at(NONCE_BYTES);
        self.0
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| CryptoError::Corrupt)
    }
}

/// Compares a presented secret (an API key) with the expected one in constant time. Digests
/// are compared, so neither the content nor the length leaks through timing. An empty
/// expected secret matches nothing.
pub fn secrets_equal(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    !expected.is_empty()
        && Sha256::digest(given.as_bytes())
            .ct_eq(&Sha256::digest(expected.as_bytes()))
            .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_exactly() {
        assert!(secrets_equal(
            "sluice-dev-admin-key",
            "sluice-dev-admin-key"
        ));
        assert!(!secrets_equal(
            "sluice-dev-admin-kez",
            "sluice-dev-admin-key"
        ));
        assert!(!secrets_equal(
            "sluice-dev-admin-key-and-more",
            "sluice-dev-admin-key"
        ));
        assert!(!secrets_equal("", ""), "an unset key opens nothing");
    }

    fn key(byte: u8) -> SealKey {
        SealKey::from_base64(&B64.encode([byte; 32])).unwrap()
    }

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let k = key(1);
        let sealed = k.seal(b"token-123", [9; NONCE_BYTES]);
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("token-123"));
        assert_eq!(k.open(&sealed).unwrap(), b"token-123");
    }

    #[test]
    fn wrong_key_or_tampering_is_detected() {
        let sealed = key(1).seal(b"secret", [3; NONCE_BYTES]);
        assert_eq!(key(2).open(&sealed), Err(CryptoError::Corrupt));
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            key(1).open(std::str::from_utf8(&tampered).unwrap()),
            Err(CryptoError::Corrupt)
        );
        assert_eq!(key(1).open("plain"), Err(CryptoError::Corrupt));
    }

    #[test]
    fn key_must_be_32_bytes_of_base64() {
        assert!(SealKey::from_base64("c2hvcnQ=").is_err());
        assert!(SealKey::from_base64("not base64!").is_err());
    }
}
