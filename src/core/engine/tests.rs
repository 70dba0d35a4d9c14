//! The engine against in-memory fakes: queue, transport that fails on demand, clock.

use super::*;
use crate::core::breaker::{BreakerSettings, CircuitState};
use crate::core::retry::Backoff;
use crate::core::wire::{HttpResponse, TransportError};
use futures::executor::block_on;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

#[derive(Default)]
struct FakeStore {
    queue: RefCell<BTreeMap<DeliveryId, QueuedDelivery>>,
    breaker: RefCell<Breaker>,
    streak: Cell<u32>,
    bucket: RefCell<crate::core::rate_limit::Bucket>,
    records: RefCell<Vec<AttemptRecord>>,
}

impl QueueStore for FakeStore {
    fn due(&self, now: Millis, limit: usize) -> Vec<QueuedDelivery> {
        let mut due: Vec<_> = self
            .queue
            .borrow()
            .values()
            .filter(|d| d.due_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|d| (d.due_at, d.delivery_id.clone()));
        due.truncate(limit);
        due
    }
    fn reschedule(&self, id: &DeliveryId, attempts: u32, due_at: Millis) {
        if let Some(d) = self.queue.borrow_mut().get_mut(id) {
            d.attempts = attempts;
            d.due_at = due_at;
        }
    }
    fn remove(&self, id: &DeliveryId, _at: Millis) {
        self.queue.borrow_mut().remove(id);
    }
    fn record(&self, attempt: &AttemptRecord) {
        self.records.borrow_mut().push(attempt.clone());
    }
    fn next_due(&self) -> Option<Millis> {
        self.queue.borrow().values().map(|d| d.due_at).min()
    }
    fn breaker(&self) -> Breaker {
        self.breaker.borrow().clone()
    }
    fn save_breaker(&self, b: &Breaker) {
        *self.breaker.borrow_mut() = b.clone();
    }
    fn failure_streak(&self) -> u32 {
        self.streak.get()
    }
    fn save_failure_streak(&self, n: u32) {
        self.streak.set(n);
    }
    fn bucket(&self) -> crate::core::rate_limit::Bucket {
        self.bucket.borrow().clone()
    }
    fn save_bucket(&self, b: &crate::core::rate_limit::Bucket) {
        *self.bucket.borrow_mut() = b.clone();
    }
}

/// Answers from a script (then 200s), advancing the clock by 5 ms per request.
struct FakeTransport<'a> {
    script: RefCell<VecDeque<TransportResult>>,
    sent: RefCell<Vec<HttpRequest>>,
    clock: &'a FakeClock,
}

impl Transport for FakeTransport<'_> {
    async fn send(&self, request: HttpRequest, _timeout_ms: u64) -> TransportResult {
        self.sent.borrow_mut().push(request);
        self.clock.now.set(self.clock.now.get() + 5);
        self.script
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| status(200))
    }
}

struct FakeClock {
    now: Cell<Millis>,
    counter: Cell<u128>,
}

impl Clock for FakeClock {
    fn now(&self) -> Millis {
        self.now.get()
    }
    fn random(&self) -> f64 {
        0.5
    }
    fn random_u128(&self) -> u128 {
        self.counter.set(self.counter.get() + 1);
        self.counter.get()
    }
}

#[derive(Default)]
struct FakeWakeup(RefCell<Vec<Option<Millis>>>);

impl Wakeup for FakeWakeup {
    async fn wake_at(&self, at: Option<Millis>) {
        self.0.borrow_mut().push(at);
    }
}

struct EchoProvider;

impl Provider for EchoProvider {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<HttpRequest, String> {
        if batch[0].payload == "unbuildable" {
            return Err("bad config".into());
        }
        Ok(HttpRequest {
            method: "POST",
            url: "https://receiver.example/".into(),
            headers: vec![("x-attempt".into(), (batch[0].attempts + 1).to_string())],
            body: batch[0].payload.clone().into_bytes(),
        })
    }
}

fn status(code: u16) -> TransportResult {
    Ok(HttpResponse {
        status: code,
        headers: vec![],
        body: format!("body {code}"),
    })
}

fn delivery(n: u128, due_at: Millis) -> QueuedDelivery {
    QueuedDelivery {
        delivery_id: DeliveryId::generate(1, n),
        tenant_id: TenantId::parse("acme").unwrap(),
        event_id: EventId::parse(&format!("evt-{n}")).unwrap(),
        topic: "order.created".into(),
        payload: format!("{{\"n\":{n}}}"),
        metadata: BTreeMap::new(),
        attempts: 0,
        due_at,
        created_at: due_at,
        manual: None,
        shard: Default::default(),
    }
}

