//! Credentials sealed at rest: the stored row of a validated spec, its secrets sealed with
//! `ENCRYPTION_KEY`, and opening them again.

use crate::api::error::{ApiError, ApiResult};
use crate::api::http::Ctx;
use crate::core::crypto::{SealKey, NONCE_BYTES};
use crate::core::destination::{
    DestinationKind, DestinationSpec, SecretBundle, SigningKey, TargetConfig,
};
use crate::core::ids::{DestinationId, TenantId};
use crate::core::signing::{secret_from_bytes, GENERATED_SECRET_BYTES};
use crate::core::time::Millis;
use crate::providers::Target;
use crate::runtime::{encryption_key, random_bytes};
use crate::store::destinations::DestinationRow;

pub(super) fn seal_key(ctx: &Ctx) -> ApiResult<SealKey> {
    let raw = encryption_key(&ctx.env).map_err(ApiError::Internal)?;
    SealKey::from_base64(&raw).map_err(|e| ApiError::Internal(e.to_string()))
}

pub(super) fn seal(ctx: &Ctx, bundle: &SecretBundle) -> ApiResult<String> {
    let plain = serde_json::to_vec(bundle).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(seal_key(ctx)?.seal(&plain, random_bytes::<NONCE_BYTES>()))
}

pub(super) fn unseal(ctx: &Ctx, row: &DestinationRow) -> ApiResult<SecretBundle> {
    SecretBundle::open(&seal_key(ctx)?, &row.secrets).map_err(ApiError::Internal)
}

pub(super) fn new_secret() -> String {
    secret_from_bytes(&random_bytes::<GENERATED_SECRET_BYTES>())
}

/// The stored row for a spec; `keys` are the signing keys to seal with it.
pub(super) fn to_row(
    ctx: &Ctx,
    id: DestinationId,
    tenant: TenantId,
    spec: &DestinationSpec<Target>,
    keys: Vec<SigningKey>,
    created_at: Millis,
) -> ApiResult<DestinationRow> {
    let bundle = SecretBundle {
        config: spec.target.to_json(),
        signing_keys: keys,
    };
    let kind = DestinationKind::new(spec.target.kind());
    Ok(DestinationRow {
        id,
        tenant_id: tenant,
        kind,
        name: spec.name.clone(),
        topics: spec.topics.clone(),
        enabled: spec.enabled,
        disabled_reason: (!spec.enabled).then(|| "disabled by API".to_string()),
        config: spec.target.masked(),
        settings: spec.settings.clone(),
        secrets: seal(ctx, &bundle)?,
        filter: spec.filter.clone(),
        template: spec.template.clone(),
        transform: spec.transform.clone(),
        created_at,
        updated_at: ctx.now,
    })
}
