//! Tenants: the platform's customers, each owning destinations and events.

use super::{batch, first, rows, stmt, StoreResult};
use crate::core::destination::DeliverySettings;
use crate::core::ids::{DestinationId, TenantId};
use crate::core::json;
use crate::core::lanes;
use crate::core::time::Millis;
use serde::Deserialize;
use worker::D1Database;

#[derive(Debug, Clone, Deserialize)]
pub struct TenantRow {
    pub id: TenantId,
    pub name: Option<String>,
    /// JSON object of strings.
    pub metadata: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// Log shards per bucket for the buckets created from now on (`core::log`).
    #[serde(default = "one")]
    pub log_shards: u32,
}

fn one() -> u32 {
    1
}

pub async fn insert(db: &D1Database, t: &TenantRow) -> StoreResult<()> {
    stmt(
        db,
        "INSERT INTO tenants (id, name, metadata, created_at, updated_at, log_shards) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[t.id.as_str().into(), t.name.as_ref().into(), (&t.metadata).into(), t.created_at.into(), t.updated_at.into(), i64::from(t.log_shards).into()],
    )?
    .run()
    .await?;
    Ok(())
}

pub async fn get(db: &D1Database, id: &TenantId) -> StoreResult<Option<TenantRow>> {
    first(
        db,
        "SELECT * FROM tenants WHERE id = ?1",
        &[id.as_str().into()],
    )
    .await
}

pub async fn exists(db: &D1Database, id: &TenantId) -> StoreResult<bool> {
    let row: Option<serde_json::Value> = first(
        db,
        "SELECT 1 AS x FROM tenants WHERE id = ?1",
        &[id.as_str().into()],
    )
    .await?;
    Ok(row.is_some())
}

/// A page of tenants in id order, after `cursor`; `limit + 1` rows so the caller can tell if more exist.
pub async fn list(
    db: &D1Database,
    cursor: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<TenantRow>> {
    rows(
        db,
        "SELECT * FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2",
        &[cursor.unwrap_or("").into(), (limit as i64 + 1).into()],
    )
    .await
}

pub async fn update(db: &D1Database, t: &TenantRow) -> StoreResult<()> {
    stmt(
        db,
        "UPDATE tenants SET name = ?2, metadata = ?3, updated_at = ?4, log_shards = ?5 WHERE id = ?1",
        &[
            t.id.as_str().into(),
            t.name.as_ref().into(),
            (&t.metadata).into(),
            t.updated_at.into(),
            i64::from(t.log_shards).into(),
        ],
    )?
    .run()
    .await?;
    Ok(())
}

/// The ids of a tenant's destinations with the lanes each may have (`core::lanes::span`), to
/// purge their schedulers before deleting.
pub async fn destination_ids(
    db: &D1Database,
    id: &TenantId,
) -> StoreResult<Vec<(DestinationId, u32)>> {
    #[derive(Deserialize)]
    struct Row {
        id: DestinationId,
        settings: String,
    }
    let found: Vec<Row> = rows(
        db,
        "SELECT id, settings FROM destinations WHERE tenant_id = ?1",
        &[id.as_str().into()],
    )
    .await?;
    // Settings that do not parse: every lane a destination may have, so none is missed.
    Ok(found
        .into_iter()
        .map(|r| {
            let lanes = json::from_str::<DeliverySettings>(&r.settings)
                .map_or(lanes::MAX_LANES, |s| lanes::span(&s));
            (r.id, lanes)
        })
        .collect())
}

/// Deletes a tenant and everything it owns, atomically. Returns whether it existed.
pub async fn delete(db: &D1Database, id: &TenantId) -> StoreResult<bool> {
    let t = id.as_str();
    let mut statements = vec![];
    for sql in super::monitoring_sql::DELETE_FOR_TENANT {
        statements.push(stmt(db, sql, &[t.into()])?);
    }
    statements.extend([
        stmt(
            db,
            "DELETE FROM destinations WHERE tenant_id = ?1",
            &[t.into()],
        )?,
        stmt(db, "DELETE FROM tenants WHERE id = ?1", &[t.into()])?,
    ]);
    let changes = batch(db, statements).await?;
    Ok(changes.last().copied().unwrap_or(0) > 0)
}
