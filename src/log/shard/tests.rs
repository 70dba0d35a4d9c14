//! A log shard's operations on a real SQLite: storing idempotently, the hand-off outbox,
//! attempt records, manual retries, the reads the API pages through, and retention's view.

use super::*;
use crate::core::engine::AttemptOutcome;
use crate::core::ids::AttemptId;
use crate::log::protocol::NewEvent;
use crate::log::rows::NewDelivery;
use crate::log::sql::testing::Memory;

const NOW: Millis = 1_764_000_000_000;
const SHARD: ShardRef = ShardRef {
    bucket: 20_416,
    slot: 1,
};
/// No count or byte limit on a hand-off run.
const ALL: (usize, usize) = (1_000, usize::MAX);

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn dlv(n: u128) -> DeliveryId {
    DeliveryId::generate(NOW as u64, n)
}

fn des(c: char) -> DestinationId {
    DestinationId::parse(&format!("des_{}", c.to_string().repeat(26))).unwrap()
}

fn event(id: &str, at: Millis, data: &str) -> EventRow {
    EventRow {
        id: EventId::parse(id).unwrap(),
        topic: "order.created".into(),
        data: data.into(),
        metadata: r#"{"region":"eu"}"#.into(),
        created_at: at,
    }
}

fn new(id: DeliveryId, destination: DestinationId, status: &str) -> NewDelivery {
    NewDelivery {
        id,
        destination_id: destination,
        status: DeliveryStatus::parse(status).expect("a delivery status"),
    }
}

fn snapshot(d: DestinationId, at: Millis) -> Snapshot {
    Snapshot {
        destination_id: d.clone(),
        updated_at: at,
        row: format!(r#"{{"id":"{d}","at":{at}}}"#),
    }
}

fn shard(db: &Memory) -> Shard<'_, Memory> {
    let s = Shard::new(db);
    s.migrate().unwrap();
    s
}

fn attempt(delivery: &DeliveryId, n: u32, outcome: AttemptOutcome, at: Millis) -> AttemptRecord {
    AttemptRecord {
        id: AttemptId::generate(
            at as u64,
            u128::from(n) + delivery.as_str().len() as u128 * 1000,
        ),
        delivery_id: delivery.clone(),
        tenant_id: tenant(),
        event_id: EventId::parse("e1").unwrap(),
        attempt: n,
        started_at: at,
        duration_ms: 12,
        status_code: Some(if outcome == AttemptOutcome::Delivered {
            200
        } else {
            500
        }),
        outcome,
        error: (outcome != AttemptOutcome::Delivered).then(|| "HTTP 500".into()),
        response_body: Some("{}".into()),
        next_attempt_at: (outcome == AttemptOutcome::Retry).then_some(at + 1_000),
        requested_by: None,
        request_headers: Some(vec![("content-type".into(), "application/json".into())]),
        permanent: false,
        shard: SHARD,
    }
}

#[test]
fn a_batch_stores_each_event_once_in_order() {
    let db = Memory::new();
    let s = shard(&db);
    let item = |id: &str, delivery: u128| NewEvent {
        event: event(id, NOW, "{}"),
        deliveries: vec![new(dlv(delivery), des('a'), "pending")],
        claim: false,
    };
    // e2 twice in one call: stored once, the second answered with the first's deliveries.
    let batch = [item("e1", 1), item("e2", 2), item("e2", 3)];
    let stored = s.store_all(&batch, &[snapshot(des('a'), 5)], NOW).unwrap();
    let created: Vec<bool> = stored.iter().map(|x| x.created).collect();
    assert_eq!(created, vec![true, true, false]);
    assert_eq!(stored[2].deliveries[0].id, dlv(2));
    let owed = s.due_handoffs(&tenant(), SHARD, NOW, ALL).unwrap();
    assert_eq!(owed.len(), 1, "one destination");
    assert_eq!(owed[0].deliveries.len(), 2, "e1 and e2, each once");
}

