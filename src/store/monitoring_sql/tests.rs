use super::*;
use crate::core::engine::{AttemptOutcome, AttemptRecord};
use crate::core::ids::{AttemptId, DeliveryId, EventId, TenantId};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

fn schema() -> Connection {
    crate::store::testing::d1_schema()
}

/// Bound as D1 binds them: every number is a JavaScript number, i.e. a float.
fn to_sql(v: &Option<SqlValue>) -> Value {
    match v {
        Some(SqlValue::Str(s)) => Value::Text(s.clone()),
        Some(SqlValue::Int(n)) => Value::Real(*n as f64),
        None => Value::Null,
    }
}

fn exec(db: &Connection, sql: &str, values: &[Option<SqlValue>]) -> usize {
    db.execute(sql, params_from_iter(values.iter().map(to_sql)))
        .unwrap()
}

fn id(prefix: &str, n: u32) -> String {
    format!("{prefix}{:0>26}", n)
}

/// Two destinations of `acme`, one of `other`.
fn seeded() -> Connection {
    let db = schema();
    db.execute_batch(&format!(
        "INSERT INTO destinations (id, tenant_id, type, topics, enabled, config, settings, secrets, created_at, updated_at)
         VALUES ('{a}', 'acme', 'webhook', '[]', 1, '{{}}', '{{}}', '', 0, 0),
                ('{b}', 'acme', 'aws_sqs', '[]', 0, '{{}}', '{{}}', '', 0, 0),
                ('{c}', 'other', 'webhook', '[]', 1, '{{}}', '{{}}', '', 0, 0);",
        a = id("des_", 1),
        b = id("des_", 2),
        c = id("des_", 3),
    ))
    .unwrap();
    db
}

fn attempt(
    n: u32,
    delivery: u32,
    tenant: &str,
    outcome: AttemptOutcome,
    ms: u64,
    sent: bool,
    at: Millis,
) -> AttemptRecord {
    AttemptRecord {
        id: AttemptId::parse(&id("atm_", n)).unwrap(),
        delivery_id: DeliveryId::parse(&id("dlv_", delivery)).unwrap(),
        tenant_id: TenantId::parse(tenant).unwrap(),
        event_id: EventId::parse("e1").unwrap(),
        attempt: n,
        started_at: at,
        duration_ms: ms,
        status_code: sent.then_some(200),
        outcome,
        error: None,
        response_body: None,
        next_attempt_at: None,
        requested_by: None,
        request_headers: sent.then(|| vec![("content-type".into(), "application/json".into())]),
        permanent: false,
        shard: Default::default(),
    }
}

/// What a scheduler's flush sends for a tally of these attempts (deliveries 1 and 2 are of
/// destination 1, delivery 3 of destination 3).
fn record_all(db: &Connection, records: &[AttemptRecord]) {
    for (destination, tenant) in [(1, "acme"), (3, "other")] {
        let mine: Vec<_> = records
            .iter()
            .filter(|r| (r.delivery_id.as_str() == id("dlv_", 3)) == (destination == 3))
            .cloned()
            .collect();
        if mine.is_empty() {
            continue;
        }
        let mut tally = Tally::default();
        tally.add(&mine);
        for (sql, values) in tally_statements(tenant, &id("des_", destination), &tally) {
            exec(db, &sql, &values);
        }
    }
}

fn record(db: &Connection, r: &AttemptRecord) {
    record_all(db, std::slice::from_ref(r));
}

fn counters(db: &Connection, destination: u32) -> Vec<i64> {
    db.query_row(
        "SELECT delivered, failed, retried, filtered, skipped, latency_sum_ms, l0, l3, l13 \
         FROM destination_metrics WHERE destination_id = ?1",
        [id("des_", destination)],
        |r| (0..9).map(|i| r.get::<_, i64>(i)).collect(),
    )
    .unwrap()
}

const T0: Millis = 1_699_999_980_000; // a whole minute

