//! The engine against in-memory fakes: queue, transport that fails on demand, clock. The
//! tests are grouped by the phase they exercise.

mod admission;
mod exchange;
mod outcomes;

use super::*;
use crate::core::breaker::{BreakerSettings, CircuitState};
use crate::core::classify::Verdict;
use crate::core::ids::{DeliveryId, EventId, TenantId};
use crate::core::retry::Backoff;
use crate::core::retry::RetryPolicy;
use crate::core::wire::HttpResponse;
use crate::core::wire::{CredentialRequest, HttpRequest, Outbound, TransportResult};
use futures::executor::block_on;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::collections::VecDeque;

/// A queue in memory that, like the Durable Object's, holds the engine's writes until it
/// commits them, and fails a test that reads the queue with writes still held.
#[derive(Default)]
struct FakeStore {
    queue: RefCell<BTreeMap<DeliveryId, QueuedDelivery>>,
    breaker: RefCell<Breaker>,
    streak: Cell<u32>,
    bucket: RefCell<crate::core::rate_limit::Bucket>,
    records: RefCell<Vec<AttemptRecord>>,
    held: RefCell<Vec<Held>>,
    /// Reads of due deliveries, and commits that wrote something.
    reads: Cell<usize>,
    commits: Cell<usize>,
}

enum Held {
    Reschedule(DeliveryId, u32, Millis),
    Remove(DeliveryId),
    Record(Box<AttemptRecord>),
}

impl FakeStore {
    fn assert_committed(&self) {
        assert!(
            self.held.borrow().is_empty(),
            "the engine read the queue before committing its writes"
        );
    }
}

impl QueueStore for FakeStore {
    fn due(&self, now: Millis, limit: usize) -> Vec<QueuedDelivery> {
        self.assert_committed();
        self.reads.set(self.reads.get() + 1);
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
        let held = Held::Reschedule(id.clone(), attempts, due_at);
        self.held.borrow_mut().push(held);
    }
    fn remove(&self, id: &DeliveryId, _at: Millis) {
        self.held.borrow_mut().push(Held::Remove(id.clone()));
    }
    fn record(&self, attempt: &AttemptRecord) {
        self.held
            .borrow_mut()
            .push(Held::Record(Box::new(attempt.clone())));
    }
    fn commit(&self) {
        let held = std::mem::take(&mut *self.held.borrow_mut());
        if held.is_empty() {
            return;
        }
        self.commits.set(self.commits.get() + 1);
        for h in held {
            match h {
                Held::Reschedule(id, attempts, due_at) => {
                    if let Some(d) = self.queue.borrow_mut().get_mut(&id) {
                        d.attempts = attempts;
                        d.due_at = due_at;
                    }
                }
                Held::Remove(id) => {
                    self.queue.borrow_mut().remove(&id);
                }
                Held::Record(a) => self.records.borrow_mut().push(*a),
            }
        }
    }
    fn next_due(&self) -> Option<Millis> {
        self.assert_committed();
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
    async fn send(&self, outbound: Outbound, _timeout_ms: u64) -> TransportResult {
        let Outbound::Http(request) = outbound else {
            panic!("the engine's test providers speak HTTP only");
        };
        self.sent.borrow_mut().push(request);
        self.clock.now.set(self.clock.now.get() + 5);
        self.script
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| status(200))
    }

    async fn sign_rs256(&self, pkcs8_der: &[u8], message: &[u8]) -> Result<Vec<u8>, String> {
        crate::core::jwt::sign_rs256(pkcs8_der, message)
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

impl EchoProvider {
    fn request(&self, batch: &[QueuedDelivery]) -> Result<HttpRequest, String> {
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

impl Provider for EchoProvider {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<Outbound, String> {
        self.request(batch).map(Outbound::Http)
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
        lanes: 1,
        lanes_used: 0,
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
        let report = block_on(run(ports, s, RunLimits::default()));
        self.store.assert_committed();
        report
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