#[test]
fn a_batch_writes_each_events_deliveries_to_that_event() {
    let db = Memory::new();
    let s = shard(&db);
    let mut e1 = event("e1", NOW, "{}");
    e1.topic = "order.paid".into();
    let batch = [
        NewEvent {
            event: e1,
            deliveries: vec![
                new(dlv(1), des('a'), "pending"),
                new(dlv(2), des('b'), "filtered"),
            ],
            claim: false,
        },
        NewEvent {
            event: event("e2", NOW + 5, "{}"),
            deliveries: vec![
                new(dlv(3), des('a'), "pending"),
                new(dlv(4), des('b'), "filtered"),
                new(dlv(5), des('c'), "skipped"),
            ],
            claim: false,
        },
        NewEvent {
            event: event("e3", NOW, "{}"),
            deliveries: vec![],
            claim: false,
        },
    ];
    s.store_all(&batch, &[snapshot(des('a'), 5)], NOW).unwrap();
    let rows = |id: &str| {
        s.event(&EventId::parse(id).unwrap())
            .unwrap()
            .unwrap()
            .deliveries
    };
    let one = rows("e1");
    let ids: Vec<_> = one
        .iter()
        .map(|d| (d.id.clone(), d.topic.as_str(), d.created_at))
        .collect();
    assert_eq!(
        ids,
        vec![(dlv(1), "order.paid", NOW), (dlv(2), "order.paid", NOW)]
    );
    let two: Vec<_> = rows("e2")
        .into_iter()
        .map(|d| (d.id, d.event_id.to_string(), d.created_at))
        .collect();
    assert_eq!(two.len(), 3);
    assert!(
        two.iter().all(|(_, e, at)| e == "e2" && *at == NOW + 5),
        "{two:?}"
    );
    assert!(rows("e3").is_empty());
    // Only the pending ones are owed to their schedulers; the others are counted, across events.
    let owed = s.due_handoffs(&tenant(), SHARD, NOW, ALL).unwrap();
    let owed: Vec<_> = owed
        .iter()
        .flat_map(|h| h.deliveries.iter().map(|d| d.delivery_id.clone()))
        .collect();
    assert_eq!(owed, vec![dlv(1), dlv(3)]);
    assert_eq!(
        s.counts().unwrap(),
        vec![
            (des('b'), DeliveryStatus::Filtered, 2),
            (des('c'), DeliveryStatus::Skipped, 1)
        ]
    );
}

#[test]
fn an_event_is_stored_once_and_a_repeat_gets_the_first_deliveries() {
    let db = Memory::new();
    let s = shard(&db);
    let e = event("e1", NOW, r#"{"zebra": 1, "alpha": 1.0}"#);
    let first = vec![
        new(dlv(1), des('a'), "pending"),
        new(dlv(2), des('b'), "filtered"),
    ];
    let stored = s.store(&e, &first, &[snapshot(des('a'), 5)], NOW).unwrap();
    assert!(stored.created);
    assert_eq!(stored.deliveries.len(), 2);
    // The same id again, routed differently: nothing new, the first deliveries come back.
    let again = s
        .store(&e, &[new(dlv(3), des('c'), "pending")], &[], NOW + 1)
        .unwrap();
    assert!(!again.created);
    let ids: Vec<_> = again.deliveries.iter().map(|d| d.id.clone()).collect();
    assert_eq!(ids, vec![dlv(1), dlv(2)]);
    // Only the pending delivery is owed to a scheduler; the filtered one is counted.
    let owed = s.due_handoffs(&tenant(), SHARD, NOW, ALL).unwrap();
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].destination.destination_id, des('a'));
    let q = &owed[0].deliveries[0];
    assert_eq!(
        q.payload, r#"{"zebra": 1, "alpha": 1.0}"#,
        "the text as published"
    );
    assert_eq!((q.shard, q.attempts, q.manual.clone()), (SHARD, 0, None));
    assert_eq!(q.metadata.get("region").map(String::as_str), Some("eu"));
    let counts = s.counts().unwrap();
    assert_eq!(counts, vec![(des('b'), DeliveryStatus::Filtered, 1)]);
    s.counted(&counts).unwrap();
    assert!(s.counts().unwrap().is_empty());
}

