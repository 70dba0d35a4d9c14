//! Creating, changing (JSON merge patch) and deleting a destination.

use super::sealed::{new_secret, to_row, unseal};
use super::{
    check_portal_limits, check_signing_key, destination_id, load, reconfigure, tell, validate,
    with_secret,
};
use crate::api::error::{ApiError, ApiResult};
use crate::api::http::{json, no_content, read_value, Ctx};
use crate::api::routes::Params;
use crate::api::tenants::{existing, tenant_id};
use crate::api::views;
use crate::core::audit::Change;
use crate::core::credential_guard;
use crate::core::destination::{merge_patch, SecretBundle, SigningKey, TargetConfig};
use crate::core::ids::DestinationId;
use crate::core::lanes;
use crate::core::lifecycle::Change as Lifecycle;
use crate::runtime::{log_change, random_bytes};
use crate::scheduler::client::SchedulerClient;
use crate::store::destinations::{self as store, DestinationRow};
use crate::store::StoreError;
use serde_json::Value;
use worker::{Request, Response};

/// `POST …/destinations`: validates, seals the credentials, stores the destination if the
/// tenant is under `MAX_DESTINATIONS_PER_TENANT` (409 past it), and returns the signing secret
/// once.
pub async fn create(
    p: &Params,
    req: &mut Request,
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
) -> ApiResult<Response> {
    let tenant = existing(ctx, p).await?;
    let body =
        crate::core::template::expand(read_value(req, ctx).await?).map_err(ApiError::Validation)?;
    let spec = validate(ctx, body)?;
    check_signing_key(&spec).await?;
    check_portal_limits(ctx, &spec, true, true)?;
    let secret = spec
        .target
        .signs()
        .then(|| spec.given_signing_secret.clone().unwrap_or_else(new_secret));
    let keys = secret
        .iter()
        .map(|s| SigningKey {
            secret: s.clone(),
            expires_at: None,
        })
        .collect();
    let id = DestinationId::generate(ctx.now as u64, u128::from_le_bytes(random_bytes()));
    let row = to_row(ctx, id, tenant, &spec, keys, ctx.now)?;
    let max = ctx.settings.max_destinations_per_tenant;
    if !store::insert_within(&ctx.db, &row, max).await? {
        return Err(ApiError::Conflict(format!(
            "this tenant already has {max} destinations, the most MAX_DESTINATIONS_PER_TENANT \
             allows: delete one first"
        )));
    }
    log_change(
        &Change::DestinationCreated {
            kind: row.kind.as_str(),
            enabled: row.enabled,
        },
        &row.tenant_id,
        Some(&row.id),
    );
    reconfigure(scheduler, &row).await;
    json(
        201,
        &with_secret(views::destination(&row)?, secret.as_deref()),
    )
}

/// The write form of a stored destination, credentials included, for merging a patch into.
fn input_form(row: &DestinationRow, bundle: &SecretBundle) -> ApiResult<Value> {
    // The view minus what a client cannot write, with the full config in place of the
    // masked one: one field list, so a new setting cannot be shown but not patchable.
    let mut form = views::destination(row)?;
    if let Some(fields) = form.as_object_mut() {
        for read_only in [
            "id",
            "tenant_id",
            "disabled_reason",
            "created_at",
            "updated_at",
        ] {
            fields.remove(read_only);
        }
    }
    form["config"] = bundle.config.clone();
    Ok(form)
}

