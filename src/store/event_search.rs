//! The event log's query, built from optional conditions. Plain Rust (no runtime types), so
//! a native test can run it on SQLite with the real schema and check its query plan.

use crate::core::ids::DestinationId;
use crate::core::time::Millis;

/// What the event log can be narrowed to. Every condition is optional but the tenant.
#[derive(Debug, Default, Clone)]
pub struct EventQuery {
    pub topic: Option<String>,
    /// Events with at least one delivery in this status (and to `destination`, if given).
    pub status: Option<String>,
    pub destination: Option<DestinationId>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// A JSON path into `data` (`$.order.id`) and the value it must equal, as text.
    pub path_equals: Option<(String, String)>,
    /// Text the serialised `data` contains.
    pub contains: Option<String>,
    pub newest_first: bool,
    /// Continue after this (created_at, id).
    pub after: Option<(Millis, String)>,
    pub limit: usize,
}

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Str(String),
    Int(i64),
}

#[derive(Default)]
struct Built {
    text: String,
    values: Vec<SqlValue>,
}

impl Built {
    /// Appends a fragment whose `?`s are numbered in order from the values given.
    fn push(&mut self, fragment: &str, values: Vec<SqlValue>) {
        let mut out = String::with_capacity(fragment.len() + 8);
        let mut values = values.into_iter();
        for c in fragment.chars() {
            if c == '?' {
                self.values
                    .push(values.next().expect("one value per placeholder"));
                out.push_str(&format!("?{}", self.values.len()));
            } else {
                out.push(c);
            }
        }
        self.text.push_str(&out);
    }
}