/// A fan-out's deliveries go in three statements whatever their number (rows, hand-offs,
/// counts), and read back as one at a time would have written them.
#[test]
fn a_fan_out_is_stored_in_a_fixed_number_of_statements() {
    let db = Memory::new();
    let s = shard(&db);
    let e = event("e1", NOW, "{}");
    let mut fan_out: Vec<NewDelivery> = ('a'..='h')
        .enumerate()
        .map(|(i, c)| new(dlv(i as u128 + 1), des(c), "pending"))
        .collect();
    fan_out.push(new(dlv(20), des('x'), "filtered"));
    fan_out.push(new(dlv(21), des('y'), "filtered"));
    fan_out.push(new(dlv(22), des('y'), "skipped"));
    let snapshots: Vec<Snapshot> = ('a'..='h').map(|c| snapshot(des(c), 5)).collect();
    s.refresh(&snapshots).unwrap();
    let before = db.statements();
    let stored = s.store(&e, &fan_out, &[], NOW).unwrap();
    // The event, then the deliveries, their hand-offs and their counts: 4, not 1 + 2 × 11.
    assert_eq!(db.statements() - before, 4);
    assert!(stored.created);
    let rows = s.deliveries_of(&e.id).unwrap();
    assert_eq!(rows.len(), 11);
    for d in &fan_out {
        let row = rows.iter().find(|r| r.id == d.id).expect("stored");
        assert_eq!(
            (&row.destination_id, row.status),
            (&d.destination_id, d.status)
        );
    }
    let owed = s.due_handoffs(&tenant(), SHARD, NOW, ALL).unwrap();
    let mut destinations: Vec<_> = owed
        .iter()
        .map(|h| h.destination.destination_id.clone())
        .collect();
    destinations.sort();
    assert_eq!(destinations, ('a'..='h').map(des).collect::<Vec<_>>());
    assert!(owed.iter().all(|h| h.deliveries.len() == 1));
    // Counts add to what is there: a second event's filtered delivery to x makes 2.
    let more = [
        new(dlv(30), des('x'), "filtered"),
        new(dlv(31), des('a'), "pending"),
    ];
    s.store(&event("e2", NOW, "{}"), &more, &[], NOW).unwrap();
    assert_eq!(
        s.counts().unwrap(),
        vec![
            (des('x'), DeliveryStatus::Filtered, 2),
            (des('y'), DeliveryStatus::Filtered, 1),
            (des('y'), DeliveryStatus::Skipped, 1),
        ]
    );
}

#[test]
fn hand_offs_leave_the_outbox_only_when_taken() {
    let db = Memory::new();
    let s = shard(&db);
    for (i, d) in ['a', 'a', 'b'].into_iter().enumerate() {
        let e = event(&format!("e{i}"), NOW, "{}");
        s.store(
            &e,
            &[new(dlv(i as u128), des(d), "pending")],
            &[snapshot(des(d), 1)],
            NOW,
        )
        .unwrap();
    }
    let owed = s.due_handoffs(&tenant(), SHARD, NOW, ALL).unwrap();
    assert_eq!(
        owed.iter().map(|h| h.deliveries.len()).collect::<Vec<_>>(),
        vec![2, 1]
    );
    // b's scheduler could not be reached: later. a's took them.
    s.postpone(&des('b'), NOW + 5_000).unwrap();
    let taken: Vec<_> = owed[0]
        .deliveries
        .iter()
        .map(|d| d.delivery_id.clone())
        .collect();
    s.handed_off(&taken).unwrap();
    assert!(s
        .due_handoffs(&tenant(), SHARD, NOW, ALL)
        .unwrap()
        .is_empty());
    assert_eq!(s.next_handoff().unwrap(), Some(NOW + 5_000));
    assert_eq!(
        s.due_handoffs(&tenant(), SHARD, NOW + 5_000, ALL)
            .unwrap()
            .len(),
        1
    );
    // A newer snapshot replaces an older one, never the other way round.
    let e = event("e9", NOW, "{}");
    s.store(
        &e,
        &[new(dlv(9), des('b'), "pending")],
        &[snapshot(des('b'), 7)],
        NOW,
    )
    .unwrap();
    let e = event("e10", NOW, "{}");
    s.store(
        &e,
        &[new(dlv(10), des('b'), "pending")],
        &[snapshot(des('b'), 3)],
        NOW,
    )
    .unwrap();
    let owed = s.due_handoffs(&tenant(), SHARD, NOW + 5_000, ALL).unwrap();
    assert_eq!(owed[0].destination.updated_at, 7);
    // A deleted destination: what it was owed fails, and leaves the outbox.
    s.destination_gone(&des('b'), NOW + 6_000).unwrap();
    assert!(s
        .due_handoffs(&tenant(), SHARD, NOW + 9_000, ALL)
        .unwrap()
        .is_empty());
    assert_eq!(
        s.delivery(&dlv(2)).unwrap().unwrap().0.status,
        DeliveryStatus::Failed
    );
    assert_eq!(
        s.pending().unwrap(),
        2,
        "a's two are still pending until recorded"
    );
}

