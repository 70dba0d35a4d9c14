//! The destination INSERT that keeps a tenant within `MAX_DESTINATIONS_PER_TENANT`: every
//! destination with a filter costs its evaluation on each of the tenant's publishes, so
//! their number is capped. Plain SQL text, so the native tests run it on the
//! migrations' schema.

/// The INSERT of one destination: `?1`–`?15` the row's `columns` in order (`?2` the tenant),
/// `?16` the cap. It writes nothing when the tenant already has that many, in one statement so
/// that two concurrent creates cannot both take the last place.
pub fn insert_within_cap_sql(columns: &str) -> String {
    format!(
        "INSERT INTO destinations ({columns}) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
         ?11, ?12, ?13, ?14, ?15 \
         WHERE (SELECT COUNT(*) FROM destinations WHERE tenant_id = ?2) < ?16"
    )
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::store::testing::d1_schema;
    use rusqlite::{params, Connection};

    const COLUMNS: &str = "id, tenant_id, type, name, topics, enabled, disabled_reason, config, \
                           settings, secrets, created_at, updated_at, filter, template, transform";

    /// Runs the INSERT as D1 binds it (numbers as floats); returns the rows it wrote.
    fn insert(db: &Connection, tenant: &str, id: &str, cap: u32) -> usize {
        db.execute(
            &insert_within_cap_sql(COLUMNS),
            params![
                id,
                tenant,
                "webhook",
                None::<String>,
                "[\"*\"]",
                1.0,
                None::<String>,
                "{}",
                "{}",
                "",
                0.0,
                0.0,
                None::<String>,
                None::<String>,
                None::<String>,
                f64::from(cap)
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_tenant_gets_at_most_the_cap() {
        let db = d1_schema();
        db.execute_batch(
            "INSERT INTO tenants (id, metadata, created_at, updated_at) VALUES ('acme', '{}', 0, 0);
             INSERT INTO tenants (id, metadata, created_at, updated_at) VALUES ('other', '{}', 0, 0);",
        )
        .unwrap();
        assert_eq!(insert(&db, "acme", "des_1", 2), 1);
        assert_eq!(insert(&db, "acme", "des_2", 2), 1);
        assert_eq!(
            insert(&db, "acme", "des_3", 2),
            0,
            "the third is over the cap"
        );
        // Per tenant: another tenant still has room.
        assert_eq!(insert(&db, "other", "des_4", 2), 1);
        // A larger cap (the variable raised) lets the tenant grow again.
        assert_eq!(insert(&db, "acme", "des_3", 3), 1);
        let n: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM destinations WHERE tenant_id = 'acme'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 3);
    }
}