fn settings(max_retries: u32, threshold: u32) -> DeliverySettings {
    DeliverySettings {
        timeout_ms: 1_000,
        retry: RetryPolicy {
            max_retries,
            backoff: Backoff::Schedule {
                intervals_ms: vec![100, 200],
            },
            jitter: 0.0,
        },
        circuit_breaker: BreakerSettings {
            failure_threshold: threshold,
            cooldown_ms: 1_000,
        },
        disable_after_failures: 0,
        rate_limit: None,
        max_in_flight: 1,
        alerts: Default::default(),
    }
}

struct World<'a> {
    store: FakeStore,
    transport: FakeTransport<'a>,
    wakeup: FakeWakeup,
    clock: &'a FakeClock,
}

impl<'a> World<'a> {
    fn new(clock: &'a FakeClock, script: Vec<TransportResult>) -> Self {
        World {
            store: FakeStore::default(),
            transport: FakeTransport {
                script: RefCell::new(script.into()),
                sent: RefCell::default(),
                clock,
            },
            wakeup: FakeWakeup::default(),
            clock,
        }
    }
    fn push(&self, d: QueuedDelivery) {
        self.store
            .queue
            .borrow_mut()
            .insert(d.delivery_id.clone(), d);
    }
    fn run(&self, s: &DeliverySettings) -> RunReport {
        self.run_with(s, &EchoProvider)
    }
    fn run_with(&self, s: &DeliverySettings, provider: &impl Provider) -> RunReport {
        let ports = Ports {
            store: &self.store,
            transport: &self.transport,
            provider,
            clock: self.clock,
            wakeup: &self.wakeup,
        };
        block_on(run(ports, s, RunLimits::default()))
    }
    fn advance_to(&self, t: Millis) {
        self.clock.now.set(t);
    }
}

fn clock() -> FakeClock {
    FakeClock {
        now: Cell::new(1_000),
        counter: Cell::new(0),
    }
}

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

/// Fetches a token from `/token` when it holds none, and sends it with each request.
#[derive(Default)]
struct TokenProvider {
    token: RefCell<Option<String>>,
}

impl Provider for TokenProvider {
    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<HttpRequest, String> {
        let mut request = EchoProvider.build(batch, now)?;
        let token = self.token.borrow().clone().ok_or("no token")?;
        request.headers.push(("authorization".into(), token));
        Ok(request)
    }
    fn credential_request(&self, _now: Millis) -> Option<Result<HttpRequest, String>> {
        self.token.borrow().is_none().then(|| {
            Ok(HttpRequest {
                method: "POST",
                url: "https://auth.example/token".into(),
                headers: vec![],
                body: vec![],
            })
        })
    }
    fn accept_credential(&self, result: &TransportResult, now: Millis) -> Result<(), Verdict> {
        match result {
            Ok(r) if r.status == 200 => {
                *self.token.borrow_mut() = Some(r.body.clone());
                Ok(())
            }
            other => Err(classify(other, now)),
        }
    }
}

#[test]
fn a_credential_is_fetched_once_and_its_failure_is_every_batchs() {
    let c = clock();
    let w = World::new(&c, vec![status(503), status(200), status(200)]);
    let provider = TokenProvider::default();
    let s = settings(3, 10);
    w.push(delivery(1, 1_000));
    // The token endpoint answers 503: the delivery is retried, nothing else is sent.
    let r = w.run_with(&s, &provider);
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.attempts[0].outcome, AttemptOutcome::Retry);
    assert_eq!(r.attempts[0].status_code, Some(503));
    assert_eq!(w.transport.sent.borrow().len(), 1);
    // Next run: the token (the 200's body), then the delivery carrying it.
    w.push(delivery(2, 1_000));
    w.advance_to(2_000);
    let r = w.run_with(&s, &provider);
    let sent = w.transport.sent.borrow();
    assert_eq!(sent[1].url, "https://auth.example/token");
    assert_eq!(sent[2].header("authorization"), Some("body 200"));
    assert!(r
        .attempts
        .iter()
        .all(|a| a.outcome == AttemptOutcome::Delivered));
    drop(sent);
    // The token is kept: a later run sends no exchange.
    w.push(delivery(3, 2_000));
    w.run_with(&s, &provider);
    let sent = w.transport.sent.borrow();
    assert!(sent[3..]
        .iter()
        .all(|r| r.url == "https://receiver.example/"));
}

