//! Fixed-window counters in D1 (`core::rate_limit::Window` decides; this counts): one atomic
//! upsert per hit, shared by every isolate and Durable Object, for the limits that no single
//! object sees whole (test sends of a destination, alerts of a tenant). Plain SQL text, so
//! the native tests run it on the migrations' schema.

/// Counts one hit: `?1` tenant, `?2` scope, `?3` the window's start. A hit in a new window
/// starts the count again; the answer is the window's count, this hit included.
pub const HIT_SQL: &str = "INSERT INTO rate_limits (tenant_id, scope, window_start, count) \
     VALUES (?1, ?2, ?3, 1) \
     ON CONFLICT (tenant_id, scope) DO UPDATE SET \
       count = CASE WHEN rate_limits.window_start = excluded.window_start \
                    THEN rate_limits.count + 1 ELSE 1 END, \
       window_start = excluded.window_start \
     RETURNING count";

#[cfg(target_arch = "wasm32")]
pub use d1::hit;

#[cfg(target_arch = "wasm32")]
mod d1 {
    use super::super::{first, StoreResult};
    use super::HIT_SQL;
    use crate::core::ids::TenantId;
    use crate::core::time::Millis;
    use serde::Deserialize;
    use worker::D1Database;

    #[derive(Deserialize)]
    struct Count {
        count: u32,
    }

    /// Counts one hit of `scope` (`test:des_…`, `alerts`) for `tenant` in the window starting
    /// at `window_start`; the hits of that window so far, this one included.
    pub async fn hit(
        db: &D1Database,
        tenant: &TenantId,
        scope: &str,
        window_start: Millis,
    ) -> StoreResult<u32> {
        let row: Option<Count> = first(
            db,
            HIT_SQL,
            &[tenant.as_str().into(), scope.into(), window_start.into()],
        )
        .await?;
        Ok(row.map_or(1, |r| r.count))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::HIT_SQL;
    use crate::store::testing::d1_schema;

    #[test]
    fn counts_per_tenant_scope_and_window() {
        let db = d1_schema();
        let hit = |tenant: &str, scope: &str, window: i64| -> u32 {
            db.query_row(HIT_SQL, rusqlite::params![tenant, scope, window], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(hit("acme", "test:des_1", 60_000), 1);
        assert_eq!(hit("acme", "test:des_1", 60_000), 2);
        assert_eq!(hit("acme", "test:des_2", 60_000), 1);
        assert_eq!(hit("globex", "test:des_1", 60_000), 1);
        assert_eq!(hit("acme", "test:des_1", 60_000), 3);
        // A new window starts again, and keeps one row per (tenant, scope).
        assert_eq!(hit("acme", "test:des_1", 120_000), 1);
        assert_eq!(hit("acme", "test:des_1", 120_000), 2);
        let rows: i64 = db
            .query_row("SELECT COUNT(*) FROM rate_limits", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 3);
    }
}
