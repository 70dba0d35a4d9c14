//! Destinations of a tenant: create, read, update (merge patch), delete, enable/disable,
//! rotate the signing secret, and the scheduler's status and circuit reset. Re-enabling and
//! deleting publish the lifecycle events `sluice.destination.enabled` / `.deleted`.
//!
//! This file holds what every handler shares (loading, validating, telling the scheduler and
//! the subscribers) and the reads; `change` creates, updates and deletes, `control` runs a
//! destination (enable, rotate, status, circuit, WebSocket), `sealed` keeps the credentials
//! sealed at rest.

mod change;
mod control;
mod sealed;

pub use change::{create, delete, update};
pub use control::{reset_circuit, rotate_secret, set_enabled, socket, status};

use super::auth::Principal;
use super::error::{ApiError, ApiResult};
use super::http::{json, list as list_response, page_params, Ctx};
use super::routes::Params;
use super::tenants::{existing, tenant_id};
use super::views;
use crate::core::alert_limits::check_floor;
use crate::core::destination::{self, DestinationInput, DestinationSpec};
use crate::core::ids::{DestinationId, TenantId};
use crate::core::lifecycle::Change as Lifecycle;
use crate::core::validate::{check_https, from_value};
use crate::providers::alert_channels::{parse_domains, EMAIL_BINDING};
use crate::providers::Target;
use crate::scheduler::alerting;
use crate::scheduler::client::SchedulerClient;
use crate::store::destinations::{self as store, DestinationRow};
use crate::store::page;
use serde_json::{json, Value};
use worker::{console_error, Request, Response};

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

/// A Pub/Sub service account's key, imported and used once as a delivery will use it
/// (WebCrypto): `validate` checks its structure, and a key whose numbers the runtime refuses
/// is a 422 now rather than a delivery failed for good at the first token exchange.
async fn check_signing_key(spec: &DestinationSpec<Target>) -> ApiResult<()> {
    let Target::GcpPubSub(config) = &spec.target else {
        return Ok(());
    };
    let Ok(der) = crate::core::rsa_key::private_key_der(&config.service_account.private_key) else {
        return Ok(()); // refused by `validate` already
    };
    crate::runtime::sign_rs256(&der, b"sluice: the key signs")
        .await
        .map(|_| ())
        .map_err(|e| {
            ApiError::field(
                "config.service_account.private_key",
                format!("the runtime cannot sign with this key ({e}); check that it is the service account's key file as Google issued it"),
            )
        })
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
