//! JSON Web Tokens through `jsonwebtoken` with a crypto provider of Sluice's own: HS256, for
//! tenant tokens. The crate's bundled provider carries every algorithm it knows (P-256,
//! P-384, Ed25519, RSA-PSS) into the Worker's wasm, about 200 KB of code Sluice never runs.
//! Google's RS256 assertions are signed by the runtime (WebCrypto, `Transport::sign_rs256`);
//! the tests sign and verify them here, with the `rsa` crate (a dev-dependency only).

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::Validation;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, TokenData};
#[cfg(test)]
pub use rsa_test::sign_rs256;
#[cfg(test)]
use rsa_test::Rs256Verifier;
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

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    match algorithm {
        Algorithm::HS256 => Ok(Box::new(Hs256(key.try_get_hmac_secret()?.to_vec()))),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    match algorithm {
        Algorithm::HS256 => Ok(Box::new(Hs256(key.try_get_hmac_secret()?.to_vec()))),
        #[cfg(test)]
        Algorithm::RS256 => {
            use jsonwebtoken::DecodingKeyKind;
            use rsa::pkcs1::DecodeRsaPublicKey;
            use rsa::pkcs1v15::VerifyingKey;
            use rsa::{BigUint, RsaPublicKey};
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

/// RS256 for the tests: signing as the Worker's WebCrypto does, and verifying.
#[cfg(test)]
mod rsa_test {
    use jsonwebtoken::crypto::JwtVerifier;
    use jsonwebtoken::signature::{self, Verifier};
    use jsonwebtoken::Algorithm;
    use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::RsaPrivateKey;
    use sha2::Sha256;

    /// RSASSA-PKCS1-v1_5 with SHA-256 under a PKCS#8 DER key.
    pub fn sign_rs256(pkcs8_der: &[u8], message: &[u8]) -> Result<Vec<u8>, String> {
        let key = RsaPrivateKey::from_pkcs8_der(pkcs8_der).map_err(|e| e.to_string())?;
        let signature = SigningKey::<Sha256>::new(key)
            .try_sign(message)
            .map_err(|e| e.to_string())?;
        Ok(signature.to_vec())
    }

    pub struct Rs256Verifier(pub VerifyingKey<Sha256>);

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