/// The SQL and its values for one page (`limit + 1` rows) of a tenant's events. Served by
/// `events_by_time` (or `events_by_topic`): the tenant (and topic) prefix, then
/// `(created_at, id)` order, walked from the cursor with a row-value comparison. `tenant` is
/// `None` in a log shard, which holds one tenant's events only and has no tenant column.
pub fn search_sql(tenant: Option<&str>, q: &EventQuery) -> (String, Vec<SqlValue>) {
    use SqlValue::{Int, Str};
    let mut b = Built::default();
    let columns = match tenant {
        Some(_) => "tenant_id, id, topic, data, metadata, created_at",
        None => "id, topic, data, metadata, created_at",
    };
    b.push(
        &format!("SELECT {columns} FROM events e WHERE 1 = 1"),
        vec![],
    );
    if let Some(t) = tenant {
        b.push(" AND e.tenant_id = ?", vec![Str(t.into())]);
    }
    if let Some(t) = &q.topic {
        b.push(" AND e.topic = ?", vec![Str(t.clone())]);
    }
    if let Some(t) = q.since {
        b.push(" AND e.created_at >= ?", vec![Int(t)]);
    }
    if let Some(t) = q.until {
        b.push(" AND e.created_at < ?", vec![Int(t)]);
    }
    if q.status.is_some() || q.destination.is_some() {
        let same_tenant = if tenant.is_some() {
            "d.tenant_id = e.tenant_id AND "
        } else {
            ""
        };
        b.push(
            &format!(
                " AND EXISTS (SELECT 1 FROM deliveries d WHERE {same_tenant}d.event_id = e.id"
            ),
            vec![],
        );
        if let Some(s) = &q.status {
            b.push(" AND d.status = ?", vec![Str(s.clone())]);
        }
        if let Some(d) = &q.destination {
            b.push(" AND d.destination_id = ?", vec![Str(d.to_string())]);
        }
        b.push(")", vec![]);
    }
    if let Some((path, value)) = &q.path_equals {
        b.push(
            " AND CAST(json_extract(e.data, ?) AS TEXT) = ?",
            vec![Str(path.clone()), Str(value.clone())],
        );
    }
    if let Some(text) = &q.contains {
        b.push(" AND instr(e.data, ?) > 0", vec![Str(text.clone())]);
    }
    let (cmp, dir) = if q.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some((t, id)) = &q.after {
        b.push(
            &format!(" AND (e.created_at, e.id) {cmp} (?, ?)"),
            vec![Int(*t), Str(id.clone())],
        );
    }
    b.push(
        &format!(" ORDER BY e.created_at {dir}, e.id {dir} LIMIT ?"),
        vec![Int(q.limit as i64 + 1)],
    );
    (b.text, b.values)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use rusqlite::{params_from_iter, Connection};

    fn schema() -> Connection {
        crate::store::testing::d1_schema()
    }

    /// 5,000 events for one tenant (and 1,000 for another), two deliveries each.
    fn seeded() -> Connection {
        let db = schema();
        db.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 5999)
             INSERT INTO events (tenant_id, id, topic, data, metadata, publish_key, created_at)
             SELECT CASE WHEN i < 5000 THEN 'acme' ELSE 'other' END, 'evt-' || i,
                    CASE i % 3 WHEN 0 THEN 'order.created' WHEN 1 THEN 'order.paid' ELSE 'user.created' END,
                    json_object('order', json_object('id', 'ord_' || i), 'note', 'text ' || i), '{}', 'k', 1000 + i
             FROM n;
             INSERT INTO deliveries (id, tenant_id, event_id, destination_id, topic, status, attempts, created_at, updated_at)
             SELECT 'dlv_a' || e.id, e.tenant_id, e.id, 'des_a', e.topic,
                    CASE WHEN e.created_at % 50 = 0 THEN 'failed' ELSE 'delivered' END, 1, e.created_at, e.created_at
             FROM events e;
             INSERT INTO deliveries (id, tenant_id, event_id, destination_id, topic, status, attempts, created_at, updated_at)
             SELECT 'dlv_b' || e.id, e.tenant_id, e.id, 'des_b', e.topic, 'pending', 0, e.created_at, e.created_at
             FROM events e WHERE e.topic = 'user.created';
             ANALYZE;",
        )
        .unwrap();
        db
    }

    fn run(db: &Connection, q: &EventQuery) -> (Vec<String>, Vec<String>) {
        let (sql, values) = search_sql(Some("acme"), q);
        let to_sql = |v: &SqlValue| match v {
            SqlValue::Str(s) => rusqlite::types::Value::Text(s.clone()),
            SqlValue::Int(n) => rusqlite::types::Value::Integer(*n),
        };
        let mut plan = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let plan: Vec<String> = plan
            .query_map(params_from_iter(values.iter().map(to_sql)), |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut stmt = db.prepare(&sql).unwrap();
        let ids = stmt
            .query_map(params_from_iter(values.iter().map(to_sql)), |r| {
                r.get::<_, String>(1)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        (plan, ids)
    }

    fn destination(raw: &str) -> DestinationId {
        DestinationId::parse(&format!(
            "des_{}",
            raw.repeat(26).chars().take(26).collect::<String>()
        ))
        .unwrap()
    }

    #[test]
    fn every_filter_is_served_by_an_index_without_a_full_scan() {
        let db = seeded();
        let base = EventQuery {
            newest_first: true,
            limit: 20,
            ..Default::default()
        };
        let cases = vec![
            ("newest first", base.clone()),
            (
                "oldest first",
                EventQuery {
                    newest_first: false,
                    ..base.clone()
                },
            ),
            (
                "topic",
                EventQuery {
                    topic: Some("order.paid".into()),
                    ..base.clone()
                },
            ),
            (
                "time range",
                EventQuery {
                    since: Some(2_000),
                    until: Some(3_000),
                    ..base.clone()
                },
            ),
            (
                "status",
                EventQuery {
                    status: Some("failed".into()),
                    ..base.clone()
                },
            ),
            (
                "destination",
                EventQuery {
                    destination: Some(destination("b")),
                    ..base.clone()
                },
            ),
            (
                "json path",
                EventQuery {
                    path_equals: Some(("$.order.id".into(), "ord_42".into())),
                    ..base.clone()
                },
            ),
            (
                "text",
                EventQuery {
                    contains: Some("text 4242".into()),
                    ..base.clone()
                },
            ),
            (
                "cursor",
                EventQuery {
                    after: Some((3_000, "evt-2000".into())),
                    ..base.clone()
                },
            ),
        ];
        for (name, q) in cases {
            let (plan, _) = run(&db, &q);
            for line in &plan {
                assert!(
                    !line.starts_with("SCAN"),
                    "{name}: full scan in plan {plan:?}"
                );
            }
            assert!(
                plan.iter().any(|l| l.starts_with("SEARCH e USING")),
                "{name}: plan {plan:?}"
            );
        }
    }

    #[test]
    fn filters_select_the_right_events_in_order() {
        let db = seeded();
        let base = EventQuery {
            newest_first: true,
            limit: 3,
            ..Default::default()
        };
        assert_eq!(
            run(&db, &base).1,
            vec!["evt-4999", "evt-4998", "evt-4997", "evt-4996"]
        );
        let asc = EventQuery {
            newest_first: false,
            ..base.clone()
        };
        assert_eq!(run(&db, &asc).1, vec!["evt-0", "evt-1", "evt-2", "evt-3"]);
        let paid = EventQuery {
            topic: Some("order.paid".into()),
            ..base.clone()
        };
        assert_eq!(
            run(&db, &paid).1,
            vec!["evt-4999", "evt-4996", "evt-4993", "evt-4990"]
        );
        let failed = EventQuery {
            status: Some("failed".into()),
            ..base.clone()
        };
        assert_eq!(
            run(&db, &failed).1,
            vec!["evt-4950", "evt-4900", "evt-4850", "evt-4800"]
        );
        let path = EventQuery {
            path_equals: Some(("$.order.id".into(), "ord_42".into())),
            ..base.clone()
        };
        assert_eq!(run(&db, &path).1, vec!["evt-42"]);
        let text = EventQuery {
            contains: Some("text 4242".into()),
            ..base.clone()
        };
        assert_eq!(run(&db, &text).1, vec!["evt-4242"]);
        let after = EventQuery {
            after: Some((1_010, "evt-10".into())),
            ..base.clone()
        };
        assert_eq!(run(&db, &after).1, vec!["evt-9", "evt-8", "evt-7", "evt-6"]);
        let range = EventQuery {
            since: Some(1_005),
            until: Some(1_007),
            ..base.clone()
        };
        assert_eq!(run(&db, &range).1, vec!["evt-6", "evt-5"]);
        let other_tenant_only = EventQuery {
            after: Some((1_000, "evt-0".into())),
            newest_first: true,
            ..base
        };
        assert!(
            run(&db, &other_tenant_only).1.is_empty(),
            "tenant 'other' never leaks into 'acme'"
        );
    }
}
