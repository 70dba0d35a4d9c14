//! Authentication: the platform's admin key (`Authorization: Bearer <ADMIN_API_KEY>`),
//! compared in constant time.

use super::error::{ApiError, ApiResult};
use crate::core::crypto::secrets_equal;
use worker::{console_error, Env, Request};

pub fn require_admin(req: &Request, env: &Env) -> ApiResult<()> {
    let Ok(expected) = env.secret("ADMIN_API_KEY").map(|s| s.to_string()) else {
        console_error!("ADMIN_API_KEY is not set: every authenticated request is refused");
        return Err(ApiError::Unauthorized);
    };
    let given = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .and_then(|h| h.strip_prefix("Bearer ").map(str::to_string))
        .ok_or(ApiError::Unauthorized)?;
    if secrets_equal(&given, &expected) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}
