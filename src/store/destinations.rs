//! Destinations: configuration (masked for display) and sealed credentials.

use super::destination_cap_sql::insert_within_cap_sql;
use super::{batch, d1_batch, d1_rows, first, rows, stmt, StoreError, StoreResult};
use crate::core::destination::{RowError, StoredRow};
use crate::core::ids::{DestinationId, TenantId};
use crate::core::time::Millis;
use worker::{console_error, D1Database, D1PreparedStatement};

pub use crate::core::destination::DestinationRow;

/// Rows that parse; each that does not is logged and left out, so that one unreadable
/// destination neither hides its tenant's others nor stops their events.
fn readable(stored: Vec<StoredRow>) -> Vec<DestinationRow> {
    stored
        .into_iter()
        .filter_map(|row| parse(row).ok())
        .collect()
}

/// The row parsed, or its error logged.
fn parse(row: StoredRow) -> Result<DestinationRow, RowError> {
    DestinationRow::try_from(row)
        .and_then(|d| {
            // A type no line of the providers' registry names (one since removed).
            if crate::providers::TYPES.contains(&d.kind.as_str()) {
                Ok(d)
            } else {
                Err(RowError {
                    destination_id: d.id.clone(),
                    column: "type",
                    reason: format!("unknown type '{}'", d.kind),
                })
            }
        })
        .inspect_err(log_unreadable)
}

fn log_unreadable(e: &RowError) {
    console_error!(
        "{}",
        serde_json::json!({
            "event": "stored_destination_unreadable",
            "destination_id": e.destination_id,
            "column": e.column,
            "error": e.reason,
        })
    );
}

const COLUMNS: &str =
    "id, tenant_id, type, name, topics, enabled, disabled_reason, config, settings, secrets, \
     created_at, updated_at, filter, template, transform";

/// Inserts the destination unless its tenant already has `max` of them; `false` when full.
/// One statement, so two concurrent creates cannot both take the last place.
pub async fn insert_within(db: &D1Database, d: &DestinationRow, max: u32) -> StoreResult<bool> {
    let d = d.to_stored();
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

/// One destination; `StoreError::Unreadable` (logged) when its row does not parse.
pub async fn get(
    db: &D1Database,
    tenant: &TenantId,
    id: &DestinationId,
) -> StoreResult<Option<DestinationRow>> {
    let stored: Option<StoredRow> = first(
        db,
        &format!("SELECT {COLUMNS} FROM destinations WHERE tenant_id = ?1 AND id = ?2"),
        &[tenant.as_str().into(), id.as_str().into()],
    )
    .await?;
    stored
        .map(|row| parse(row).map_err(StoreError::Unreadable))
        .transpose()
}

/// A page of a tenant's destinations in id (creation) order; `limit + 1` rows, each parsed or
/// the error of one that does not parse (logged), so that paging goes past it.
pub async fn list(
    db: &D1Database,
    tenant: &TenantId,
    cursor: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<Result<DestinationRow, RowError>>> {
    let stored: Vec<StoredRow> = rows(
        db,
        &format!("SELECT {COLUMNS} FROM destinations WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"),
        &[tenant.as_str().into(), cursor.unwrap_or("").into(), (limit as i64 + 1).into()],
    )
    .await?;
    Ok(stored.into_iter().map(parse).collect())
}

/// Every readable destination of a tenant (an unreadable one is logged).
pub async fn list_all(db: &D1Database, tenant: &TenantId) -> StoreResult<Vec<DestinationRow>> {
    Ok(readable(d1_rows(&for_tenant_stmt(db, tenant)?).await?))
}

/// Every destination of a tenant: a publish matches topics against them, queues for the
/// enabled ones and records the disabled ones as skipped.
fn for_tenant_stmt(db: &D1Database, tenant: &TenantId) -> StoreResult<D1PreparedStatement> {
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
    /// The tenant's readable destinations (topic matching happens in Rust); an unreadable one
    /// is logged and gets no deliveries.
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
    let results = d1_batch(
        db,
        vec![
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
        ],
    )
    .await?;
    let count = |i: usize| -> StoreResult<bool> {
        Ok(results[i].rows::<Count>()?.first().is_some_and(|c| c.n > 0))
    };
    Ok(RoutingContext {
        tenant_exists: count(0)?,
        topic_known: count(1)?,
        destinations: readable(results[2].rows()?),
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
    let d = d.to_stored();
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
