//! Destinations: configuration (masked for display) and sealed credentials.

use super::destination_cap_sql::insert_within_cap_sql;
use super::{batch, first, rows, stmt, StoreResult};
use crate::core::ids::{DestinationId, TenantId};
use crate::core::time::Millis;
use serde::{Deserialize, Deserializer, Serialize};
use worker::{D1Database, D1PreparedStatement};

/// A destination as stored. It is also the snapshot the scheduler keeps: `secrets` stays
/// sealed in transit and at rest there too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DestinationRow {
    pub id: DestinationId,
    pub tenant_id: TenantId,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    /// JSON array of topic patterns.
    pub topics: String,
    #[serde(deserialize_with = "bool_or_int")]
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// JSON, credentials masked.
    pub config: String,
    /// JSON `DeliverySettings`.
    pub settings: String,
    /// Sealed JSON `SecretBundle`.
    pub secrets: String,
    /// JSON payload filter, if any.
    #[serde(default)]
    pub filter: Option<String>,
    /// The template it was made from, if any.
    #[serde(default)]
    pub template: Option<String>,
    /// JSON payload transform, if any.
    #[serde(default)]
    pub transform: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// SQLite has no booleans: D1 answers 0/1, JSON answers true/false.
fn bool_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Int(i64),
    }
    Ok(match B::deserialize(d)? {
        B::Bool(b) => b,
        B::Int(n) => n != 0,
    })
}

const COLUMNS: &str =
    "id, tenant_id, type, name, topics, enabled, disabled_reason, config, settings, secrets, \
     created_at, updated_at, filter, template, transform";

/// Inserts the destination unless its tenant already has `max` of them; `false` when full.
/// One statement, so two concurrent creates cannot both take the last place.
pub async fn insert_within(db: &D1Database, d: &DestinationRow, max: u32) -> StoreResult<bool> {
    let insert = stmt(
        db,
        &insert_within_cap_sql(COLUMNS),
        &[
            d.id.as_str().into(),
            d.tenant_id.as_str().into(),
            (&d.kind).into(),
            d.name.as_ref().into(),
            (&d.topics).into(),
            (d.enabled as i64).into(),
            d.disabled_reason.as_ref().into(),
            (&d.config).into(),
            (&d.settings).into(),
            (&d.secrets).into(),
            d.created_at.into(),
            d.updated_at.into(),
            d.filter.as_ref().into(),
            d.template.as_ref().into(),
            d.transform.as_ref().into(),
            i64::from(max).into(),
        ],
    )?;
    // D1 counts the rows the routing-version trigger updates too: any change means inserted.
    Ok(batch(db, vec![insert])
        .await?
        .first()
        .is_some_and(|&n| n > 0))
}

pub async fn get(
    db: &D1Database,
    tenant: &TenantId,
    id: &DestinationId,
) -> StoreResult<Option<DestinationRow>> {
    first(
        db,
        &format!("SELECT {COLUMNS} FROM destinations WHERE tenant_id = ?1 AND id = ?2"),
        &[tenant.as_str().into(), id.as_str().into()],
    )
    .await
}