#[test]
fn a_refused_credential_fails_the_deliveries_at_once() {
    let c = clock();
    let w = World::new(&c, vec![status(400)]);
    let provider = TokenProvider::default();
    w.push(delivery(1, 1_000));
    let r = w.run_with(&settings(3, 10), &provider);
    assert_eq!(r.attempts[0].outcome, AttemptOutcome::Failed);
    assert_eq!(r.attempts[0].status_code, Some(400));
    assert!(w.store.queue.borrow().is_empty());
}

#[test]
fn a_probe_runs_the_credential_step_and_one_request_and_leaves_the_queue_alone() {
    let c = clock();
    let w = World::new(&c, vec![status(200), status(404)]);
    let provider = TokenProvider::default();
    let d = delivery(1, 1_000);
    let report = block_on(probe(&provider, &w.transport, &c, &d, 1_000));
    assert_eq!(
        report,
        ProbeReport {
            ok: false,
            transient: false,
            status_code: Some(404),
            error: Some("HTTP 404".into()),
            response_body: Some("body 404".into()),
            duration_ms: 10,
        }
    );
    let sent = w.transport.sent.borrow();
    assert_eq!(sent.len(), 2, "the token, then the request");
    assert_eq!(sent[1].header("authorization"), Some("body 200"));
    assert!(w.store.queue.borrow().is_empty());
    assert_eq!(w.store.breaker(), Breaker::default());
}

/// Declares `x-custom` secret and sends it with a bearer token.
struct HeaderProvider;

impl Provider for HeaderProvider {
    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<HttpRequest, String> {
        let mut request = EchoProvider.build(batch, now)?;
        request.headers.extend([
            ("authorization".into(), "Bearer s3cret".into()),
            ("x-custom".into(), "hidden".into()),
            ("x-visible".into(), "shown".into()),
        ]);
        Ok(request)
    }
    fn secret_headers(&self) -> Vec<String> {
        vec!["X-Custom".into()]
    }
}

#[test]
fn attempts_record_the_request_headers_with_credentials_masked() {
    let c = clock();
    let w = World::new(&c, vec![status(200)]);
    w.push(delivery(1, 1_000));
    let r = w.run_with(&settings(3, 10), &HeaderProvider);
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        r.attempts[0].request_headers,
        Some(pairs(&[
            ("x-attempt", "1"),
            ("authorization", "********"),
            ("x-custom", "********"),
            ("x-visible", "shown"),
        ]))
    );
    // What was sent is untouched.
    assert_eq!(
        w.transport.sent.borrow()[0].header("authorization"),
        Some("Bearer s3cret")
    );
    // No request, no headers: an unbuildable one, or a refused credential.
    let w = World::new(&c, vec![status(400)]);
    let mut d = delivery(2, 1_000);
    d.payload = "unbuildable".into();
    w.push(d);
    assert_eq!(w.run(&settings(3, 10)).attempts[0].request_headers, None);
    w.push(delivery(3, 1_000));
    let r = w.run_with(&settings(3, 10), &TokenProvider::default());
    assert_eq!(r.attempts[0].request_headers, None);
}

#[test]
fn an_answer_that_echoes_a_credential_is_recorded_with_it_masked() {
    let c = clock();
    let echo = |code: u16| -> TransportResult {
        Ok(HttpResponse {
            status: code,
            headers: vec![],
            body: r#"{"message":"invalid token","received":"Bearer s3cret","custom":"hidden"}"#
                .into(),
        })
    };
    let w = World::new(&c, vec![echo(401)]);
    w.push(delivery(1, 1_000));
    let r = w.run_with(&settings(3, 10), &HeaderProvider);
    let body = r.attempts[0].response_body.clone().unwrap();
    assert!(
        !body.contains("s3cret") && !body.contains("hidden"),
        "{body}"
    );
    assert!(body.contains(r#""received":"********""#), "{body}");
    // The test send reports the answer the same way.
    let w = World::new(&c, vec![echo(401)]);
    let report = block_on(probe(
        &HeaderProvider,
        &w.transport,
        &c,
        &delivery(2, 1_000),
        1_000,
    ));
    let body = report.response_body.unwrap();
    assert!(
        !body.contains("s3cret") && !body.contains("hidden"),
        "{body}"
    );
}
