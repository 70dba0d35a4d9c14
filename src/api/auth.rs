//! Authentication and authorization: the platform's admin key (`Authorization: Bearer
//! <ADMIN_API_KEY>`, compared in constant time), or a tenant token minted by
//! `POST /v1/tenants/{id}/portal` that reaches that tenant's routes only. A WebSocket client
//! may give a tenant token (never the admin key) in the `access_token` query parameter.

use super::error::{ApiError, ApiResult};
use super::routes::{Access, Params};
use crate::core::crypto::secrets_equal;
use crate::core::time::Millis;
use crate::core::tokens::{self, TokenKey};
use worker::{console_error, Env, Request};

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    Admin,
    /// A tenant token's session: its tenant and its subject.
    Tenant {
        tenant_id: String,
        subject: String,
    },
}

impl Principal {
    /// What an action records as `requested_by`.
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::Admin => "admin",
            Principal::Tenant { subject, .. } => subject,
        }
    }
}

/// The signing key of tenant tokens, from `ENCRYPTION_KEY`.
pub fn token_key(env: &Env) -> ApiResult<TokenKey> {
    let raw = crate::runtime::encryption_key(env).map_err(ApiError::Internal)?;
    TokenKey::derive(&raw).map_err(ApiError::Internal)
}

/// Where a credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Header,
    /// The `access_token` query parameter: URLs land in logs, proxies and browser history.
    Query,
}

/// The bearer credential: the `Authorization` header, or (for WebSocket clients, which
/// cannot set headers in a browser) an `access_token` query parameter when `query_ok`.
fn credential(req: &Request, query_ok: bool) -> Option<(String, Source)> {
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .map(|t| (t.to_string(), Source::Header))
        });
    header.or_else(|| {
        query_ok
            .then(|| req.url().ok())
            .flatten()?
            .query_pairs()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| (v.into_owned(), Source::Query))
    })
}

/// Checks the caller against the route's access rule.
pub fn authorize(
    req: &Request,
    env: &Env,
    access: Access,
    params: &Params,
    query_token_ok: bool,
    now: Millis,
) -> ApiResult<Principal> {
    if access == Access::Public {
        return Ok(Principal::Anonymous);
    }
    let (given, source) = credential(req, query_token_ok).ok_or(ApiError::Unauthorized)?;
    if tokens::looks_like_token(&given) {
        let claims =
            tokens::verify(&token_key(env)?, &given, now).map_err(|_| ApiError::Unauthorized)?;
        let allowed = match access {
            Access::Anyone => true,
            Access::Tenant => params.get("tenant_id") == claims.tid,
            Access::Admin | Access::Public => false,
        };
        if !allowed {
            return Err(ApiError::Forbidden);
        }
        return Ok(Principal::Tenant {
            tenant_id: claims.tid,
            subject: claims.sub,
        });
    }
    // Only a short-lived tenant token may travel in a URL: the admin key never lasts less
    // than forever, and a URL ends up in access logs and browser history.
    if source == Source::Query {
        return Err(ApiError::Unauthorized);
    }
    let Ok(expected) = env.secret("ADMIN_API_KEY").map(|s| s.to_string()) else {
        console_error!("ADMIN_API_KEY is not set: every authenticated request is refused");
        return Err(ApiError::Unauthorized);
    };
    if secrets_equal(&given, &expected) {
        Ok(Principal::Admin)
    } else {
        Err(ApiError::Unauthorized)
    }
}