/// A page of a tenant's destinations in id (creation) order; `limit + 1` rows.
pub async fn list(
    db: &D1Database,
    tenant: &TenantId,
    cursor: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<DestinationRow>> {
    rows(
        db,
        &format!("SELECT {COLUMNS} FROM destinations WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"),
        &[tenant.as_str().into(), cursor.unwrap_or("").into(), (limit as i64 + 1).into()],
    )
    .await
}

/// Every destination of a tenant.
pub async fn list_all(db: &D1Database, tenant: &TenantId) -> StoreResult<Vec<DestinationRow>> {
    Ok(for_tenant_stmt(db, tenant)?.all().await?.results()?)
}

/// Every destination of a tenant: a publish matches topics against them, queues for the
/// enabled ones and records the disabled ones as skipped.
pub fn for_tenant_stmt(db: &D1Database, tenant: &TenantId) -> StoreResult<D1PreparedStatement> {
    stmt(
        db,
        &format!("SELECT {COLUMNS} FROM destinations WHERE tenant_id = ?1 ORDER BY id"),
        &[tenant.as_str().into()],
    )
}

/// What a publish needs to know before routing, read in one round trip.
pub struct RoutingContext {
    pub tenant_exists: bool,
    pub topic_known: bool,
    /// The tenant's destinations (topic matching happens in Rust).
    pub destinations: Vec<DestinationRow>,
}

pub async fn routing_context(
    db: &D1Database,
    tenant: &TenantId,
    topic: &str,
) -> StoreResult<RoutingContext> {
    #[derive(serde::Deserialize)]
    struct Count {
        n: u32,
    }
    let results = db
        .batch(vec![
            stmt(
                db,
                "SELECT COUNT(*) AS n FROM tenants WHERE id = ?1",
                &[tenant.as_str().into()],
            )?,
            stmt(
                db,
                "SELECT COUNT(*) AS n FROM topics WHERE name = ?1",
                &[topic.into()],
            )?,
            for_tenant_stmt(db, tenant)?,
        ])
        .await?;
    let count = |i: usize| -> StoreResult<bool> {
        Ok(results[i]
            .results::<Count>()?
            .first()
            .is_some_and(|c| c.n > 0))
    };
    Ok(RoutingContext {
        tenant_exists: count(0)?,
        topic_known: count(1)?,
        destinations: results[2].results()?,
    })
}

/// The scheduler disabled the destination after too many failures. A change the user made
/// since (a newer `updated_at`) wins.
pub async fn auto_disable(
    db: &D1Database,
    tenant: &TenantId,
    id: &DestinationId,
    reason: &str,
    at: Millis,
) -> StoreResult<()> {
    stmt(
        db,
        "UPDATE destinations SET enabled = 0, disabled_reason = ?3, updated_at = ?4 \
         WHERE tenant_id = ?1 AND id = ?2 AND enabled = 1 AND updated_at <= ?4",
        &[
            tenant.as_str().into(),
            id.as_str().into(),
            reason.into(),
            at.into(),
        ],
    )?
    .run()
    .await?;
    Ok(())
}

pub async fn update(db: &D1Database, d: &DestinationRow) -> StoreResult<()> {
    stmt(
        db,
        "UPDATE destinations SET name = ?3, topics = ?4, enabled = ?5, disabled_reason = ?6, config = ?7, \
         settings = ?8, secrets = ?9, updated_at = ?10, filter = ?11, template = ?12, transform = ?13 WHERE tenant_id = ?1 AND id = ?2",
        &[
            d.tenant_id.as_str().into(),
            d.id.as_str().into(),
            d.name.as_ref().into(),
            (&d.topics).into(),
            (d.enabled as i64).into(),
            d.disabled_reason.as_ref().into(),
            (&d.config).into(),
            (&d.settings).into(),
            (&d.secrets).into(),
            d.updated_at.into(),
            d.filter.as_ref().into(),
            d.template.as_ref().into(),
            d.transform.as_ref().into(),
        ],
    )?
    .run()
    .await?;
    Ok(())
}

/// Deletes a destination and its monitoring rows (its deliveries stay in the event log until
/// retention drops them). Returns whether it existed.
pub async fn delete(db: &D1Database, tenant: &TenantId, id: &DestinationId) -> StoreResult<bool> {
    let (t, d) = (tenant.as_str(), id.as_str());
    let mut statements = vec![];
    for sql in super::monitoring_sql::DELETE_FOR_DESTINATION {
        statements.push(stmt(db, sql, &[t.into(), d.into()])?);
    }
    statements.push(stmt(
        db,
        "DELETE FROM destinations WHERE tenant_id = ?1 AND id = ?2",
        &[t.into(), d.into()],
    )?);
    let changes = batch(db, statements).await?;
    Ok(changes.last().copied().unwrap_or(0) > 0)
}
