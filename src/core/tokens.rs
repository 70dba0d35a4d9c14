//! Tenant tokens: short-lived HS256 JWTs that let one session (a portal link, a WebSocket
//! client) act for one tenant and nothing else. They are stateless: signed with a key derived
//! from `ENCRYPTION_KEY`, so rotating that key ends every session. They cannot be revoked one by
//! one, which is why they are short-lived (an hour by default, a day at most).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::core::time::Millis;

pub const DEFAULT_TTL_SECS: u64 = 3_600;
pub const MAX_TTL_SECS: u64 = 86_400;
pub const MIN_TTL_SECS: u64 = 60;
const ISSUER: &str = "sluice";
/// Separates this key from any other use of `ENCRYPTION_KEY`.
const KEY_LABEL: &[u8] = b"sluice tenant token v1";

/// The signing key of tenant tokens.
pub struct TokenKey(Vec<u8>);

impl TokenKey {
    /// HMAC-SHA256(ENCRYPTION_KEY, label): a key of its own, from the one secret there is.
    pub fn derive(encryption_key_b64: &str) -> Result<Self, String> {
        let raw = B64
            .decode(encryption_key_b64.trim())
            .map_err(|_| "ENCRYPTION_KEY is not base64")?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&raw).map_err(|_| "ENCRYPTION_KEY is unusable")?;
        mac.update(KEY_LABEL);
        Ok(TokenKey(mac.finalize().into_bytes().to_vec()))
    }
}

/// What a tenant token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantClaims {
    pub iss: String,
    /// Who the session is, as recorded in `requested_by` (e.g. `portal:alice@acme.test`).
    pub sub: String,
    /// The one tenant it may act for.
    pub tid: String,
    pub iat: i64,
    pub exp: i64,
}

/// A token for `tenant`, valid for `ttl_secs` from `now`.
pub fn mint(
    key: &TokenKey,
    tenant: &str,
    subject: &str,
    now: Millis,
    ttl_secs: u64,
) -> Result<(String, TenantClaims), String> {
    let iat = now.div_euclid(1_000);
    let claims = TenantClaims {
        iss: ISSUER.into(),
        sub: subject.into(),
        tid: tenant.into(),
        iat,
        exp: iat + ttl_secs.min(MAX_TTL_SECS) as i64,
    };
    let token = super::jwt::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&key.0),
    )
    .map_err(|e| format!("could not sign the token: {e}"))?;
    Ok((token, claims))
}

/// The claims of a token this deployment signed and that has not expired at `now`.
pub fn verify(key: &TokenKey, token: &str, now: Millis) -> Result<TenantClaims, String> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    // Expiry is checked against the given clock, below, not the library's.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    validation.set_issuer(&[ISSUER]);
    let claims = super::jwt::decode::<TenantClaims>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(&key.0),
        &validation,
    )
    .map_err(|e| format!("not a valid tenant token: {e}"))?
    .claims;
    if claims.exp <= now.div_euclid(1_000) {
        return Err("the tenant token has expired".into());
    }
    Ok(claims)
}

/// Whether a bearer credential looks like a JWT rather than the admin key.
pub fn looks_like_token(credential: &str) -> bool {
    credential.starts_with("eyJ") && credential.matches('.').count() == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    const NOW: Millis = 1_700_000_000_000;

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let key = TokenKey::derive(KEY).unwrap();
        let (token, claims) = mint(&key, "acme", "portal:alice", NOW, 600).unwrap();
        assert!(looks_like_token(&token));
        assert_eq!(verify(&key, &token, NOW + 599_000), Ok(claims.clone()));
        assert_eq!(claims.tid, "acme");
        assert_eq!(claims.exp - claims.iat, 600);
        assert_eq!(
            verify(&key, &token, NOW + 600_000),
            Err("the tenant token has expired".into())
        );
    }

    #[test]
    fn another_key_or_a_changed_claim_is_refused() {
        let key = TokenKey::derive(KEY).unwrap();
        let other = TokenKey::derive("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=").unwrap();
        let (token, _) = mint(&key, "acme", "portal:alice", NOW, 600).unwrap();
        assert!(verify(&other, &token, NOW).is_err());
        // Swap the payload for one naming another tenant: the signature no longer matches.
        let parts: Vec<&str> = token.split('.').collect();
        let forged_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!({
                "iss": "sluice", "sub": "x", "tid": "globex", "iat": 0, "exp": i64::MAX / 2
            }))
            .unwrap(),
        );
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert!(verify(&key, &forged, NOW).is_err());
        assert!(verify(&key, "eyJ.not.atoken", NOW).is_err());
    }

    #[test]
    fn the_lifetime_is_capped_at_a_day() {
        let key = TokenKey::derive(KEY).unwrap();
        let (_, claims) = mint(&key, "acme", "s", NOW, 10 * MAX_TTL_SECS).unwrap();
        assert_eq!(claims.exp - claims.iat, MAX_TTL_SECS as i64);
        assert!(!looks_like_token("sluice-dev-admin-key"));
    }
}
