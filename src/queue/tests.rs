//! The queue store's SQL on a real (in-memory) SQLite: what a round writes, what a repeated or
//! manual enqueue finds, how attempt records wait for their shard, and the move from the
//! layout before (`queue` + `done`).

use super::*;
use crate::core::engine::{AttemptOutcome, QueueStore};
use crate::core::ids::AttemptId;
use crate::log::sql::testing::Memory;

/// Enqueues one delivery: whether it was newly queued.
fn enqueue(q: &SqlQueue<Memory>, d: &QueuedDelivery) -> bool {
    q.enqueue_all(std::slice::from_ref(d)) == [d.due_at]
}

fn queue() -> SqlQueue<Memory> {
    let q = SqlQueue::new(Memory::new());
    q.migrate().unwrap();
    q
}

/// Delivery `n`, due at `due_at`, no attempt made yet.
fn delivery(n: u128, due_at: Millis) -> QueuedDelivery {
    QueuedDelivery {
        delivery_id: DeliveryId::generate(1, n),
        attempts: 0,
        due_at,
        ..crate::providers::testing::delivery(&format!("evt-{n}"), &format!("{{\"n\":{n}}}"))
    }
}

fn attempt(d: &QueuedDelivery, n: u32, outcome: AttemptOutcome) -> AttemptRecord {
    AttemptRecord {
        id: AttemptId::generate(
            1,
            u128::from(n) << 64 | d.delivery_id.as_str().len() as u128,
        ),
        delivery_id: d.delivery_id.clone(),
        tenant_id: d.tenant_id.clone(),
        event_id: d.event_id.clone(),
        attempt: n,
        started_at: 10,
        duration_ms: 1,
        status_code: Some(200),
        outcome,
        error: None,
        response_body: Some("ok, \"quoted\", with a comma".into()),
        next_attempt_at: None,
        requested_by: None,
        request_headers: Some(vec![("content-type".into(), "application/json".into())]),
        permanent: false,
        shard: Default::default(),
    }
}

fn ids(ds: &[QueuedDelivery]) -> Vec<String> {
    ds.iter()
        .map(|d| d.delivery_id.as_str().to_string())
        .collect()
}

#[test]
fn an_enqueue_is_queued_once_and_due_in_order() {
    let q = queue();
    let (a, b) = (delivery(1, 20), delivery(2, 10));
    assert!(enqueue(&q, &a));
    assert!(enqueue(&q, &b));
    assert!(!enqueue(&q, &a), "a repeated enqueue queues nothing");
    assert_eq!(q.depth(), 2);
    assert_eq!(q.next_due(), Some(10));
    assert_eq!(ids(&q.due(15, 10)), ids(std::slice::from_ref(&b)));
    assert_eq!(ids(&q.due(20, 10)), ids(&[b, a.clone()]));
    assert_eq!(q.due(20, 10)[1], a, "the body reads back as queued");
}

#[test]
fn a_round_is_one_statement_and_a_delivered_row_is_remembered_as_done() {
    let q = queue();
    let (a, b) = (delivery(1, 0), delivery(2, 0));
    enqueue(&q, &a);
    enqueue(&q, &b);
    // The lease, then the outcomes with their records, each committed as the engine does.
    q.reschedule(&a.delivery_id, 0, 500);
    q.reschedule(&b.delivery_id, 0, 500);
    q.commit();
    assert!(q.due(100, 10).is_empty(), "leased rows are not due");
    let before = q.sql.0.total_changes();
    q.remove(&a.delivery_id, 100);
    q.record(&attempt(&a, 1, AttemptOutcome::Delivered));
    q.reschedule(&b.delivery_id, 1, 300);
    q.record(&attempt(&b, 1, AttemptOutcome::Retry));
    q.commit();
    assert_eq!(
        q.sql.0.total_changes() - before,
        2,
        "both rows changed, by one statement"
    );
    assert_eq!(q.depth(), 1);
    assert_eq!(q.next_due(), Some(300));
    let due = q.due(300, 10);
    assert_eq!(
        (ids(&due), due[0].attempts),
        (ids(std::slice::from_ref(&b)), 1)
    );
    assert!(
        !enqueue(&q, &a),
        "a delivery done recently is not queued again"
    );
    let pending = q.unrecorded(100);
    let mut got: Vec<_> = pending
        .attempts
        .iter()
        .map(|r| (r.delivery_id.clone(), r.attempt))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![(a.delivery_id.clone(), 1), (b.delivery_id.clone(), 1)]
    );
    assert_eq!(
        pending.attempts[0].response_body.as_deref(),
        Some("ok, \"quoted\", with a comma")
    );
    q.recorded(&pending);
    assert!(q.unrecorded(100).is_empty());
}

#[test]
fn records_wait_in_order_and_those_added_during_a_flush_stay() {
    let q = queue();
    let d = delivery(1, 0);
    enqueue(&q, &d);
    q.reschedule(&d.delivery_id, 1, 50);
    q.record(&attempt(&d, 1, AttemptOutcome::Retry));
    q.commit();
    q.reschedule(&d.delivery_id, 2, 90);
    q.record(&attempt(&d, 2, AttemptOutcome::Retry));
    q.commit();
    let taken = q.unrecorded(100);
    assert_eq!(
        taken.attempts.iter().map(|r| r.attempt).collect::<Vec<_>>(),
        vec![1, 2]
    );
    // A third attempt while the first two are on their way to the shard.
    q.remove(&d.delivery_id, 120);
    q.record(&attempt(&d, 3, AttemptOutcome::Delivered));
    q.commit();
    q.recorded(&taken);
    let left = q.unrecorded(100);
    assert_eq!(
        left.attempts.iter().map(|r| r.attempt).collect::<Vec<_>>(),
        vec![3]
    );
    q.recorded(&left);
    assert!(q.unrecorded(100).is_empty());
}

