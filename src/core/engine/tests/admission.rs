//! What the lease phase lets through: the circuit breaker, the lease and its wake-up, the
//! rate limit and the requests in flight.

use super::*;

#[test]
fn circuit_opens_holds_the_queue_probes_once_and_closes() {
    let c = clock();
    // Three failures open the circuit (threshold 3); the probe fails once more; then all is well.
    let w = World::new(&c, vec![status(500), status(500), status(500), status(500)]);
    for n in 1..=3 {
        w.push(delivery(n, 1_000));
    }
    let r = w.run(&settings(10, 3));
    assert_eq!(r.attempts.len(), 3);
    assert_eq!(r.transitions, vec![Transition::Opened]);
    assert_eq!(w.store.breaker().state, CircuitState::Open);
    let open_until = w.store.breaker().retry_at.unwrap();
    assert_eq!(
        r.next_wake,
        Some(open_until),
        "the queue waits for the cooldown"
    );

    // During the cooldown nothing is sent, even though deliveries are due.
    w.advance_to(open_until - 1);
    let r = w.run(&settings(10, 3));
    assert!(r.attempts.is_empty());
    assert_eq!(w.transport.sent.borrow().len(), 3);

    // After it: exactly one probe; it fails and the circuit re-opens.
    w.advance_to(open_until);
    let r = w.run(&settings(10, 3));
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.transitions, vec![Transition::Reopened]);
    let reopen_until = w.store.breaker().retry_at.unwrap();

    // The next probe succeeds: the circuit closes and everything waiting flows.
    w.advance_to(reopen_until + 10_000);
    let r = w.run(&settings(10, 3));
    assert_eq!(r.transitions, vec![Transition::Closed]);
    assert_eq!(r.attempts.len(), 3);
    assert!(r
        .attempts
        .iter()
        .all(|a| a.outcome == AttemptOutcome::Delivered));
    assert!(w.store.queue.borrow().is_empty());
    assert_eq!(w.transport.sent.borrow().len(), 7);
}

#[test]
fn the_lease_and_its_wakeup_are_persisted_before_sending() {
    let c = clock();
    let w = World::new(&c, vec![status(500)]);
    w.push(delivery(1, 1_000));
    w.run(&settings(5, 5));
    let wakes = w.wakeup.0.borrow();
    assert_eq!(
        wakes[0],
        Some(1_000 + 1_000 + LEASE_MARGIN_MS),
        "lease wake-up first"
    );
    assert_eq!(
        *wakes.last().unwrap(),
        Some(1_105),
        "then the real next attempt"
    );
}

#[test]
fn one_lease_wakeup_per_run_however_many_batches() {
    let c = clock();
    let w = World::new(&c, vec![]);
    for n in 1..=5 {
        w.push(delivery(n, 1_000));
    }
    let r = w.run(&settings(5, 5));
    assert_eq!(r.attempts.len(), 5);
    assert_eq!(
        *w.wakeup.0.borrow(),
        vec![Some(1_000 + 1_000 + LEASE_MARGIN_MS), None]
    );
}

#[test]
fn a_rate_limit_paces_the_queue() {
    let c = clock();
    let w = World::new(&c, vec![]);
    for n in 1..=10 {
        w.push(delivery(n, 1_000));
    }
    let mut s = settings(5, 5);
    s.rate_limit = Some(crate::core::rate_limit::RateLimit { per_second: 4.0 });
    let r = w.run(&s);
    assert_eq!(r.attempts.len(), 4, "a full bucket: one second's worth");
    let wake = r.next_wake.unwrap();
    assert!(
        wake > 1_000 && wake <= 1_300,
        "the next token in about 1/4 s, not at once: {wake}"
    );
    w.advance_to(wake);
    let r = w.run(&s);
    assert_eq!(r.attempts.len(), 1, "one token refilled");
}

#[test]
fn several_requests_in_flight_when_allowed() {
    let c = clock();
    let w = World::new(&c, vec![status(500), status(200), status(200)]);
    for n in 1..=7 {
        w.push(delivery(n, 1_000));
    }
    let mut s = settings(5, 10);
    s.max_in_flight = 3;
    let r = w.run(&s);
    assert_eq!(r.attempts.len(), 7, "all sent in rounds of three");
    assert_eq!(
        r.attempts
            .iter()
            .filter(|a| a.outcome == AttemptOutcome::Retry)
            .count(),
        1
    );
    assert_eq!(
        w.store.queue.borrow().len(),
        1,
        "the failed one waits for its retry"
    );
}

#[test]
fn a_round_reads_the_queue_once_and_settles_its_deliveries_in_one_commit() {
    let c = clock();
    let w = World::new(&c, vec![status(200), status(500), status(200), status(200)]);
    for n in 1..=4 {
        w.push(delivery(n, 1_000));
    }
    let mut s = settings(5, 10);
    s.max_in_flight = 4;
    let r = w.run(&s);
    assert_eq!(r.attempts.len(), 4, "all four sent in one round");
    // One read for the round, one finding nothing due after it; one commit of the four
    // leases, one of the four outcomes with their records.
    assert_eq!((w.store.reads.get(), w.store.commits.get()), (2, 2));
    assert_eq!(w.store.records.borrow().len(), 4);
    assert_eq!(w.store.queue.borrow().len(), 1, "the failed one waits");
}