#[test]
fn attempts_are_recorded_once_and_never_move_a_delivery_backwards() {
    let db = Memory::new();
    let s = shard(&db);
    let e = event("e1", NOW, "{}");
    s.store(&e, &[new(dlv(1), des('a'), "pending")], &[], NOW)
        .unwrap();
    let first = attempt(&dlv(1), 1, AttemptOutcome::Retry, NOW + 10);
    let second = attempt(&dlv(1), 2, AttemptOutcome::Delivered, NOW + 1_010);
    s.record(&[first.clone(), second.clone()]).unwrap();
    // The first record arrives again, late: stored once, and the delivery stays delivered.
    s.record(&[first]).unwrap();
    let (row, attempts) = s.delivery(&dlv(1)).unwrap().unwrap();
    assert_eq!((row.status, row.attempts), (DeliveryStatus::Delivered, 2));
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].trigger, "scheduled");
    assert_eq!(
        attempts[1].request_headers.as_deref(),
        Some(r#"[["content-type","application/json"]]"#)
    );
    assert_eq!(s.pending().unwrap(), 0);
    let detail = s.event(&e.id).unwrap().unwrap();
    assert_eq!((detail.deliveries.len(), detail.attempts.len()), (1, 2));
    assert!(s.event(&EventId::parse("nope").unwrap()).unwrap().is_none());
}

