//! The delivery engine: the queue, retry and breaker decisions of one destination, written
//! against small traits so that it runs natively in tests with in-memory fakes and in the
//! DeliveryScheduler Durable Object with SQLite storage, alarms and `fetch`.
//!
//! One run: while the breaker admits and deliveries are due, lease a batch (pushing its due
//! time past the timeout, and the wake-up with it, so a crash mid-send retries it), build the
//! request, send it, classify the result, and apply each delivery's outcome:
//! delivered → removed; retry → rescheduled; failed → removed and kept in D1 for inspection.

use crate::core::breaker::{Admission, Breaker, Signal, Transition};
use crate::core::classify::{classify, Verdict};
use crate::core::destination::DeliverySettings;
use crate::core::ids::{AttemptId, DeliveryId, EventId, TenantId};
use crate::core::log::ShardRef;
use crate::core::rate_limit::Bucket;
use crate::core::redact::{mask_echoes, redact, secret_values};
use crate::core::retry::RetryPolicy;
use crate::core::time::Millis;
use crate::core::wire::{snippet, HttpRequest, TransportResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Extra time past a request's timeout before a leased delivery counts as abandoned (the
/// runtime died mid-send) and becomes due again.
pub const LEASE_MARGIN_MS: i64 = 30_000;

/// A delivery waiting in a destination's queue. Carries its payload so that sending needs no
/// read of D1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedDelivery {
    pub delivery_id: DeliveryId,
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub topic: String,
    /// The event's `data`, as JSON text.
    pub payload: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Attempts made so far (the next one is `attempts + 1`).
    pub attempts: u32,
    pub due_at: Millis,
    pub created_at: Millis,
    /// Set on a manual retry: who asked. A manual retry is one attempt; it is not rescheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
    /// The log shard that holds the event, where the attempts are recorded.
    #[serde(default)]
    pub shard: ShardRef,
}

/// Speaks one destination type's wire format (see `providers`).
pub trait Provider {
    /// Most deliveries one request may carry.
    fn max_batch(&self) -> usize {
        1
    }
    /// How many of `batch`, from the front, one request can carry (size limits); the rest
    /// stay queued for the next request, neither leased nor charged an attempt.
    fn fit(&self, batch: &[QueuedDelivery]) -> usize {
        batch.len()
    }
    /// The request for a batch (each delivery's attempt number is `attempts + 1`).
    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<HttpRequest, String>;
    /// One verdict per delivery of the batch, in order.
    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        vec![classify(result, now); batch.len()]
    }
    /// Header names whose values are credentials for this destination (beyond the standard
    /// ones `core::redact` knows): masked in the attempt record.
    fn secret_headers(&self) -> Vec<String> {
        vec![]
    }
    /// A request to send first, when the provider lacks a credential that it obtains over
    /// HTTP (an OAuth access token). `None` when it holds a valid one.
    fn credential_request(&self, _now: Millis) -> Option<Result<HttpRequest, String>> {
        None
    }
    /// Takes the answer to `credential_request`. `Err` is the verdict for every delivery that
    /// waited on it.
    fn accept_credential(&self, _result: &TransportResult, _now: Millis) -> Result<(), Verdict> {
        Ok(())
    }
}

/// The credential step before a round of requests: `None` when none was needed or it worked,
/// else the exchange's result (if one was sent) and the verdict for everything waiting on it.
async fn obtain_credential<T: Transport, P: Provider>(
    provider: &P,
    transport: &T,
    timeout_ms: u64,
    now: Millis,
) -> Option<(Option<TransportResult>, Verdict)> {
    match provider.credential_request(now)? {
        Err(e) => Some((
            None,
            Verdict::Permanent {
                error: format!("could not build the credential request: {e}"),
            },
        )),
        Ok(request) => {
            let result = transport.send(request, timeout_ms).await;
            match provider.accept_credential(&result, now) {
                Ok(()) => None,
                Err(verdict) => Some((Some(result), verdict)),
            }
        }
    }
}

/// Sends a request, aborting it after `timeout_ms`.
#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn send(&self, request: HttpRequest, timeout_ms: u64) -> TransportResult;
}

