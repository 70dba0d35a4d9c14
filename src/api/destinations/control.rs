//! Running a destination: enable and disable, signing-secret rotation, the scheduler's
//! status and circuit reset, and WebSocket clients.

use super::sealed::{new_secret, seal, unseal};
use super::{load, reconfigure, tell};
use crate::api::error::{ApiError, ApiResult};
use crate::api::http::{json, Ctx};
use crate::api::routes::Params;
use crate::api::views;
use crate::core::audit::Change;
use crate::core::destination::{SigningKey, TargetConfig};
use crate::core::lifecycle::Change as Lifecycle;
use crate::core::time::{to_rfc3339, Millis};
use crate::providers::Target;
use crate::runtime::log_change;
use crate::scheduler::client::SchedulerClient;
use crate::scheduler::protocol::SchedulerStatus;
use crate::store::destinations::{self as store, DestinationRow};
use serde_json::{json, Value};
use worker::{Request, Response};

/// After a rotation the previous secret keeps signing this long, so receivers can switch over.
const ROTATION_GRACE_MS: Millis = 24 * 3_600_000;

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

/// `GET …/status`: circuit, queue depth, next attempt, over all the destination's lanes.
pub async fn status(p: &Params, ctx: &Ctx, scheduler: &SchedulerClient<'_>) -> ApiResult<Response> {
    let (_, row) = load(ctx, p).await?;
    let s = scheduler.destination_status(&row).await?;
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
    let s = scheduler.reset_circuit(&row).await?;
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
    if row.kind.as_str() != "websocket" {
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
