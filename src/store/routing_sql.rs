//! The guarded event INSERT behind the publish routing cache (`core::routing_cache`): the
//! event is stored only if what the cache assumed still holds in D1. Plain SQL text, so the
//! native tests run it on the migrations' schema.

/// What must still hold in D1 for an event routed from a cached publish context to be
/// stored: the tenant's routing version is the cached one (no destination changed since),
/// and the topic is still in the catalogue when the deployment requires that.
#[derive(Debug, Clone, Copy)]
pub struct RoutingGuard {
    pub version: i64,
    pub topic_must_exist: bool,
}

/// The event INSERT: `?1`–`?7` the row (tenant, id, topic, data, metadata, publish key,
/// created at), and with a guard `?8` the routing version it needs.
pub fn insert_event_sql(guard: Option<&RoutingGuard>) -> String {
    let mut sql = String::from(
        "INSERT OR IGNORE INTO events (tenant_id, id, topic, data, metadata, publish_key, created_at) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7",
    );
    if let Some(g) = guard {
        sql.push_str(" WHERE (SELECT routing_version FROM tenants WHERE id = ?1) = ?8");
        if g.topic_must_exist {
            sql.push_str(" AND EXISTS (SELECT 1 FROM topics WHERE name = ?3)");
        }
    }
    sql
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::store::testing::d1_schema;
    use rusqlite::{params, Connection};

    const GUARD: RoutingGuard = RoutingGuard {
        version: 0,
        topic_must_exist: true,
    };

    fn version(db: &Connection, tenant: &str) -> Option<i64> {
        db.query_row(
            "SELECT routing_version FROM tenants WHERE id = ?1",
            [tenant],
            |r| r.get(0),
        )
        .ok()
    }

    /// Runs the INSERT as D1 binds it (numbers as floats); returns the rows it wrote.
    fn insert(db: &Connection, id: &str, topic: &str, guard: Option<RoutingGuard>) -> usize {
        let sql = insert_event_sql(guard.as_ref());
        let version = guard.map_or(0.0, |g| g.version as f64);
        let mut stmt = db.prepare(&sql).unwrap();
        if guard.is_some() {
            stmt.execute(params!["acme", id, topic, "{}", "{}", id, 1.0, version])
        } else {
            stmt.execute(params!["acme", id, topic, "{}", "{}", id, 1.0])
        }
        .unwrap()
    }

    fn seeded() -> Connection {
        let db = d1_schema();
        db.execute_batch(
            "INSERT INTO tenants (id, metadata, created_at, updated_at) VALUES ('acme', '{}', 0, 0);
             INSERT INTO topics (name, created_at, updated_at) VALUES ('order.created', 0, 0);",
        )
        .unwrap();
        db
    }

    fn add_destination(db: &Connection, id: &str) {
        db.execute(
            "INSERT INTO destinations (id, tenant_id, type, topics, enabled, config, settings, secrets, created_at, updated_at)
             VALUES (?1, 'acme', 'webhook', '[\"*\"]', 1, '{}', '{}', '', 0, 0)",
            [id],
        )
        .unwrap();
    }

    #[test]
    fn stores_the_event_while_the_version_holds() {
        let db = seeded();
        let v = version(&db, "acme").unwrap();
        let guard = RoutingGuard {
            version: v,
            ..GUARD
        };
        assert_eq!(insert(&db, "e1", "order.created", Some(guard)), 1);
        assert_eq!(insert(&db, "e2", "order.created", Some(guard)), 1);
        // A repeated id is refused as before (the caller then reads and finds the duplicate).
        assert_eq!(insert(&db, "e1", "order.created", Some(guard)), 0);
        assert_eq!(insert(&db, "e3", "order.created", None), 1);
    }

    #[test]
    fn any_change_to_the_tenants_destinations_moves_the_version() {
        let db = seeded();
        let mut seen = vec![version(&db, "acme").unwrap()];
        add_destination(&db, "des_a");
        seen.push(version(&db, "acme").unwrap());
        db.execute("UPDATE destinations SET enabled = 0 WHERE id = 'des_a'", [])
            .unwrap();
        seen.push(version(&db, "acme").unwrap());
        db.execute("DELETE FROM destinations WHERE id = 'des_a'", [])
            .unwrap();
        seen.push(version(&db, "acme").unwrap());
        let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
        assert_eq!(distinct.len(), 4, "{seen:?}");
        // An event routed by the first view is refused; by the current one, stored.
        let stale = RoutingGuard {
            version: seen[0],
            ..GUARD
        };
        assert_eq!(insert(&db, "e1", "order.created", Some(stale)), 0);
        let fresh = RoutingGuard {
            version: seen[3],
            ..GUARD
        };
        assert_eq!(insert(&db, "e1", "order.created", Some(fresh)), 1);
    }

    #[test]
    fn a_tenant_created_again_does_not_match_its_old_version() {
        let db = seeded();
        add_destination(&db, "des_a");
        let old = version(&db, "acme").unwrap();
        db.execute_batch(
            "DELETE FROM destinations WHERE tenant_id = 'acme'; DELETE FROM tenants WHERE id = 'acme';",
        )
        .unwrap();
        let gone = RoutingGuard {
            version: old,
            ..GUARD
        };
        assert_eq!(insert(&db, "e1", "order.created", Some(gone)), 0);
        db.execute(
            "INSERT INTO tenants (id, metadata, created_at, updated_at) VALUES ('acme', '{}', 0, 0)",
            [],
        )
        .unwrap();
        add_destination(&db, "des_b");
        // A new tenant starts at a random 48-bit version, so its count does not meet the old.
        let new = version(&db, "acme").unwrap();
        assert_ne!(new, old);
        assert!((0..1 << 49).contains(&new), "{new}");
        assert_eq!(insert(&db, "e1", "order.created", Some(gone)), 0);
    }

    #[test]
    fn a_topic_removed_from_the_catalogue_refuses_the_event_unless_any_topic_goes() {
        let db = seeded();
        let v = version(&db, "acme").unwrap();
        db.execute("DELETE FROM topics WHERE name = 'order.created'", [])
            .unwrap();
        let guard = RoutingGuard {
            version: v,
            ..GUARD
        };
        assert_eq!(insert(&db, "e1", "order.created", Some(guard)), 0);
        let any = RoutingGuard {
            version: v,
            topic_must_exist: false,
        };
        assert_eq!(insert(&db, "e1", "order.created", Some(any)), 1);
    }
}