/// The durable queue and breaker state of one destination.
pub trait QueueStore {
    /// Deliveries due at `now`, earliest first.
    fn due(&self, now: Millis, limit: usize) -> Vec<QueuedDelivery>;
    /// Sets due times (a lease, or a retry) and attempt counts.
    fn reschedule(&self, id: &DeliveryId, attempts: u32, due_at: Millis);
    /// Takes a delivery off the queue for good, remembering it as done `at` (the engine's clock).
    fn remove(&self, id: &DeliveryId, at: Millis);
    /// Keeps an attempt's record until it is written to D1. The engine calls it right after
    /// the queue change the attempt caused, with no await between them, so that a runtime
    /// killed at any point loses neither (the Durable Object commits them together).
    fn record(&self, attempt: &AttemptRecord);
    /// The earliest due time, if the queue is not empty.
    fn next_due(&self) -> Option<Millis>;
    fn breaker(&self) -> Breaker;
    fn save_breaker(&self, breaker: &Breaker);
    /// Consecutive failed attempts (any outcome but delivered), for auto-disable.
    fn failure_streak(&self) -> u32;
    fn save_failure_streak(&self, n: u32);
    /// The rate limiter's bucket (only used when the destination has a `rate_limit`).
    fn bucket(&self) -> Bucket;
    fn save_bucket(&self, bucket: &Bucket);
}

/// Persists when the engine must run next (the Durable Object's alarm).
#[allow(async_fn_in_trait)]
pub trait Wakeup {
    async fn wake_at(&self, at: Option<Millis>);
}

/// The clock and the random source, passed in.
pub trait Clock {
    fn now(&self) -> Millis;
    /// Uniform in [0, 1).
    fn random(&self) -> f64;
    fn random_u128(&self) -> u128;
}

/// What happens to a delivery after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    RetryAt(Millis),
    Failed(String),
}

/// The attempt's outcome as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Delivered,
    Retry,
    Failed,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Failed => "failed",
        }
    }
}

/// One attempt, for the record in D1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub id: AttemptId,
    pub delivery_id: DeliveryId,
    pub tenant_id: TenantId,
    pub event_id: EventId,
    pub attempt: u32,
    pub started_at: Millis,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub outcome: AttemptOutcome,
    pub error: Option<String>,
    pub response_body: Option<String>,
    pub next_attempt_at: Option<Millis>,
    /// Who asked for this attempt, when it was a manual retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
    /// The request's headers, credentials masked (`core::redact`); `None` when no request
    /// was sent (it could not be built, or the credential exchange before it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_headers: Option<Vec<(String, String)>>,
    /// The verdict was permanent (the delivery failed at once): alert-worthy on its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub permanent: bool,
    /// The log shard of the delivery's event, where this record goes.
    #[serde(default)]
    pub shard: ShardRef,
}

/// Decides a delivery's fate after attempt number `attempt` (1-based). A manual retry is a
/// single attempt: it is not rescheduled.
pub fn decide(
    policy: &RetryPolicy,
    attempt: u32,
    manual: bool,
    verdict: &Verdict,
    now: Millis,
    random: f64,
) -> Outcome {
    match verdict {
        Verdict::Delivered => Outcome::Delivered,
        Verdict::Permanent { error } => Outcome::Failed(error.clone()),
        Verdict::Transient { error, .. } if manual => {
            Outcome::Failed(format!("manual retry failed: {error}"))
        }
        Verdict::Transient {
            error,
            retry_after_ms,
        } => match policy.delay_ms(attempt, random) {
            None => Outcome::Failed(format!("gave up after {attempt} attempts: {error}")),
            Some(delay) => {
                let delay = retry_after_ms.unwrap_or(delay);
                Outcome::RetryAt(now.saturating_add(delay as i64))
            }
        },
    }
}

/// What one test send did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The destination accepted the delivery.
    pub ok: bool,
    /// Whether retrying could help (throttling, 5xx, timeouts) when it was refused.
    pub transient: bool,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: u64,
}

/// Sends one delivery once, outside the queue: no retry, no breaker, no record. It runs the
/// credential step and the request exactly as a delivery would, so it checks a destination's
/// target and credentials against the real service (`POST …/test`).
pub async fn probe<T: Transport, P: Provider, C: Clock>(
    provider: &P,
    transport: &T,
    clock: &C,
    delivery: &QueuedDelivery,
    timeout_ms: u64,
) -> ProbeReport {
    let started = clock.now();
    let batch = std::slice::from_ref(delivery);
    let mut secrets = vec![];
    let (result, verdict) = match obtain_credential(provider, transport, timeout_ms, started).await
    {
        Some((result, verdict)) => (result, verdict),
        None => match provider.build(batch, started) {
            Err(e) => (
                None,
                Verdict::Permanent {
                    error: format!("could not build the request: {e}"),
                },
            ),
            Ok(request) => {
                secrets = secret_values(&request.headers, &provider.secret_headers());
                let result = transport.send(request, timeout_ms).await;
                let verdict = provider
                    .interpret(batch, &result, clock.now())
                    .pop()
                    .unwrap_or_else(|| classify(&result, clock.now()));
                (Some(result), verdict)
            }
        },
    };
    let response = result.as_ref().and_then(|r| r.as_ref().ok());
    let (ok, transient, error) = match verdict {
        Verdict::Delivered => (true, false, None),
        Verdict::Transient { error, .. } => (false, true, Some(error)),
        Verdict::Permanent { error } => (false, false, Some(error)),
    };
    ProbeReport {
        ok,
        transient,
        status_code: response.map(|r| r.status),
        error,
        response_body: response.map(|r| mask_echoes(&snippet(&r.body), &secrets)),
        duration_ms: (clock.now() - started).max(0) as u64,
    }
}

