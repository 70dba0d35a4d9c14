//! The last phases of a round, per request: settle (the breaker hears how the request went,
//! each delivery's verdict becomes its outcome under the retry policy, the queue changes and
//! the attempt is recorded), then the failure streak that may disable the destination.

use super::exchange::Exchange;
use super::ports::{AttemptOutcome, AttemptRecord, Clock, QueueStore, QueuedDelivery};
use crate::core::breaker::{Signal, Transition};
use crate::core::classify::Verdict;
use crate::core::destination::DeliverySettings;
use crate::core::ids::AttemptId;
use crate::core::redact::mask_echoes;
use crate::core::retry::RetryPolicy;
use crate::core::time::Millis;
use crate::core::wire::snippet;

/// What happens to a delivery after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    RetryAt(Millis),
    Failed(String),
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

/// What settling one request did.
#[derive(Debug)]
pub(super) struct Settled {
    /// The request reached the transport (or the credential exchange before it did).
    pub sent: bool,
    pub transition: Option<Transition>,
    /// One per delivery of the batch, in order, each already handed to the store.
    pub attempts: Vec<AttemptRecord>,
}

/// Applies one exchange to its batch. The breaker watches the endpoint: one signal per
/// request actually sent, unhealthy if any delivery's verdict is transient. Each delivery's
/// queue change and its attempt record go to the store together, with no await between.
pub(super) fn settle<S: QueueStore, C: Clock>(
    store: &S,
    clock: &C,
    settings: &DeliverySettings,
    batch: &[QueuedDelivery],
    exchange: Exchange,
) -> Settled {
    let Exchange {
        result,
        started,
        finished,
        verdicts,
        sent,
    } = exchange;
    let (headers, secrets) = match sent {
        Some(s) => (Some(s.headers), s.secrets),
        None => (None, vec![]),
    };
    let mut transition = None;
    if result.is_some() {
        let signal = if verdicts.iter().any(Verdict::is_transient) {
            Signal::Unhealthy
        } else {
            Signal::Healthy
        };
        let before = store.breaker();
        let (breaker, t) = before
            .clone()
            .record(signal, &settings.circuit_breaker, finished);
        if breaker != before {
            store.save_breaker(&breaker);
        }
        transition = t;
    }
    let response = result.as_ref().and_then(|r| r.as_ref().ok());
    let status_code = response.map(|r| r.status);
    let body = response.map(|r| mask_echoes(&snippet(&r.body), &secrets));
    let attempts = batch
        .iter()
        .zip(verdicts)
        .map(|(d, verdict)| {
            let attempt = d.attempts + 1;
            let outcome = decide(
                &settings.retry,
                attempt,
                d.manual.is_some(),
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
            record
        })
        .collect();
    Settled {
        sent: result.is_some(),
        transition,
        attempts,
    }
}

/// Counts consecutive failed attempts (any outcome but delivered), in attempt order, a
/// delivery resetting the count, and stores the count. `Some(streak)` when it reached the
/// destination's `disable_after_failures` (0 never disables).
pub(super) fn streak<S: QueueStore>(
    store: &S,
    settings: &DeliverySettings,
    attempts: &[AttemptRecord],
) -> Option<u32> {
    let streak = attempts.iter().fold(store.failure_streak(), |n, a| {
        if a.outcome == AttemptOutcome::Delivered {
            0
        } else {
            n + 1
        }
    });
    store.save_failure_streak(streak);
    let limit = settings.disable_after_failures;
    (limit > 0 && streak >= limit).then_some(streak)
}
