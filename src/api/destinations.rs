//! Destinations of a tenant: create, read, update (merge patch), delete, enable/disable,
//! rotate the signing secret, and the scheduler's status and circuit reset. Re-enabling and
//! deleting publish the lifecycle events `sluice.destination.enabled` / `.deleted`.

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::http::{json, list as list_response, no_content, page_params, read_value, Ctx};
use super::routes::Params;
use super::tenants::{existing, tenant_id};
use super::views;
use crate::core::alert_limits::check_floor;
use crate::core::audit::Change;
use crate::core::credential_guard;
use crate::core::crypto::{SealKey, NONCE_BYTES};
use crate::core::destination::TargetConfig;
use crate::core::destination::{
    self, merge_patch, DestinationInput, DestinationKind, DestinationSpec, SecretBundle, SigningKey,
};
use crate::core::ids::{DestinationId, TenantId};
use crate::core::lifecycle::Change as Lifecycle;
use crate::core::signing::{secret_from_bytes, GENERATED_SECRET_BYTES};
use crate::core::time::{to_rfc3339, Millis};
use crate::core::validate::{check_https, from_value};
use crate::providers::alert_channels::{parse_domains, EMAIL_BINDING};
use crate::providers::Target;
use crate::runtime::log_change;
use crate::runtime::{encryption_key, random_bytes};
use crate::scheduler::alerting;
use crate::scheduler::client::SchedulerClient;
use crate::scheduler::protocol::SchedulerStatus;
use crate::store::destinations::{self as store, DestinationRow};
use crate::store::{page, StoreError};
use serde_json::{json, Value};
use worker::{console_error, Request, Response};

/// After a rotation the previous secret keeps signing this long, so receivers can switch over.
const ROTATION_GRACE_MS: Millis = 24 * 3_600_000;
fn seal_key(ctx: &Ctx) -> ApiResult<SealKey> {
    let raw = encryption_key(&ctx.env).map_err(ApiError::Internal)?;
    SealKey::from_base64(&raw).map_err(|e| ApiError::Internal(e.to_string()))
}

fn seal(ctx: &Ctx, bundle: &SecretBundle) -> ApiResult<String> {
    let plain = serde_json::to_vec(bundle).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(seal_key(ctx)?.seal(&plain, random_bytes::<NONCE_BYTES>()))
}

fn unseal(ctx: &Ctx, row: &DestinationRow) -> ApiResult<SecretBundle> {
    let plain = seal_key(ctx)?
        .open(&row.secrets)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    serde_json::from_slice(&plain).map_err(|e| ApiError::Internal(e.to_string()))
}

fn new_secret() -> String {
    secret_from_bytes(&random_bytes::<GENERATED_SECRET_BYTES>())
}

fn destination_id(p: &Params) -> ApiResult<DestinationId> {
    DestinationId::parse(p.get("destination_id"))
        .map_err(|_| ApiError::NotFound("destination".into()))
}

/// Loads a tenant's destination or answers 404 (also when it belongs to another tenant).
pub async fn load(ctx: &Ctx, p: &Params) -> ApiResult<(TenantId, DestinationRow)> {
    let tenant = tenant_id(p)?;
    let id = destination_id(p)?;
    let row = store::get(&ctx.db, &tenant, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound("destination".into()))?;
    Ok((tenant, row))
}

/// Validates an input, naming every bad field.
fn validate(ctx: &Ctx, input: Value) -> ApiResult<DestinationSpec<Target>> {
    let insecure = match (ctx.settings.require_https, input.get("config")) {
        (true, Some(config)) => check_https(config),
        _ => vec![],
    };
    let input: DestinationInput =
        from_value(input, "").map_err(|e| ApiError::Validation(vec![e]))?;
    let spec = match destination::validate::<Target>(input, ctx.settings.allow_private_destinations)
    {
        Ok(spec) if insecure.is_empty() => spec,
        Ok(_) => return Err(ApiError::Validation(insecure)),
        Err(mut errors) => {
            errors.extend(insecure);
            return Err(ApiError::Validation(errors));
        }
    };
    // Email goes out through a binding, not HTTP: only where the deployment configured it.
    if matches!(spec.target, Target::Email(_)) && ctx.env.send_email(EMAIL_BINDING).is_err() {
        return Err(ApiError::field(
            "type",
            format!("email needs a [[send_email]] binding named {EMAIL_BINDING} in wrangler.toml"),
        ));
    }
    Ok(spec)
}