#[test]
fn a_half_open_circuit_sends_one_probe_even_with_several_in_flight() {
    let c = clock();
    let w = World::new(&c, vec![status(500), status(500), status(500)]);
    for n in 1..=4 {
        w.push(delivery(n, 1_000));
    }
    let mut s = settings(10, 2);
    // Two requests at once, both fail: the circuit opens after the pair.
    s.max_in_flight = 2;
    let r = w.run(&s);
    assert_eq!(r.attempts.len(), 2);
    assert_eq!(w.store.breaker().state, CircuitState::Open);
    // After the cooldown, with room for four: exactly one probe; it fails and re-opens.
    s.max_in_flight = 4;
    w.advance_to(w.store.breaker().retry_at.unwrap());
    let r = w.run(&s);
    assert_eq!(r.transitions, vec![Transition::Reopened]);
    assert_eq!(
        w.transport.sent.borrow().len(),
        3,
        "one probe, not four requests"
    );
}

/// The lease phase alone: it takes what fits the room, reads and leases ahead (once per call),
/// sets the wake-up once, says what held the rest back, and gives back what it did not send.
#[test]
fn the_lease_phase_reads_ahead_takes_the_room_and_names_its_holds() {
    let clock = clock();
    let w = World::new(&clock, vec![]);
    for n in 0..3 {
        w.push(delivery(n, 1_000));
    }
    let ports = Ports {
        store: &w.store,
        transport: &w.transport,
        provider: &EchoProvider,
        clock: &clock,
        wakeup: &w.wakeup,
    };
    let mut s = settings(3, 10);
    let mut ahead = super::lease::Ahead::default();
    let leased = block_on(ahead.lease(&ports, &s, 1_000, (2, 50)));
    assert_eq!(leased.batches.len(), 2);
    assert!(!leased.holds.any());
    let lease_until = 1_000 + 1_000 + LEASE_MARGIN_MS;
    assert_eq!(*w.wakeup.0.borrow(), [Some(lease_until)]);
    assert_eq!(
        w.store.next_due(),
        Some(lease_until),
        "the third was read and leased ahead"
    );
    // The one read ahead goes next, without a read.
    w.push(delivery(3, 1_000));
    w.push(delivery(4, 1_000));
    let more = block_on(ahead.lease(&ports, &s, 1_000, (1, 50)));
    assert_eq!(more.batches.len(), 1);
    assert_eq!(w.store.reads.get(), 1);
    // Then a read. A bucket of one token lets one through and holds the next back; what was
    // leased and not sent is due again as it was.
    s.rate_limit = Some(crate::core::rate_limit::RateLimit { per_second: 1.0 });
    let paced = block_on(ahead.lease(&ports, &s, 1_000, (5, 50)));
    assert_eq!(paced.batches.len(), 1);
    assert_eq!(paced.holds.rate_wait, Some(2_000));
    assert!(paced.holds.any());
    assert_eq!(w.store.reads.get(), 2);
    assert_eq!(w.wakeup.0.borrow().len(), 1, "one lease wake-up per run");
    ahead.release(&w.store);
    w.store.commit();
    assert_eq!(w.store.next_due(), Some(1_000));
}

#[test]
fn a_run_has_at_most_six_requests_in_flight_whatever_max_in_flight_says() {
    let mut s = settings(5, 10);
    for (asked, at_once) in [(1, 1), (3, 3), (6, 6), (8, 6), (50, 6)] {
        s.max_in_flight = asked;
        assert_eq!(
            super::requests_at_once(&s),
            at_once,
            "max_in_flight {asked}"
        );
    }
    // Twenty due at max_in_flight 50: sent in rounds of six.
    let c = clock();
    let w = World::new(&c, vec![]);
    for n in 1..=20 {
        w.push(delivery(n, 1_000));
    }
    s.max_in_flight = 50;
    let r = w.run(&s);
    assert_eq!(r.attempts.len(), 20);
}

#[test]
fn one_at_a_time_reads_the_queue_once_per_six() {
    let c = clock();
    let w = World::new(&c, vec![]);
    for n in 1..=7 {
        w.push(delivery(n, 1_000));
    }
    let r = w.run(&settings(5, 10));
    assert_eq!(r.attempts.len(), 7);
    let order: Vec<_> = w
        .transport
        .sent
        .borrow()
        .iter()
        .map(|q| q.body.clone())
        .collect();
    let due_order: Vec<_> = (1..=7)
        .map(|n| delivery(n, 1_000).payload.into_bytes())
        .collect();
    assert_eq!(order, due_order, "sent in due order, one at a time");
    // Six read (and leased) ahead, then the seventh, then one read finding nothing due.
    assert_eq!(w.store.reads.get(), 3);
    assert_eq!(w.store.queue.borrow().len(), 0);
}