#[test]
fn a_tally_adds_its_sums_in_total_and_per_minute() {
    let db = seeded();
    let records = [
        attempt(1, 1, "acme", AttemptOutcome::Retry, 40, true, T0 + 1_000),
        attempt(
            2,
            1,
            "acme",
            AttemptOutcome::Delivered,
            3,
            true,
            T0 + 61_000,
        ),
        // Not sent (could not be built): counted as failed, no latency.
        attempt(3, 2, "acme", AttemptOutcome::Failed, 0, false, T0 + 62_000),
        attempt(4, 3, "other", AttemptOutcome::Delivered, 70_000, true, T0),
    ];
    record_all(&db, &records);
    // delivered, failed, retried, filtered, skipped, latency sum, ≤5 ms, ≤50 ms, overflow
    assert_eq!(counters(&db, 1), vec![1, 1, 1, 0, 0, 43, 1, 1, 0]);
    assert_eq!(counters(&db, 3), vec![1, 0, 0, 0, 0, 70_000, 0, 0, 1]);
    // A second flush adds to the first.
    record(&db, &records[1]);
    assert_eq!(counters(&db, 1)[0], 2);
    // Per minute: the retry in the first minute, the delivery and the failure in the next.
    let mut q = db
        .prepare("SELECT minute, delivered, failed, retried FROM attempt_stats WHERE destination_id = ?1 ORDER BY minute")
        .unwrap();
    let rows: Vec<(i64, i64, i64, i64)> = q
        .query_map([id("des_", 1)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, vec![(T0, 0, 0, 1), (T0 + 60_000, 2, 1, 0)]);
    // Nothing for a destination that is gone.
    let mut t = Tally::default();
    t.add(&records[..1]);
    for (sql, values) in tally_statements("acme", &id("des_", 9), &t) {
        assert_eq!(exec(&db, &sql, &values), 0);
    }
}

#[test]
fn filtered_and_skipped_counts_add_up_for_existing_destinations_only() {
    let db = seeded();
    let des = |n| Some(SqlValue::Str(id("des_", n)));
    let s = |v: &str| Some(SqlValue::Str(v.into()));
    let n = |v: i64| Some(SqlValue::Int(v));
    let filtered = add_count(DeliveryStatus::Filtered).unwrap();
    let skipped = add_count(DeliveryStatus::Skipped).unwrap();
    assert!(add_count(DeliveryStatus::Pending).is_none());
    exec(&db, &filtered, &[des(1), s("acme"), n(2)]);
    exec(&db, &filtered, &[des(1), s("acme"), n(1)]);
    exec(&db, &skipped, &[des(1), s("acme"), n(4)]);
    assert_eq!(counters(&db, 1)[3..5], [3, 4]);
    // Another tenant's id, or a deleted destination: nothing.
    assert_eq!(exec(&db, &filtered, &[des(1), s("other"), n(1)]), 0);
    assert_eq!(exec(&db, &filtered, &[des(9), s("acme"), n(1)]), 0);
}

#[test]
fn state_reports_keep_the_newest_and_skip_deleted_destinations() {
    let db = seeded();
    let report = |des: u32, depth: i64, state: &str, at: i64| {
        exec(
            &db,
            REPORT_STATE,
            &[
                Some(SqlValue::Str(id("des_", des))),
                Some(SqlValue::Str("acme".into())),
                Some(SqlValue::Int(depth)),
                Some(SqlValue::Str(state.into())),
                Some(SqlValue::Int(0)),
                Some(SqlValue::Int(at)),
            ],
        )
    };
    report(1, 5, "open", 2_000);
    report(1, 9, "closed", 1_000); // older: ignored
    report(9, 1, "open", 2_000); // no such destination
    report(3, 1, "open", 2_000); // another tenant's
    let state: (i64, String, i64) = db
        .query_row(
            "SELECT queue_depth, circuit_state, state_at FROM destination_metrics WHERE destination_id = ?1",
            [id("des_", 1)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(state, (5, "open".into(), 2_000));
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM destination_metrics", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
    // The counters of that row are untouched by a report, and vice versa.
    record(
        &db,
        &attempt(1, 1, "acme", AttemptOutcome::Delivered, 7, true, T0),
    );
    assert_eq!(counters(&db, 1)[0], 1);
}

/// Lanes above 0 report their depth apart; /metrics shows lane 0's plus theirs, each lane's
/// newest report counting once; a deleted destination's lanes go with it.
#[test]
fn metrics_sum_the_queue_depth_of_every_lane() {
    let db = seeded();
    let state = |depth: i64, at: i64| {
        exec(
            &db,
            REPORT_STATE,
            &[
                Some(SqlValue::Str(id("des_", 1))),
                Some(SqlValue::Str("acme".into())),
                Some(SqlValue::Int(depth)),
                Some(SqlValue::Str("closed".into())),
                Some(SqlValue::Int(0)),
                Some(SqlValue::Int(at)),
            ],
        )
    };
    let lane = |des: u32, tenant: &str, lane: i64, depth: i64, at: i64| {
        exec(
            &db,
            REPORT_LANE_DEPTH,
            &[
                Some(SqlValue::Str(id("des_", des))),
                Some(SqlValue::Str(tenant.into())),
                Some(SqlValue::Int(lane)),
                Some(SqlValue::Int(depth)),
                Some(SqlValue::Int(at)),
            ],
        )
    };
    let depths = || -> Vec<(String, i64)> {
        let mut q = db.prepare(&metrics_sql()).unwrap();
        q.query_map([], |r| {
            Ok((r.get("destination_id")?, r.get("queue_depth")?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    // A lane reporting before lane 0 ever did still counts.
    lane(1, "acme", 2, 4, 1_000);
    assert_eq!(depths()[0], (id("des_", 1), 4));
    state(5, 1_000);
    lane(1, "acme", 3, 7, 1_000);
    lane(1, "acme", 2, 1, 2_000);
    lane(1, "acme", 2, 9, 1_500); // older than lane 2's last report: ignored
    lane(1, "other", 1, 100, 2_000); // the wrong tenant: no row
    lane(9, "acme", 1, 100, 2_000); // no such destination
    assert_eq!(
        depths(),
        vec![
            (id("des_", 1), 5 + 7 + 1),
            (id("des_", 2), 0),
            (id("des_", 3), 0)
        ]
    );
    for sql in DELETE_FOR_DESTINATION {
        db.execute(sql, rusqlite::params!["acme", id("des_", 1)])
            .unwrap();
    }
    let left: i64 = db
        .query_row("SELECT COUNT(*) FROM lane_depths", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}

#[test]
fn metrics_list_every_destination_with_zeros_before_any_attempt() {
    let db = seeded();
    record(
        &db,
        &attempt(1, 1, "acme", AttemptOutcome::Delivered, 7, true, T0),
    );
    let mut q = db.prepare(&metrics_sql()).unwrap();
    let rows: Vec<(String, String, String, i64, i64, String)> = q
        .query_map([], |r| {
            Ok((
                r.get("tenant_id")?,
                r.get("destination_id")?,
                r.get("kind")?,
                r.get("enabled")?,
                r.get("delivered")?,
                r.get("latency")?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0],
        (
            "acme".into(),
            id("des_", 1),
            "webhook".into(),
            1,
            1,
            "[0,1,0,0,0,0,0,0,0,0,0,0,0,0]".into()
        )
    );
    assert_eq!(rows[1].3, 0);
    assert_eq!(rows[1].4, 0);
    assert_eq!(rows[2].0, "other");
}

/// 20 destinations × 8 days of minutes with attempts: the stats query searches the primary
/// key (destination, minute range) and never scans.
#[test]
fn stats_are_read_from_the_primary_key_and_summed_per_interval() {
    let db = seeded();
    db.execute_batch(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 11519)
         INSERT INTO attempt_stats (destination_id, minute, tenant_id, delivered, failed, retried, latency_sum_ms, l2)
         SELECT printf('des_%026d', 100 + d.k), {T0} + n.i * 60000, 'acme', 2, 1, 0, 30, 2
         FROM n, (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4) d;
         ANALYZE;"
    ))
    .unwrap();
    let des = id("des_", 100);
    let (sql, values) = stats_sql("acme", &des, T0, T0 + 3_600_000, 300_000);
    let mut plan = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    let plan: Vec<String> = plan
        .query_map(params_from_iter(values.iter().map(to_sql)), |r| r.get(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(plan.iter().all(|l| !l.starts_with("SCAN")), "{plan:?}");
    assert!(
        plan.iter().any(|l| l.starts_with(
            "SEARCH attempt_stats USING PRIMARY KEY (destination_id=? AND minute>? AND minute<?)"
        )),
        "{plan:?}"
    );
    let mut q = db.prepare(&sql).unwrap();
    let rows: Vec<(i64, i64, i64, String)> = q
        .query_map(params_from_iter(values.iter().map(to_sql)), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(5)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 12);
    assert_eq!(rows[0], (0, 10, 5, "[0,0,10,0,0,0,0,0,0,0,0,0,0,0]".into()));
    assert_eq!(rows[11].0, 11);
    // Another tenant asking for the same destination gets nothing.
    let (sql, values) = stats_sql("other", &des, T0, T0 + 3_600_000, 300_000);
    let n = db
        .prepare(&sql)
        .unwrap()
        .query_map(params_from_iter(values.iter().map(to_sql)), |_| Ok(()))
        .unwrap()
        .count();
    assert_eq!(n, 0);
    // The purge deletes old minutes in slices.
    let purged = db
        .execute(PURGE_STATS, rusqlite::params![T0 + 60_000 * 10, 1_000])
        .unwrap();
    assert_eq!(purged, 50);
}

#[test]
fn deleting_a_destination_or_tenant_deletes_its_rows() {
    let db = seeded();
    for (n, d, t) in [(1, 1, "acme"), (2, 3, "other")] {
        record(
            &db,
            &attempt(n, d, t, AttemptOutcome::Delivered, 7, true, T0),
        );
    }
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    for sql in DELETE_FOR_DESTINATION {
        db.execute(sql, rusqlite::params!["acme", id("des_", 1)])
            .unwrap();
    }
    assert_eq!(
        (count("destination_metrics"), count("attempt_stats")),
        (1, 1)
    );
    for sql in DELETE_FOR_TENANT {
        db.execute(sql, rusqlite::params!["other"]).unwrap();
    }
    assert_eq!(
        (count("destination_metrics"), count("attempt_stats")),
        (0, 0)
    );
}