#[test]
fn one_call_records_several_deliveries_attempts_with_every_field() {
    let db = Memory::new();
    let s = shard(&db);
    let e = event("e1", NOW, "{}");
    let deliveries: Vec<_> = (1..=3).map(|i| new(dlv(i), des('a'), "pending")).collect();
    s.store(&e, &deliveries, &[], NOW).unwrap();
    let mut manual = attempt(&dlv(3), 1, AttemptOutcome::Failed, NOW + 30);
    manual.requested_by = Some("admin".into());
    manual.response_body = Some("caf\u{e9} \"quoted\"".into());
    manual.status_code = None;
    let records = [
        attempt(&dlv(1), 1, AttemptOutcome::Delivered, NOW + 10),
        attempt(&dlv(2), 1, AttemptOutcome::Retry, NOW + 20),
        manual.clone(),
    ];
    s.record(&records).unwrap();
    let states: Vec<_> = (1..=3)
        .map(|i| {
            let (row, attempts) = s.delivery(&dlv(i)).unwrap().unwrap();
            (row.status, row.next_attempt_at, attempts.len())
        })
        .collect();
    assert_eq!(
        states,
        [
            (DeliveryStatus::Delivered, None, 1),
            (DeliveryStatus::Pending, Some(NOW + 1_020), 1),
            (DeliveryStatus::Failed, None, 1),
        ]
    );
    let (row, attempts) = s.delivery(&dlv(3)).unwrap().unwrap();
    let a = &attempts[0];
    assert_eq!(
        (a.trigger.as_str(), a.requested_by.as_deref(), a.status_code),
        ("manual", Some("admin"), None)
    );
    assert_eq!(a.response_body, manual.response_body);
    assert_eq!((a.duration_ms, a.started_at), (12, NOW + 30));
    assert_eq!(row.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(row.updated_at, NOW + 42);
}

#[test]
fn manual_retries_mark_owe_and_respect_the_cap_and_scope() {
    let db = Memory::new();
    let s = shard(&db);
    for i in 0..5u128 {
        let e = event(&format!("e{i}"), NOW + i as i64, "{}");
        let d = if i == 4 { des('b') } else { des('a') };
        s.store(
            &e,
            &[new(dlv(i), d.clone(), "pending")],
            &[snapshot(d, 1)],
            NOW,
        )
        .unwrap();
        s.handed_off(&[dlv(i)]).unwrap();
        s.record(&[attempt(&dlv(i), 1, AttemptOutcome::Failed, NOW + 100)])
            .unwrap();
    }
    // One delivery, with a cap of 1: once, then no more.
    let one = RetryScope::Delivery(DeliveryScope { id: dlv(0) });
    assert_eq!(
        s.retry(&one, 1, "admin", NOW + 200).unwrap().ids,
        vec![dlv(0)]
    );
    let owed = s.due_handoffs(&tenant(), SHARD, NOW + 200, ALL).unwrap();
    assert_eq!(owed[0].deliveries[0].manual.as_deref(), Some("admin"));
    assert_eq!(owed[0].deliveries[0].attempts, 1);
    s.record(&[attempt(&dlv(0), 2, AttemptOutcome::Failed, NOW + 300)])
        .unwrap();
    assert!(
        s.retry(&one, 1, "admin", NOW + 400).unwrap().ids.is_empty(),
        "cap reached"
    );
    // A destination's failures in a range, oldest first, at most `limit`, saying more remain.
    let range = RetryScope::Destination(DestinationScope {
        id: des('a'),
        since: NOW + 1,
        until: NOW + 10,
        limit: 1,
    });
    let r = s.retry(&range, 10, "portal:alice", NOW + 500).unwrap();
    assert_eq!((r.ids, r.more), (vec![dlv(1)], true));
    // An event's failures, only to the destinations allowed.
    let ev = RetryScope::Event(EventScope {
        id: EventId::parse("e4").unwrap(),
        destinations: vec![des('a')],
    });
    assert!(s.retry(&ev, 10, "admin", NOW + 600).unwrap().ids.is_empty());
    let ev = RetryScope::Event(EventScope {
        id: EventId::parse("e4").unwrap(),
        destinations: vec![des('b')],
    });
    assert_eq!(
        s.retry(&ev, 10, "admin", NOW + 600).unwrap().ids,
        vec![dlv(4)]
    );
    assert_eq!(s.delivery(&dlv(4)).unwrap().unwrap().0.manual_retries, 1);
}

#[test]
fn a_destinations_deliveries_page_newest_first() {
    let db = Memory::new();
    let s = shard(&db);
    for i in 0..5u128 {
        let e = event(&format!("e{i}"), NOW, "{}");
        let status = if i % 2 == 0 { "pending" } else { "skipped" };
        s.store(&e, &[new(dlv(i), des('a'), status)], &[], NOW)
            .unwrap();
    }
    let page = s.destination_deliveries(&des('a'), None, None, 2).unwrap();
    assert_eq!(
        page.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        vec![dlv(4), dlv(3), dlv(2)]
    );
    let next = s
        .destination_deliveries(&des('a'), None, Some(&dlv(3)), 2)
        .unwrap();
    assert_eq!(
        next.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        vec![dlv(2), dlv(1), dlv(0)]
    );
    let skipped = s
        .destination_deliveries(&des('a'), Some("skipped"), None, 10)
        .unwrap();
    assert_eq!(skipped.len(), 2);
    assert!(s
        .destination_deliveries(&des('b'), None, None, 10)
        .unwrap()
        .is_empty());
}

#[test]
fn the_event_log_searches_through_its_indexes() {
    let db = Memory::new();
    let s = shard(&db);
    for i in 0..2_000i64 {
        let topic = if i % 2 == 0 {
            "order.created"
        } else {
            "order.paid"
        };
        let mut e = event(
            &format!("evt-{i}"),
            NOW + i,
            &format!(r#"{{"order":{{"id":"ord_{i}"}},"note":"text {i}"}}"#),
        );
        e.topic = topic.into();
        let status = if i % 50 == 0 { "filtered" } else { "pending" };
        s.store(&e, &[new(dlv(i as u128), des('a'), status)], &[], NOW)
            .unwrap();
    }
    db.0.execute_batch("ANALYZE").unwrap();
    let base = EventQuery {
        newest_first: true,
        limit: 3,
        ..Default::default()
    };
    let ids = |q: &EventQuery| -> Vec<String> {
        s.search(q)
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.event.id.to_string())
            .collect()
    };
    assert_eq!(
        ids(&base),
        vec!["evt-1999", "evt-1998", "evt-1997", "evt-1996"]
    );
    let paid = EventQuery {
        topic: Some("order.paid".into()),
        ..base.clone()
    };
    assert_eq!(ids(&paid)[0], "evt-1999");
    let filtered = EventQuery {
        status: Some("filtered".into()),
        ..base.clone()
    };
    assert_eq!(
        ids(&filtered),
        vec!["evt-1950", "evt-1900", "evt-1850", "evt-1800"]
    );
    let path = EventQuery {
        path_equals: Some(("$.order.id".into(), "ord_42".into())),
        ..base.clone()
    };
    assert_eq!(ids(&path), vec!["evt-42"]);
    let after = EventQuery {
        after: Some((NOW + 10, "evt-10".into())),
        ..base.clone()
    };
    assert_eq!(ids(&after), vec!["evt-9", "evt-8", "evt-7", "evt-6"]);
    let page = s.search(&base).unwrap();
    assert_eq!(page.events[0].deliveries.get("pending"), Some(&1));
    assert_eq!(
        page.scanned_to, None,
        "a search by indexed columns has no scan budget"
    );
    for q in [&base, &paid, &filtered, &after] {
        let (sql, values) = search_sql(q);
        let plan: Vec<String> =
            db.0.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(
                    rusqlite::params_from_iter(values.iter().map(|v| match v {
                        SqlValue::Str(s) => rusqlite::types::Value::Text(s.clone()),
                        SqlValue::Int(n) => rusqlite::types::Value::Integer(*n),
                    })),
                    |r| r.get::<_, String>(3),
                )
                .unwrap()
                .map(Result::unwrap)
                .collect();
        // A shard is one tenant's: with no condition the newest page is an ordered walk of
        // `events_by_time` that stops at the limit; never a scan of the table itself. A
        // search inside events scans the budgeted walk (a co-routine of at most
        // `SCAN_BUDGET` rows), not the table.
        let budgeted = plan.iter().any(|l| l.starts_with("CO-ROUTINE e"));
        assert!(
            plan.iter().all(|l| !l.starts_with("SCAN")
                || l.contains("USING INDEX")
                || l.contains("USING COVERING INDEX")
                || (budgeted && l == "SCAN e")),
            "{plan:?}"
        );
    }
}

#[test]
fn meta_values_round_trip() {
    let db = Memory::new();
    let s = shard(&db);
    assert_eq!(s.meta::<i64>("expires_at").unwrap(), None);
    s.set_meta("expires_at", &NOW).unwrap();
    s.set_meta("shard", &SHARD).unwrap();
    assert_eq!(s.meta::<i64>("expires_at").unwrap(), Some(NOW));
    assert_eq!(s.meta::<ShardRef>("shard").unwrap(), Some(SHARD));
}

#[test]
fn a_hand_off_run_reads_payloads_within_its_byte_budget() {
    let db = Memory::new();
    let s = shard(&db);
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(1_000));
    for i in 0..5u128 {
        let e = event(&format!("e{i}"), NOW, &big);
        s.store(
            &e,
            &[new(dlv(i), des('a'), "pending")],
            &[snapshot(des('a'), 1)],
            NOW,
        )
        .unwrap();
    }
    let count = |limits| -> usize {
        s.due_handoffs(&tenant(), SHARD, NOW, limits)
            .unwrap()
            .iter()
            .map(|h| h.deliveries.len())
            .sum()
    };
    assert_eq!(count((100, 2_500)), 2, "two 1 KiB payloads fit in 2.5 KB");
    assert_eq!(
        count((100, 10)),
        1,
        "the first always goes, whatever its size"
    );
    assert_eq!(count((3, usize::MAX)), 3);
    assert_eq!(count(ALL), 5);
}