/// `PATCH …/destinations/{destination_id}`: a JSON merge patch; masked values sent back
/// unchanged keep the stored credentials.
pub async fn update(
    p: &Params,
    req: &mut Request,
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
) -> ApiResult<Response> {
    let (tenant, row) = load(ctx, p).await?;
    let patch = read_value(req, ctx).await?;
    if !patch.is_object() {
        return Err(ApiError::field("body", "a JSON object (merge patch)"));
    }
    if patch
        .get("type")
        .is_some_and(|t| t.as_str() != Some(row.kind.as_str()))
    {
        return Err(ApiError::field(
            "type",
            "the type of a destination cannot change; create a new one",
        ));
    }
    let bundle = unseal(ctx, &row)?;
    let mut merged = input_form(&row, &bundle)?;
    merge_patch(&mut merged, &patch);
    let moved = credential_guard::check(
        &bundle.config,
        &merged["config"],
        patch.get("config"),
        crate::providers::secret_paths(row.kind.as_str()),
    );
    if !moved.is_empty() {
        return Err(ApiError::Validation(moved));
    }
    // A filter is one expression: a new one replaces the old whole instead of merging.
    if let Some(filter) = patch.get("filter") {
        merged["filter"] = filter.clone();
    }
    // So is a transform; and a template may be dropped (null) but not swapped.
    if let Some(transform) = patch.get("transform") {
        merged["transform"] = transform.clone();
    }
    if let Some(name) = patch.get("template").and_then(|t| t.as_str()) {
        if row.template.as_deref() != Some(name) {
            return Err(ApiError::field(
                "template",
                "a destination's template cannot change; create a new destination (null detaches it)",
            ));
        }
    }
    let spec = validate(ctx, merged)?;
    if patch.get("config").is_some() {
        check_signing_key(&spec).await?;
    }
    check_portal_limits(
        ctx,
        &spec,
        patch.get("config").is_some(),
        patch.get("alerts").is_some(),
    )?;

    // A given secret replaces the keys at once; turning signing on generates one.
    let mut keys = bundle.signing_keys;
    let mut shown_secret = None;
    if let Some(given) = &spec.given_signing_secret {
        keys = vec![SigningKey {
            secret: given.clone(),
            expires_at: None,
        }];
    } else if spec.target.signs() && keys.is_empty() {
        let s = new_secret();
        keys = vec![SigningKey {
            secret: s.clone(),
            expires_at: None,
        }];
        shown_secret = Some(s);
    }
    let mut updated = to_row(ctx, row.id.clone(), tenant, &spec, keys, row.created_at)?;
    // Lanes beyond a lowered `lanes` drain what they hold: they stay in its span.
    lanes::carry_span(&mut updated.settings, &row.settings);
    if updated.enabled == row.enabled {
        updated.disabled_reason = row.disabled_reason.clone();
    }
    store::update(&ctx.db, &updated).await?;
    log_change(
        &Change::DestinationUpdated {
            enabled: updated.enabled,
        },
        &updated.tenant_id,
        Some(&updated.id),
    );
    reconfigure(scheduler, &updated).await;
    if updated.enabled && !row.enabled {
        tell(ctx, &updated, Lifecycle::Enabled, row.disabled_reason).await;
    }
    json(
        200,
        &with_secret(views::destination(&updated)?, shown_secret.as_deref()),
    )
}

/// `DELETE …/destinations/{destination_id}`: the scheduler is purged first, so nothing is sent
/// to the destination after this answers.
pub async fn delete(p: &Params, ctx: &Ctx, scheduler: &SchedulerClient<'_>) -> ApiResult<Response> {
    let tenant = tenant_id(p)?;
    let id = destination_id(p)?;
    let row = match store::get(&ctx.db, &tenant, &id).await {
        Ok(Some(row)) => Some(row),
        Ok(None) => return Err(ApiError::NotFound("destination".into())),
        // Deleting is what an unreadable destination's error tells the user to do; without a
        // readable row no lifecycle event can describe it.
        Err(StoreError::Unreadable(_)) => None,
        Err(e) => return Err(e.into()),
    };
    // Every lane it may have; an unreadable row's settings are unknown: all there can be.
    let span = row
        .as_ref()
        .map_or(lanes::MAX_LANES, |r| lanes::span(&r.settings));
    scheduler.purge(&id, span).await?;
    store::delete(&ctx.db, &tenant, &id).await?;
    log_change(&Change::DestinationDeleted, &tenant, Some(&id));
    if let Some(row) = row {
        tell(ctx, &row, Lifecycle::Deleted, None).await;
    }
    no_content()
}
