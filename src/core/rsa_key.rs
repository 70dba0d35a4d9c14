//! An RSA private key in PEM form (a Google service account's `private_key`), read into the
//! PKCS#8 DER that WebCrypto's `importKey("pkcs8", …)` takes, and checked once, when a
//! destination is saved: the PEM's base64, the DER structure, the rsaEncryption algorithm and
//! the nine integers of the RSA key (RFC 8017 A.1.2), so that an unusable key is a 422 then
//! rather than a failed delivery later. Google's key files hold PKCS#8 (`BEGIN PRIVATE KEY`);
//! PKCS#1 (`BEGIN RSA PRIVATE KEY`, what `openssl genrsa` wrote before 3.0) is accepted too,
//! wrapped into PKCS#8 here. The DER is read and written by RustCrypto's `pkcs8` and `pkcs1`.

use base64::Engine;
use pkcs1::der::{Decode, Encode};
use pkcs8::PrivateKeyInfo;

const BROKEN: &str = "not an RSA private key: the key's DER structure is broken";

/// The key as PKCS#8 DER, or what is wrong with it.
pub fn private_key_der(pem: &str) -> Result<Vec<u8>, String> {
    let (label, der) = pem_body(pem)?;
    let pkcs8 = match label {
        "PRIVATE KEY" => der,
        "RSA PRIVATE KEY" => wrap_pkcs1(&der)?,
        "ENCRYPTED PRIVATE KEY" => {
            return Err(
                "an encrypted private key; give the unencrypted one (BEGIN PRIVATE KEY)".into(),
            )
        }
        other => {
            return Err(format!(
                "a PEM block labelled '{other}', not an RSA private key (BEGIN PRIVATE KEY)"
            ))
        }
    };
    check_pkcs8(&pkcs8)?;
    Ok(pkcs8)
}

/// The label and the decoded body of the first PEM block.
fn pem_body(pem: &str) -> Result<(&str, Vec<u8>), String> {
    const NOT_PEM: &str = "not a private key in PEM form (-----BEGIN PRIVATE KEY----- …)";
    let start = pem.find("-----BEGIN ").ok_or(NOT_PEM)?;
    let rest = &pem[start + "-----BEGIN ".len()..];
    let (label, rest) = rest.split_once("-----").ok_or(NOT_PEM)?;
    let end = format!("-----END {label}-----");
    let (body, _) = rest.split_once(end.as_str()).ok_or(NOT_PEM)?;
    // Key files escape the newlines as \n in JSON; a key pasted with literal "\n" is kept too.
    let body: String = body
        .replace("\\n", "\n")
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "the PEM block's body is not valid base64".to_string())?;
    Ok((label, der))
}

/// PrivateKeyInfo { version 0, rsaEncryption, OCTET STRING { the PKCS#1 key } } (RFC 5208).
fn wrap_pkcs1(pkcs1: &[u8]) -> Result<Vec<u8>, String> {
    PrivateKeyInfo::new(pkcs1::ALGORITHM_ID, pkcs1)
        .to_der()
        .map_err(|_| BROKEN.to_string())
}

/// A PrivateKeyInfo holding a two-prime RSA key, all of it DER (`pkcs8`, `pkcs1`).
fn check_pkcs8(der: &[u8]) -> Result<(), String> {
    let info = PrivateKeyInfo::from_der(der).map_err(|_| BROKEN)?;
    if info.algorithm.oid != pkcs1::ALGORITHM_OID {
        return Err(
            "not an RSA private key (its algorithm is not rsaEncryption); Pub/Sub needs RS256"
                .into(),
        );
    }
    let key = pkcs1::RsaPrivateKey::from_der(info.private_key).map_err(|_| BROKEN)?;
    if key.other_prime_infos.is_some() {
        return Err("a multi-prime RSA key, which WebCrypto cannot use".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS8: &str = include_str!("../providers/testdata/pubsub_test_key.pem");

    /// The test key's PKCS#1 form, as `openssl rsa -traditional` would write it.
    fn pkcs1_pem() -> String {
        let der = private_key_der(PKCS8).unwrap();
        let pkcs1 = PrivateKeyInfo::from_der(&der).unwrap().private_key;
        let body = base64::engine::general_purpose::STANDARD.encode(pkcs1);
        format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\n")
    }

    #[test]
    fn a_pkcs8_key_is_kept_as_it_is() {
        let der = private_key_der(PKCS8).unwrap();
        let (_, body) = pem_body(PKCS8).unwrap();
        assert_eq!(der, body);
    }

    #[test]
    fn a_pkcs1_key_is_wrapped_into_the_same_pkcs8() {
        assert_eq!(
            private_key_der(&pkcs1_pem()).unwrap(),
            private_key_der(PKCS8).unwrap()
        );
    }

    #[test]
    fn a_key_pasted_with_escaped_newlines_is_read() {
        let escaped = PKCS8.replace('\n', "\\n");
        assert_eq!(
            private_key_der(&escaped).unwrap(),
            private_key_der(PKCS8).unwrap()
        );
    }

    #[test]
    fn broken_keys_say_what_is_wrong() {
        let err = |pem: &str| private_key_der(pem).unwrap_err();
        assert!(err("hello").contains("PEM"));
        assert!(
            err("-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----").contains("base64")
        );
        assert!(
            err("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").contains("DER")
        );
        assert!(
            err("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .contains("CERTIFICATE")
        );
        // A key cut short: the DER lengths no longer add up.
        let (_, der) = pem_body(PKCS8).unwrap();
        let body = base64::engine::general_purpose::STANDARD.encode(&der[..der.len() - 10]);
        assert!(err(&format!(
            "-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"
        ))
        .contains("DER"));
        // An EC key (its algorithm is id-ecPublicKey).
        let mut ec = der.clone();
        ec[9 + 4] = 0xce;
        let body = base64::engine::general_purpose::STANDARD.encode(&ec);
        assert!(err(&format!(
            "-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"
        ))
        .contains("rsaEncryption"));
    }
}
