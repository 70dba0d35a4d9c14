//! What a verdict does to a delivery: delivered, retried on the policy's schedule, failed;
//! the attempt records, manual retries and the auto-disable streak.

use super::*;
use crate::core::wire::TransportError;

#[test]
fn delivers_what_is_due_and_leaves_the_rest() {
    let c = clock();
    let w = World::new(&c, vec![]);
    w.push(delivery(1, 1_000));
    w.push(delivery(2, 5_000));
    let r = w.run(&settings(5, 5));
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.attempts[0].outcome, AttemptOutcome::Delivered);
    assert_eq!(r.attempts[0].status_code, Some(200));
    assert_eq!(r.next_wake, Some(5_000));
    assert_eq!(w.store.queue.borrow().len(), 1);
}

#[test]
fn every_attempt_is_handed_to_the_store_as_it_happens() {
    let c = clock();
    let w = World::new(&c, vec![status(500)]);
    w.push(delivery(1, 1_000));
    w.push(delivery(2, 1_000));
    let r = w.run(&settings(3, 10));
    assert_eq!(*w.store.records.borrow(), r.attempts);
    assert_eq!(r.attempts.len(), 2);
}

#[test]
fn fails_twice_then_delivers_with_the_policy_spacing() {
    let c = clock();
    let w = World::new(&c, vec![status(500), status(503)]);
    w.push(delivery(1, 1_000));
    let r1 = w.run(&settings(5, 10));
    assert_eq!(r1.attempts[0].outcome, AttemptOutcome::Retry);
    assert!(!r1.attempts[0].permanent);
    assert_eq!(
        r1.attempts[0].next_attempt_at,
        Some(1_105),
        "first interval 100 ms after the answer"
    );
    assert_eq!(r1.next_wake, Some(1_105));
    w.advance_to(1_105);
    let r2 = w.run(&settings(5, 10));
    assert_eq!(
        r2.attempts[0].next_attempt_at,
        Some(1_310),
        "second interval 200 ms"
    );
    w.advance_to(1_310);
    let r3 = w.run(&settings(5, 10));
    assert_eq!(r3.attempts[0].outcome, AttemptOutcome::Delivered);
    assert_eq!(r3.attempts[0].attempt, 3);
    assert_eq!(r3.next_wake, None);
    let attempts: Vec<_> = w
        .transport
        .sent
        .borrow()
        .iter()
        .map(|r| r.header("x-attempt").unwrap().to_string())
        .collect();
    assert_eq!(attempts, vec!["1", "2", "3"]);
}

#[test]
fn a_4xx_fails_at_once() {
    let c = clock();
    let w = World::new(&c, vec![status(400)]);
    w.push(delivery(1, 1_000));
    let r = w.run(&settings(5, 5));
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.attempts[0].outcome, AttemptOutcome::Failed);
    assert_eq!(r.attempts[0].error.as_deref(), Some("HTTP 400"));
    assert_eq!(r.attempts[0].response_body.as_deref(), Some("body 400"));
    assert!(
        r.attempts[0].permanent,
        "a permanent verdict is marked (alerting reads it)"
    );
    assert!(w.store.queue.borrow().is_empty());
    assert_eq!(
        w.store.breaker().consecutive_failures,
        0,
        "a 4xx says the endpoint is up"
    );
}

#[test]
fn gives_up_after_max_retries() {
    let c = clock();
    let w = World::new(&c, vec![status(500), status(500)]);
    w.push(delivery(1, 1_000));
    w.run(&settings(1, 10));
    w.advance_to(10_000);
    let r = w.run(&settings(1, 10));
    assert_eq!(r.attempts[0].outcome, AttemptOutcome::Failed);
    assert_eq!(
        r.attempts[0].error.as_deref(),
        Some("gave up after 2 attempts: HTTP 500")
    );
    assert!(w.store.queue.borrow().is_empty());
}

#[test]
fn retry_after_overrides_the_schedule() {
    let c = clock();
    let w = World::new(
        &c,
        vec![Ok(HttpResponse {
            status: 429,
            headers: vec![("Retry-After".into(), "3".into())],
            body: String::new(),
        })],
    );
    w.push(delivery(1, 1_000));
    let r = w.run(&settings(5, 5));
    assert_eq!(r.attempts[0].next_attempt_at, Some(1_005 + 3_000));
}

#[test]
fn network_errors_and_timeouts_are_retried() {
    let c = clock();
    let w = World::new(
        &c,
        vec![
            Err(TransportError::Network("connection refused".into())),
            Err(TransportError::Timeout { after_ms: 1_000 }),
        ],
    );
    w.push(delivery(1, 1_000));
    let r = w.run(&settings(5, 5));
    assert_eq!(r.attempts[0].outcome, AttemptOutcome::Retry);
    assert_eq!(r.attempts[0].status_code, None);
    assert_eq!(
        r.attempts[0].error.as_deref(),
        Some("network error: connection refused")
    );
    w.advance_to(2_000);
    let r = w.run(&settings(5, 5));
    assert_eq!(
        r.attempts[0].error.as_deref(),
        Some("timed out after 1000 ms")
    );
}