#[test]
fn a_search_inside_events_examines_a_bounded_number_and_says_where_it_stopped() {
    use crate::log::search::SCAN_BUDGET;
    let db = Memory::new();
    let s = shard(&db);
    let n = SCAN_BUDGET as i64 * 2 + 10;
    for i in 0..n {
        let data = if i == 3 { r#"{"needle":true}"# } else { "{}" };
        s.store(&event(&format!("e{i:06}"), NOW + i, data), &[], &[], NOW)
            .unwrap();
    }
    let mut q = EventQuery {
        newest_first: true,
        limit: 10,
        contains: Some("needle".into()),
        ..Default::default()
    };
    // The needle is older than two budgets: two calls find nothing and say where they stopped.
    let mut calls = 0;
    let found = loop {
        calls += 1;
        let page = s.search(&q).unwrap();
        if !page.events.is_empty() {
            break page.events;
        }
        let (at, id) = page
            .scanned_to
            .expect("budget ran out: a position to continue from");
        q.after = Some((at, id));
    };
    assert_eq!(calls, 3);
    assert_eq!(found[0].event.id.as_str(), "e000003");
    // At the end of the shard there is nothing more to say.
    q.after = Some((NOW + 3, "e000003".into()));
    let last = s.search(&q).unwrap();
    assert!(last.events.is_empty() && last.scanned_to.is_none());
}
