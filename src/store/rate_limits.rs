//! Fixed-window counters in D1 (`core::rate_limit::Window` decides; this counts): one atomic
//! upsert per hit, shared by every isolate and Durable Object, for the limits that no single
//! object sees whole (test sends of a destination, alerts of a tenant).

use super::{first, StoreResult};
use crate::core::ids::TenantId;
use crate::core::time::Millis;
use serde::Deserialize;
use worker::D1Database;

#[derive(Deserialize)]
struct Count {
    count: u32,
}

/// Counts one hit of `scope` (`test:des_…`, `alerts`) for `tenant` in the window starting at
/// `window_start`; the hits of that window so far, this one included.
pub async fn hit(
    db: &D1Database,
    tenant: &TenantId,
    scope: &str,
    window_start: Millis,
) -> StoreResult<u32> {
    let row: Option<Count> = first(
        db,
        "INSERT INTO rate_limits (tenant_id, scope, window_start, count) VALUES (?1, ?2, ?3, 1) \
         ON CONFLICT (tenant_id, scope) DO UPDATE SET \
           count = CASE WHEN rate_limits.window_start = excluded.window_start \
                        THEN rate_limits.count + 1 ELSE 1 END, \
           window_start = excluded.window_start \
         RETURNING count",
        &[tenant.as_str().into(), scope.into(), window_start.into()],
    )
    .await?;
    Ok(row.map_or(1, |r| r.count))
}
