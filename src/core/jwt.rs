//! JSON Web Tokens with the two algorithms Sluice uses, HS256 (tenant tokens) and RS256
//! (Google service-account assertions), through `jsonwebtoken` with a crypto provider of its
//! own. The crate's bundled provider carries every algorithm it knows (P-256, P-384,
//! Ed25519, RSA-PSS) into the Worker's wasm, about 200 KB of code Sluice never runs; this one
//! is the same RustCrypto primitives for the two it does.

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::Validation;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey, Header, TokenData};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::SignatureEncoding;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

struct Hs256(Vec<u8>);

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut mac = HmacSha256::new_from_slice(&self.0).map_err(signature::Error::from_source)?;
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let mut mac = HmacSha256::new_from_slice(&self.0).map_err(signature::Error::from_source)?;
        mac.update(msg);
        // In constant time.
        mac.verify_slice(signature)
            .map_err(signature::Error::from_source)
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

struct Rs256(SigningKey<Sha256>);

impl Signer<Vec<u8>> for Rs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.0.try_sign(msg)?.to_vec())
    }
}

impl JwtSigner for Rs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

struct Rs256Verifier(VerifyingKey<Sha256>);

impl Verifier<Vec<u8>> for Rs256Verifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let signature = Signature::try_from(signature.as_slice())?;
        self.0.verify(msg, &signature)
    }
}

impl JwtVerifier for Rs256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    match algorithm {
        Algorithm::HS256 => Ok(Box::new(Hs256(key.try_get_hmac_secret()?.to_vec()))),
        Algorithm::RS256 => {
            let private = RsaPrivateKey::from_pkcs1_der(key.inner())
                .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
            Ok(Box::new(Rs256(SigningKey::new(private))))
        }
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    match algorithm {
        Algorithm::HS256 => Ok(Box::new(Hs256(key.try_get_hmac_secret()?.to_vec()))),
        Algorithm::RS256 => {
            let public = match key.kind() {
                DecodingKeyKind::SecretOrDer(der) => RsaPublicKey::from_pkcs1_der(der)
                    .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?,
                DecodingKeyKind::RsaModulusExponent { n, e } => {
                    RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
                        .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?
                }
            };
            Ok(Box::new(Rs256Verifier(VerifyingKey::new(public))))
        }
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes this provider the process's (once; later calls find it there).
fn install() {
    let _ = PROVIDER.install_default();
}

/// `jsonwebtoken::encode` with this provider.
pub fn encode<T: Serialize>(
    header: &Header,
    claims: &T,
    key: &EncodingKey,
) -> Result<String, Error> {
    install();
    jsonwebtoken::encode(header, claims, key)
}

/// `jsonwebtoken::decode` with this provider.
pub fn decode<T: DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
) -> Result<TokenData<T>, Error> {
    install();
    jsonwebtoken::decode(token, key, validation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn hs256_round_trips_and_refuses_another_key_or_algorithm() {
        let claims = json!({ "sub": "acme", "exp": 4_000_000_000u64 });
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"k1"),
        )
        .unwrap();
        let v = Validation::new(Algorithm::HS256);
        let back: TokenData<Value> = decode(&token, &DecodingKey::from_secret(b"k1"), &v).unwrap();
        assert_eq!(back.claims, claims);
        assert!(decode::<Value>(&token, &DecodingKey::from_secret(b"k2"), &v).is_err());
        // An algorithm this provider does not carry is an error, never a panic.
        let es = encode(
            &Header::new(Algorithm::ES256),
            &claims,
            &EncodingKey::from_secret(b"k1"),
        );
        assert!(es.is_err());
    }
}