#[test]
fn a_manual_retry_queues_a_done_delivery_again_and_keeps_its_records() {
    let q = queue();
    let d = delivery(1, 0);
    enqueue(&q, &d);
    q.remove(&d.delivery_id, 100);
    q.record(&attempt(&d, 1, AttemptOutcome::Failed));
    q.commit();
    assert_eq!(q.depth(), 0);
    let mut manual = d.clone();
    manual.manual = Some("admin".into());
    manual.attempts = 1;
    manual.due_at = 200;
    assert!(enqueue(&q, &manual));
    assert!(
        !enqueue(&q, &manual),
        "a manual retry already queued is not queued twice"
    );
    assert_eq!(q.due(200, 10), vec![manual]);
    assert_eq!(
        q.unrecorded(100).attempts.len(),
        1,
        "the first attempt's record stays owed"
    );
}

#[test]
fn pruning_forgets_old_done_rows_once_their_records_are_written() {
    let q = queue();
    let (a, b, c) = (delivery(1, 0), delivery(2, 0), delivery(3, 0));
    q.enqueue_all(&[a.clone(), b.clone(), c.clone()]);
    q.remove(&a.delivery_id, 10);
    q.remove(&b.delivery_id, 10);
    q.record(&attempt(&b, 1, AttemptOutcome::Delivered));
    q.commit();
    q.prune_done(10 + DONE_RETENTION_MS + 1);
    // `a` is forgotten (queued again if it comes back); `b` waits for its record; `c` is queued.
    assert!(enqueue(&q, &a));
    assert!(!enqueue(&q, &b));
    assert_eq!(q.depth(), 2);
}

#[test]
fn the_outbox_table_is_read_only_while_it_may_hold_something() {
    let q = queue();
    assert!(q.outbox(10).is_empty());
    q.push_outbox(&[
        "{\"kind\":\"x\"}".to_string(),
        "{\"kind\":\"y\"}".to_string(),
    ]);
    let rows = q.outbox(10);
    assert_eq!(
        rows.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>(),
        ["{\"kind\":\"x\"}", "{\"kind\":\"y\"}"]
    );
    q.drop_outbox_through(rows[0].0);
    assert_eq!(q.outbox(10).len(), 1);
    q.drop_outbox_through(rows[1].0);
    assert!(q.outbox(10).is_empty());
    // Known empty now: a row written behind the store's back is not looked for.
    q.sql
        .0
        .execute("INSERT INTO outbox (record) VALUES ('{}')", [])
        .unwrap();
    assert!(q.outbox(10).is_empty());
}

#[test]
fn the_layout_before_moves_into_deliveries_once() {
    let sql = Memory::new();
    let old = delivery(1, 40);
    let body = serde_json::to_string(&old).unwrap();
    sql.0
        .execute_batch(
            "CREATE TABLE queue (delivery_id TEXT PRIMARY KEY, due_at INTEGER NOT NULL, \
             attempts INTEGER NOT NULL, body TEXT NOT NULL);
             CREATE INDEX queue_by_due ON queue (due_at);
             CREATE TABLE done (delivery_id TEXT PRIMARY KEY, done_at INTEGER NOT NULL);
             CREATE INDEX done_by_time ON done (done_at);
             CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL);
             INSERT INTO outbox (record) VALUES ('{\"kind\":\"attempt\"}');",
        )
        .unwrap();
    sql.0
        .execute(
            "INSERT INTO queue VALUES (?1, 40, 2, ?2)",
            rusqlite::params![old.delivery_id.as_str(), body],
        )
        .unwrap();
    let finished = delivery(2, 0);
    sql.0
        .execute(
            "INSERT INTO done VALUES (?1, 30)",
            [finished.delivery_id.as_str()],
        )
        .unwrap();
    let q = SqlQueue::new(sql);
    q.migrate().unwrap();
    q.migrate().unwrap();
    let due = q.due(40, 10);
    assert_eq!((ids(&due), due[0].attempts), (ids(&[old]), 2));
    assert!(
        !enqueue(&q, &finished),
        "a delivery done before the move is still done"
    );
    assert_eq!(q.depth(), 1);
    assert_eq!(q.outbox(10).len(), 1, "the outbox table is kept as it was");
    let tables: Vec<Name> = q
        .sql
        .query(
            "SELECT name FROM sqlite_master WHERE name IN ('queue', 'done')",
            &[],
        )
        .unwrap();
    assert!(tables.is_empty());
}

#[test]
fn a_purge_forgets_everything() {
    let q = queue();
    let d = delivery(1, 0);
    enqueue(&q, &d);
    q.put("breaker", &1);
    q.push_outbox(&["{}".to_string()]);
    q.clear();
    assert_eq!((q.depth(), q.outbox(10).len()), (0, 0));
    assert_eq!(q.get::<u32>("breaker"), None);
    assert!(enqueue(&q, &d), "nothing is remembered as done either");
}

#[test]
fn a_batch_is_queued_in_one_statement_each_delivery_once() {
    let q = queue();
    let (a, b) = (delivery(1, 10), delivery(2, 20));
    assert!(enqueue(&q, &a));
    let before = q.sql.0.total_changes();
    // `a` again and `b` twice: only `b` is new.
    assert_eq!(q.enqueue_all(&[a.clone(), b.clone(), b.clone()]), [20]);
    assert_eq!(q.sql.0.total_changes() - before, 1);
    assert_eq!(q.depth(), 2);
    assert_eq!(q.due(20, 10), vec![a, b]);
    assert!(q.enqueue_all(&[]).is_empty());
}