#[test]
fn an_unbuildable_request_fails_without_touching_the_breaker() {
    let c = clock();
    let w = World::new(&c, vec![]);
    let mut d = delivery(1, 1_000);
    d.payload = "unbuildable".into();
    w.push(d);
    let r = w.run(&settings(5, 1));
    assert_eq!(r.attempts[0].outcome, AttemptOutcome::Failed);
    assert!(r.attempts[0]
        .error
        .as_deref()
        .unwrap()
        .contains("bad config"));
    assert!(w.transport.sent.borrow().is_empty());
    assert_eq!(w.store.breaker(), Breaker::default());
}

#[test]
fn decide_table() {
    let p = settings(2, 5).retry;
    let t = |ra| Verdict::Transient {
        error: "HTTP 500".into(),
        retry_after_ms: ra,
    };
    assert_eq!(
        decide(&p, 1, false, &Verdict::Delivered, 0, 0.5),
        Outcome::Delivered
    );
    assert_eq!(
        decide(&p, 1, false, &t(None), 0, 0.5),
        Outcome::RetryAt(100)
    );
    assert_eq!(
        decide(&p, 2, false, &t(None), 0, 0.5),
        Outcome::RetryAt(200)
    );
    assert_eq!(
        decide(&p, 1, false, &t(Some(7)), 0, 0.5),
        Outcome::RetryAt(7)
    );
    assert!(matches!(
        decide(&p, 3, false, &t(None), 0, 0.5),
        Outcome::Failed(_)
    ));
    assert_eq!(
        decide(
            &p,
            1,
            false,
            &Verdict::Permanent {
                error: "HTTP 404".into()
            },
            0,
            0.5
        ),
        Outcome::Failed("HTTP 404".into())
    );
}

#[test]
fn a_manual_retry_is_one_attempt_and_says_who_asked() {
    let c = clock();
    let w = World::new(&c, vec![status(503)]);
    let mut d = delivery(1, 1_000);
    d.attempts = 6;
    d.manual = Some("admin".into());
    w.push(d);
    let r = w.run(&settings(5, 10));
    assert_eq!(r.attempts[0].attempt, 7);
    assert_eq!(r.attempts[0].outcome, AttemptOutcome::Failed);
    assert_eq!(
        r.attempts[0].error.as_deref(),
        Some("manual retry failed: HTTP 503")
    );
    assert_eq!(r.attempts[0].requested_by.as_deref(), Some("admin"));
    assert!(w.store.queue.borrow().is_empty(), "not rescheduled");
}

#[test]
fn auto_disables_after_consecutive_failures_and_stops_sending() {
    let c = clock();
    // 400s fail at once (no retry) and do not trip the breaker: only auto-disable stops them.
    let w = World::new(
        &c,
        vec![
            status(400),
            status(200),
            status(400),
            status(400),
            status(400),
        ],
    );
    for n in 1..=6 {
        w.push(delivery(n, 1_000));
    }
    let mut s = settings(5, 100);
    s.disable_after_failures = 3;
    let r = w.run(&s);
    // 400 (1), 200 resets, 400 (1), 400 (2), 400 (3) → disabled; the sixth is never sent.
    assert_eq!(r.attempts.len(), 5);
    assert_eq!(r.auto_disabled, Some(3));
    assert_eq!(r.next_wake, None);
    assert_eq!(w.transport.sent.borrow().len(), 5);
    assert_eq!(w.store.queue.borrow().len(), 1, "the queue is kept");
    assert_eq!(*w.wakeup.0.borrow().last().unwrap(), None);
}

/// The streak phase alone: failures count up from the stored streak, a delivery resets it,
/// and the threshold (0 = never) says when to disable.
#[test]
fn the_streak_counts_failures_in_order_and_a_delivery_resets_it() {
    let clock = clock();
    let w = World::new(&clock, vec![]);
    let record = |outcome| AttemptRecord {
        id: crate::core::ids::AttemptId::generate(1, 1),
        delivery_id: DeliveryId::generate(1, 1),
        tenant_id: TenantId::parse("acme").unwrap(),
        event_id: EventId::parse("evt-1").unwrap(),
        attempt: 1,
        started_at: 0,
        duration_ms: 0,
        status_code: None,
        outcome,
        error: None,
        response_body: None,
        next_attempt_at: None,
        requested_by: None,
        request_headers: None,
        permanent: false,
        shard: Default::default(),
    };
    let (failed, delivered) = (
        record(AttemptOutcome::Failed),
        record(AttemptOutcome::Delivered),
    );
    let mut s = settings(3, 10);
    w.store.streak.set(2);
    assert_eq!(
        super::settle::streak(&w.store, &s, std::slice::from_ref(&failed)),
        None
    );
    assert_eq!(w.store.streak.get(), 3);
    s.disable_after_failures = 5;
    let two = [failed.clone(), record(AttemptOutcome::Retry)];
    assert_eq!(super::settle::streak(&w.store, &s, &two), Some(5));
    let reset = [failed.clone(), delivered, failed];
    assert_eq!(super::settle::streak(&w.store, &s, &reset), None);
    assert_eq!(w.store.streak.get(), 1);
}
