//! The directory of each tenant's log buckets (migrations/0010): which buckets exist and how
//! many shards each has. A row is written once per tenant and bucket (a day by default), so
//! its write rate follows time, not traffic; it lets the event log be paged across buckets
//! and a tenant's shards be found when it is deleted.

use super::{batch, d1_batch, rows, stmt, StoreResult};
use crate::core::ids::TenantId;
use crate::core::time::Millis;
use serde::Deserialize;
use worker::D1Database;

#[derive(Deserialize)]
struct Row {
    bucket: i64,
    shards: u32,
}

/// The bucket's shard count, registering the bucket with the tenant's current `log_shards`
/// when it is new; `None` when there is no such tenant.
pub async fn register(
    db: &D1Database,
    tenant: &TenantId,
    bucket: i64,
    now: Millis,
) -> StoreResult<Option<u32>> {
    let t = tenant.as_str();
    let results = d1_batch(
        db,
        vec![
            stmt(
                db,
                "INSERT OR IGNORE INTO log_buckets (tenant_id, bucket, shards, created_at) \
                 SELECT id, ?2, log_shards, ?3 FROM tenants WHERE id = ?1",
                &[t.into(), bucket.into(), now.into()],
            )?,
            stmt(
                db,
                "SELECT bucket, shards FROM log_buckets WHERE tenant_id = ?1 AND bucket = ?2",
                &[t.into(), bucket.into()],
            )?,
        ],
    )
    .await?;
    Ok(results[1].rows::<Row>()?.first().map(|r| r.shards))
}

/// Every bucket of the tenant with its shard count, oldest first.
pub async fn list(db: &D1Database, tenant: &TenantId) -> StoreResult<Vec<(i64, u32)>> {
    let found: Vec<Row> = rows(
        db,
        "SELECT bucket, shards FROM log_buckets WHERE tenant_id = ?1 ORDER BY bucket",
        &[tenant.as_str().into()],
    )
    .await?;
    Ok(found.into_iter().map(|r| (r.bucket, r.shards)).collect())
}

/// Forgets the buckets registered before `cutoff` (their shards have expired), across
/// tenants: the daily cron.
pub async fn forget_before(db: &D1Database, cutoff: Millis) -> StoreResult<usize> {
    let changed = batch(
        db,
        vec![stmt(
            db,
            "DELETE FROM log_buckets WHERE created_at < ?1",
            &[cutoff.into()],
        )?],
    )
    .await?;
    Ok(changed.first().copied().unwrap_or(0))
}

pub async fn delete_for_tenant(db: &D1Database, tenant: &TenantId) -> StoreResult<()> {
    batch(
        db,
        vec![stmt(
            db,
            "DELETE FROM log_buckets WHERE tenant_id = ?1",
            &[tenant.as_str().into()],
        )?],
    )
    .await
    .map(|_| ())
}