/// What a portal user (tenant token) may ask of the operator's resources: email only from
/// and to the domains the operator allows (when `config_given`), and alert thresholds no
/// lower than its floor (when `alerts_given`). A PATCH that touches neither keeps what the
/// admin set.
fn check_portal_limits(
    ctx: &Ctx,
    spec: &DestinationSpec<Target>,
    config_given: bool,
    alerts_given: bool,
) -> ApiResult<()> {
    if !matches!(ctx.principal, Principal::Tenant { .. }) {
        return Ok(());
    }
    let mut errors = vec![];
    if let (Target::Email(email), true) = (&spec.target, config_given) {
        let allowed = &ctx.settings.alert_email_domains;
        errors.extend(email.check_tenant_domains(&parse_domains(allowed)));
    }
    if alerts_given {
        let floor = ctx.settings.alert_min_consecutive_failures;
        errors.extend(check_floor(&spec.settings.alerts, floor));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// The stored row for a spec; `keys` are the signing keys to seal with it.
fn to_row(
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
    let kind = DestinationKind::parse(spec.target.kind()).ok_or_else(|| {
        ApiError::Internal(format!(
            "type '{}' has no DestinationKind",
            spec.target.kind()
        ))
    })?;
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

/// Tells the scheduler; a failure here is logged, not fatal: every enqueue carries the
/// destination snapshot too, so the scheduler catches up with the next event.
async fn reconfigure(scheduler: &SchedulerClient<'_>, row: &DestinationRow) {
    if let Err(e) = scheduler.configure(row).await {
        console_error!(
            "{}",
            json!({ "event": "scheduler_configure_failed", "destination_id": row.id, "error": format!("{e:?}") })
        );
    }
}

fn with_secret(mut view: Value, secret: Option<&str>) -> Value {
    if let Some(s) = secret {
        view["signing_secret"] = json!(s);
    }
    view
}

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

/// `GET …/destinations`: a tenant's destinations, in creation order, paged.
pub async fn list(p: &Params, req: &Request, ctx: &Ctx) -> ApiResult<Response> {
    let tenant = existing(ctx, p).await?;
    let pp = page_params(req)?;
    let rows = store::list(&ctx.db, &tenant, pp.cursor.as_deref(), pp.limit).await?;
    let (rows, next) = page(rows, pp.limit, |d| match d {
        Ok(d) => d.id.to_string(),
        Err(e) => e.destination_id.to_string(),
    });
    // An unreadable destination is logged by the store and left out of the page.
    list_response(
        rows.iter()
            .flatten()
            .map(views::destination)
            .collect::<ApiResult<Vec<_>>>()?,
        next,
    )
}

/// `GET …/destinations/{destination_id}`: credentials masked.
pub async fn get(p: &Params, ctx: &Ctx) -> ApiResult<Response> {
    let (_, row) = load(ctx, p).await?;
    json(200, &views::destination(&row)?)
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

/// A type's credentials as the type catalogue lists them (`auth.token`, `headers.*`…).
fn secret_paths(kind: &str) -> Vec<String> {
    thread_local! {
        static CATALOGUE: Value = serde_json::from_str(crate::providers::CATALOGUE).unwrap_or_default();
    }
    CATALOGUE.with(|c| {
        c["data"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["type"] == kind)
            .and_then(|t| t["secrets"].as_array())
            .map(|paths| {
                paths
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    })
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
    let secrets = secret_paths(row.kind.as_str());
    let moved = credential_guard::check(
        &bundle.config,
        &merged["config"],
        patch.get("config"),
        &secrets.iter().map(String::as_str).collect::<Vec<_>>(),
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
    scheduler.purge(&id).await?;
    store::delete(&ctx.db, &tenant, &id).await?;
    log_change(&Change::DestinationDeleted, &tenant, Some(&id));
    if let Some(row) = row {
        tell(ctx, &row, Lifecycle::Deleted, None).await;
    }
    no_content()
}

/// Publishes a lifecycle event of `row` to the tenant's subscribers and the operator. The
/// change is made and answered either way: a failure to publish is logged, not returned.
async fn tell(ctx: &Ctx, row: &DestinationRow, change: Lifecycle, reason: Option<String>) {
    let Some(event) = alerting::lifecycle_event(row, change, reason, 0, ctx.now) else {
        return;
    };
    if let Err(e) = alerting::publish(&ctx.env, &ctx.db, &event).await {
        console_error!(
            "lifecycle event {} of destination {}: {e}",
            change.as_str(),
            row.id
        );
    }
}

/// `POST …/enable` and `…/disable`. A disabled destination keeps its queue and receives no
/// new events; enabling resumes the queue.
pub async fn set_enabled(
    p: &Params,
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
    enabled: bool,
) -> ApiResult<Response> {
    let (_, mut row) = load(ctx, p).await?;
    let mut re_enabled = None;
    if row.enabled != enabled {
        row.enabled = enabled;
        let was = std::mem::replace(
            &mut row.disabled_reason,
            (!enabled).then(|| "disabled by API".to_string()),
        );
        row.updated_at = ctx.now;
        store::update(&ctx.db, &row).await?;
        let change = if enabled {
            re_enabled = Some(was);
            Change::DestinationEnabled
        } else {
            Change::DestinationDisabled
        };
        log_change(&change, &row.tenant_id, Some(&row.id));
    }
    reconfigure(scheduler, &row).await;
    if let Some(reason) = re_enabled {
        tell(ctx, &row, Lifecycle::Enabled, reason).await;
    }
    json(200, &views::destination(&row)?)
}

/// `POST …/signing-secret/rotate`: a new secret signs from now on; the previous one keeps
/// signing too (both signatures are sent) for `ROTATION_GRACE_MS`.
pub async fn rotate_secret(
    p: &Params,
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
) -> ApiResult<Response> {
    let (_, mut row) = load(ctx, p).await?;
    let mut bundle = unseal(ctx, &row)?;
    let target = Target::parse(row.kind.as_str(), bundle.config.clone())
        .map_err(|e| ApiError::Internal(e.message))?;
    if !target.signs() {
        return Err(ApiError::Conflict(
            "this destination does not sign its requests (signing scheme 'none')".into(),
        ));
    }
    let expires = ctx.now + ROTATION_GRACE_MS;
    let previous = bundle.active_keys(ctx.now).next().cloned();
    let secret = new_secret();
    bundle.signing_keys = std::iter::once(SigningKey {
        secret: secret.clone(),
        expires_at: None,
    })
    .chain(previous.map(|k| SigningKey {
        expires_at: Some(expires),
        ..k
    }))
    .collect();
    row.secrets = seal(ctx, &bundle)?;
    row.updated_at = ctx.now;
    store::update(&ctx.db, &row).await?;
    log_change(&Change::SigningSecretRotated, &row.tenant_id, Some(&row.id));
    reconfigure(scheduler, &row).await;
    json(
        200,
        &json!({ "signing_secret": secret, "previous_secret_expires_at": to_rfc3339(expires) }),
    )
}

/// `GET …/status`: circuit, queue depth, next attempt.
pub async fn status(p: &Params, ctx: &Ctx, scheduler: &SchedulerClient<'_>) -> ApiResult<Response> {
    let (_, row) = load(ctx, p).await?;
    let s = scheduler.status(&row.id).await?;
    json(200, &status_view(ctx, &s, &row).await?)
}

/// The status document of `…/status` and `…/circuit/reset`: the scheduler's state and the
/// destination's deliveries by outcome: `pending` is what its queue holds now, the others
/// the `/metrics` counters (as last flushed).
async fn status_view(ctx: &Ctx, s: &SchedulerStatus, row: &DestinationRow) -> ApiResult<Value> {
    let mut view = views::status(s, row);
    let c = crate::store::monitoring::counters(&ctx.db, &row.tenant_id, &row.id).await?;
    view["deliveries"] = json!({
        "pending": s.queue_depth,
        "delivered": c.delivered,
        "failed": c.failed,
        "skipped": c.skipped,
        "filtered": c.filtered,
    });
    Ok(view)
}

/// `POST …/circuit/reset`: closes the circuit; waiting deliveries flow again.
pub async fn reset_circuit(
    p: &Params,
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
) -> ApiResult<Response> {
    let (_, row) = load(ctx, p).await?;
    reconfigure(scheduler, &row).await;
    let s = scheduler.reset_circuit(&row.id).await?;
    json(200, &status_view(ctx, &s, &row).await?)
}

/// `GET …/ws`: a WebSocket client of a `websocket` destination connects; the destination's
/// scheduler accepts it (hibernation API) and sends it every event.
pub async fn socket(
    p: &Params,
    req: &Request,
    ctx: &Ctx,
    scheduler: &SchedulerClient<'_>,
) -> ApiResult<Response> {
    let (_, row) = load(ctx, p).await?;
    if row.kind != DestinationKind::Websocket {
        return Err(ApiError::Conflict(format!(
            "destination {} is of type {}; only websocket destinations accept connections",
            row.id, row.kind
        )));
    }
    let upgrade = req.headers().get("upgrade").ok().flatten();
    if !upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return Err(ApiError::UpgradeRequired);
    }
    // The scheduler may never have seen this destination (no event yet): hand it the snapshot.
    reconfigure(scheduler, &row).await;
    Ok(scheduler.connect(&row.id, ctx.principal.name()).await?)
}