/// Bounds on one run, so that a long queue yields to other events (the next run follows at once).
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    pub max_requests: usize,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits { max_requests: 50 }
    }
}

/// What one run did.
#[derive(Debug, Default)]
pub struct RunReport {
    pub attempts: Vec<AttemptRecord>,
    pub transitions: Vec<Transition>,
    pub next_wake: Option<Millis>,
    /// The destination reached `disable_after_failures` in this run: nothing more was sent,
    /// no wake-up is set, and the shell disables it.
    pub auto_disabled: Option<u32>,
}

/// The engine's ports.
pub struct Ports<'a, S, T, P, C, W> {
    pub store: &'a S,
    pub transport: &'a T,
    pub provider: &'a P,
    pub clock: &'a C,
    pub wakeup: &'a W,
}

/// Delivers what is due, as far as the breaker and the limits allow, and schedules the next run.
pub async fn run<S, T, P, C, W>(
    ports: Ports<'_, S, T, P, C, W>,
    settings: &DeliverySettings,
    limits: RunLimits,
) -> RunReport
where
    S: QueueStore,
    T: Transport,
    P: Provider,
    C: Clock,
    W: Wakeup,
{
    let Ports {
        store,
        transport,
        provider,
        clock,
        wakeup,
    } = ports;
    let mut report = RunReport::default();
    let mut breaker_wait = None;
    let mut lease_wake_set = false;
    let mut rate_wait = None;
    let in_flight = settings.max_in_flight.max(1) as usize;
    let mut sent_requests = 0;
    'run: while sent_requests < limits.max_requests {
        // Take up to `in_flight` batches, as far as the breaker and the rate limit allow.
        let now = clock.now();
        let mut batches: Vec<Vec<QueuedDelivery>> = vec![];
        while batches.len() < in_flight && sent_requests + batches.len() < limits.max_requests {
            let before = store.breaker();
            let (breaker, admission) = before.clone().admit(now);
            let batch_size = match admission {
                Admission::WaitUntil(at) => {
                    breaker_wait = Some(at);
                    break;
                }
                // A half-open circuit sends one probe and waits for its answer.
                Admission::Probe if !batches.is_empty() => break,
                Admission::Probe => 1,
                Admission::Send => provider.max_batch().max(1),
            };
            let mut batch = store.due(now, batch_size);
            batch.truncate(provider.fit(&batch).max(1));
            if batch.is_empty() {
                break;
            }
            if let Some(limit) = &settings.rate_limit {
                match store.bucket().take(limit.per_second, now, batch.len()) {
                    Ok((bucket, allowed)) => {
                        batch.truncate(allowed);
                        store.save_bucket(&bucket);
                    }
                    Err(at) => {
                        rate_wait = Some(at);
                        break;
                    }
                }
            }
            if breaker != before {
                store.save_breaker(&breaker);
            }
            // Lease before the slow part: if the runtime dies while sending, the batch is due
            // again after the lease. The first lease of a run is the earliest to expire, so
            // one wake-up at it covers every later one (that run re-leases what is still due).
            let lease_until = now + settings.timeout_ms as i64 + LEASE_MARGIN_MS;
            for d in &batch {
                store.reschedule(&d.delivery_id, d.attempts, lease_until);
            }
            if !lease_wake_set {
                wakeup.wake_at(Some(lease_until)).await;
                lease_wake_set = true;
            }
            let probe = admission == Admission::Probe;
            batches.push(batch);
            if probe {
                break;
            }
        }
        if batches.is_empty() {
            break;
        }
        sent_requests += batches.len();

        // A credential first, if the provider needs one: its failure is every batch's.
        let denied = obtain_credential(provider, transport, settings.timeout_ms, now).await;
        // Send them all at once; each is timed on its own.
        let denied = &denied;
        let exchanges = batches.iter().map(|batch| async move {
            if let Some((result, verdict)) = denied {
                let at = clock.now();
                let verdicts = vec![verdict.clone(); batch.len()];
                return (result.clone(), now, at, verdicts, None);
            }
            match provider.build(batch, now) {
                Ok(request) => {
                    let declared = provider.secret_headers();
                    let sent = Sent {
                        headers: redact(&request.headers, &declared),
                        secrets: secret_values(&request.headers, &declared),
                    };
                    let started = clock.now();
                    let result = transport.send(request, settings.timeout_ms).await;
                    let finished = clock.now();
                    let verdicts = provider.interpret(batch, &result, finished);
                    (Some(result), started, finished, verdicts, Some(sent))
                }
                Err(e) => {
                    let error = format!("could not build the request: {e}");
                    (
                        None,
                        now,
                        now,
                        vec![Verdict::Permanent { error }; batch.len()],
                        None,
                    )
                }
            }
        });
        let done = futures::future::join_all(exchanges).await;

        for (batch, (result, started, finished, verdicts, sent)) in batches.iter().zip(done) {
            let (headers, secrets) = match sent {
                Some(s) => (Some(s.headers), s.secrets),
                None => (None, vec![]),
            };
            // The breaker watches the endpoint: one signal per request actually sent.
            if result.is_some() {
                let unhealthy = verdicts.iter().any(Verdict::is_transient);
                let signal = if unhealthy {
                    Signal::Unhealthy
                } else {
                    Signal::Healthy
                };
                let before = store.breaker();
                let (breaker, transition) =
                    before
                        .clone()
                        .record(signal, &settings.circuit_breaker, finished);
                if breaker != before {
                    store.save_breaker(&breaker);
                }
                report.transitions.extend(transition);
            }
            let response = result.as_ref().and_then(|r| r.as_ref().ok());
            let status_code = response.map(|r| r.status);
            let body = response.map(|r| mask_echoes(&snippet(&r.body), &secrets));
            let batch_start = report.attempts.len();
            for (d, verdict) in batch.iter().zip(verdicts) {
                let attempt = d.attempts + 1;
                let manual = d.manual.is_some();
                let outcome = decide(
                    &settings.retry,
                    attempt,
                    manual,
                    &verdict,
                    finished,
                    clock.random(),
                );
                let (kind, next_attempt_at) = match &outcome {
                    Outcome::Delivered => {
                        store.remove(&d.delivery_id, finished);
                        (AttemptOutcome::Delivered, None)
                    }
                    Outcome::RetryAt(at) => {
                        store.reschedule(&d.delivery_id, attempt, *at);
                        (AttemptOutcome::Retry, Some(*at))
                    }
                    Outcome::Failed(_) => {
                        store.remove(&d.delivery_id, finished);
                        (AttemptOutcome::Failed, None)
                    }
                };
                let error = match (&verdict, &outcome) {
                    (_, Outcome::Failed(e)) => Some(e.clone()),
                    (Verdict::Transient { error, .. }, _) | (Verdict::Permanent { error }, _) => {
                        Some(error.clone())
                    }
                    (Verdict::Delivered, _) => None,
                };
                let record = AttemptRecord {
                    id: AttemptId::generate(started as u64, clock.random_u128()),
                    delivery_id: d.delivery_id.clone(),
                    tenant_id: d.tenant_id.clone(),
                    event_id: d.event_id.clone(),
                    attempt,
                    started_at: started,
                    duration_ms: (finished - started).max(0) as u64,
                    status_code,
                    outcome: kind,
                    error,
                    response_body: body.clone(),
                    next_attempt_at,
                    requested_by: d.manual.clone(),
                    request_headers: headers.clone(),
                    permanent: matches!(verdict, Verdict::Permanent { .. }),
                    shard: d.shard,
                };
                store.record(&record);
                report.attempts.push(record);
            }
            if result.is_some() {
                // Consecutive failures, in attempt order: a delivery resets the count.
                let mut streak = store.failure_streak();
                for a in &report.attempts[batch_start..] {
                    streak = if a.outcome == AttemptOutcome::Delivered {
                        0
                    } else {
                        streak + 1
                    };
                }
                store.save_failure_streak(streak);
                let limit = settings.disable_after_failures;
                if limit > 0 && streak >= limit {
                    report.auto_disabled = Some(streak);
                    wakeup.wake_at(None).await;
                    break 'run;
                }
            }
        }
        if breaker_wait.is_some() || rate_wait.is_some() {
            break;
        }
    }
    if report.auto_disabled.is_some() {
        return report;
    }
    let next_due = store.next_due();
    // The queue's next due time, held back by an open circuit or an empty rate bucket.
    let hold = breaker_wait
        .or_else(|| open_until(&store.breaker()))
        .max(rate_wait);
    report.next_wake = next_due.map(|due| hold.map_or(due, |h| due.max(h)));
    wakeup.wake_at(report.next_wake).await;
    report
}

/// What was sent, as the attempt records it: the headers with credentials masked, and the
/// credential values, to be masked where the answer repeats them.
struct Sent {
    headers: Vec<(String, String)>,
    secrets: Vec<String>,
}

fn open_until(b: &Breaker) -> Option<Millis> {
    match b.state {
        crate::core::breaker::CircuitState::Open => b.retry_at,
        _ => None,
    }
}

#[cfg(test)]
mod tests;
