//! An RSA private key in PEM form (a Google service account's `private_key`), read into the
//! PKCS#8 DER that WebCrypto's `importKey("pkcs8", …)` takes, and checked once, when a
//! destination is saved: the PEM's base64, the DER structure, the rsaEncryption algorithm and
//! the nine integers of the RSA key (RFC 8017 A.1.2), so that an unusable key is a 422 then
//! rather than a failed delivery later. Google's key files hold PKCS#8 (`BEGIN PRIVATE KEY`);
//! PKCS#1 (`BEGIN RSA PRIVATE KEY`, what `openssl genrsa` wrote before 3.0) is accepted too,
//! wrapped into PKCS#8 here.

use base64::Engine;

/// AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL } (RFC 8017 A.1).
const RSA_ENCRYPTION: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;

/// The key as PKCS#8 DER, or what is wrong with it.
pub fn private_key_der(pem: &str) -> Result<Vec<u8>, String> {
    let (label, der) = pem_body(pem)?;
    let pkcs8 = match label {
        "PRIVATE KEY" => der,
        "RSA PRIVATE KEY" => wrap_pkcs1(&der),
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
fn wrap_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    let mut octets = vec![OCTET_STRING];
    push_len(&mut octets, pkcs1.len());
    octets.extend_from_slice(pkcs1);
    let content_len = 3 + RSA_ENCRYPTION.len() + octets.len();
    let mut out = vec![SEQUENCE];
    push_len(&mut out, content_len);
    out.extend_from_slice(&[INTEGER, 0x01, 0x00]);
    out.extend_from_slice(&RSA_ENCRYPTION);
    out.extend_from_slice(&octets);
    out
}

/// A DER length: short form below 128, else the count of big-endian bytes, then the bytes.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = len.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

fn check_pkcs8(der: &[u8]) -> Result<(), String> {
    const BAD: &str = "not an RSA private key: the key's DER structure is broken";
    let (info, rest) = tlv(der, SEQUENCE).ok_or(BAD)?;
    if !rest.is_empty() {
        return Err(BAD.into());
    }
    let (version, info) = tlv(info, INTEGER).ok_or(BAD)?;
    if version != [0] {
        return Err(BAD.into());
    }
    let info = info.strip_prefix(&RSA_ENCRYPTION[..]).ok_or(
        "not an RSA private key (its algorithm is not rsaEncryption); Pub/Sub needs RS256",
    )?;
    let (pkcs1, _attributes) = tlv(info, OCTET_STRING).ok_or(BAD)?;
    let (key, rest) = tlv(pkcs1, SEQUENCE).ok_or(BAD)?;
    if !rest.is_empty() {
        return Err(BAD.into());
    }
    // version, n, e, d, p, q, d mod (p-1), d mod (q-1), q^-1 mod p: all positive but version.
    let mut fields = key;
    for i in 0..9 {
        let (n, rest) = tlv(fields, INTEGER).ok_or(BAD)?;
        let zero = n.iter().all(|b| *b == 0);
        if (i == 0 && n != [0]) || (i > 0 && (zero || n[0] & 0x80 != 0)) {
            return Err(BAD.into());
        }
        fields = rest;
    }
    if !fields.is_empty() {
        return Err("a multi-prime RSA key, which WebCrypto cannot use".into());
    }
    Ok(())
}

/// The content of the DER element at the front of `input` if its tag is `tag`, and what
/// follows it.
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    if t != tag {
        return None;
    }
    let len = if first < 0x80 {
        first as usize
    } else {
        let count = (first & 0x7f) as usize;
        if count == 0 || count > 4 || input.len() < count {
            return None;
        }
        let (bytes, rest) = input.split_at(count);
        input = rest;
        bytes.iter().fold(0usize, |n, b| (n << 8) | *b as usize)
    };
    (input.len() >= len).then(|| input.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PKCS8: &str = include_str!("../providers/testdata/pubsub_test_key.pem");

    /// The test key's PKCS#1 form, as `openssl rsa -traditional` would write it.
    fn pkcs1_pem() -> String {
        let der = private_key_der(PKCS8).unwrap();
        let info = tlv(&der, SEQUENCE).unwrap().0;
        let info = &tlv(info, INTEGER).unwrap().1[RSA_ENCRYPTION.len()..];
        let pkcs1 = tlv(info, OCTET_STRING).unwrap().0;
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
