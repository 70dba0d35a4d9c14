//! The topic catalogue (platform-wide, not per tenant).

use super::{batch, first, rows, stmt, StoreResult};
use crate::core::time::Millis;
use serde::Deserialize;
use worker::D1Database;

#[derive(Debug, Clone, Deserialize)]
pub struct TopicRow {
    pub name: String,
    pub description: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

pub async fn insert(db: &D1Database, t: &TopicRow) -> StoreResult<()> {
    stmt(
        db,
        "INSERT INTO topics (name, description, created_at, updated_at) VALUES (?1, ?2, ?3, ?4)",
        &[
            (&t.name).into(),
            t.description.as_ref().into(),
            t.created_at.into(),
            t.updated_at.into(),
        ],
    )?
    .run()
    .await?;
    Ok(())
}

pub async fn get(db: &D1Database, name: &str) -> StoreResult<Option<TopicRow>> {
    first(db, "SELECT * FROM topics WHERE name = ?1", &[name.into()]).await
}

/// A page in name order, after `cursor`; `limit + 1` rows.
pub async fn list(
    db: &D1Database,
    cursor: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<TopicRow>> {
    rows(
        db,
        "SELECT * FROM topics WHERE name > ?1 ORDER BY name LIMIT ?2",
        &[cursor.unwrap_or("").into(), (limit as i64 + 1).into()],
    )
    .await
}

/// Returns whether it existed.
pub async fn delete(db: &D1Database, name: &str) -> StoreResult<bool> {
    let changes = batch(
        db,
        vec![stmt(
            db,
            "DELETE FROM topics WHERE name = ?1",
            &[name.into()],
        )?],
    )
    .await?;
    Ok(changes.first().copied().unwrap_or(0) > 0)
}
