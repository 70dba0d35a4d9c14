//! The first phase of a round: take up to `room` batches of due deliveries, as far as the
//! circuit breaker and the rate limit allow, and lease them before anything slow happens.

use super::ports::{Ports, Provider, QueueStore, QueuedDelivery, Wakeup};
use super::LEASE_MARGIN_MS;
use crate::core::breaker::Admission;
use crate::core::destination::DeliverySettings;
use crate::core::time::Millis;

/// What the lease phase took, and what held the rest back.
#[derive(Debug, Default)]
pub(super) struct Leased {
    /// The batches to send now, each one request.
    pub batches: Vec<Vec<QueuedDelivery>>,
    pub holds: Holds,
}

/// What, other than an empty queue, stopped a lease.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Holds {
    /// An open circuit admits nothing before this time.
    pub breaker_wait: Option<Millis>,
    /// The rate limit's bucket is empty until this time.
    pub rate_wait: Option<Millis>,
}

impl Holds {
    /// Something held the lease back: the run ends after this round.
    pub fn any(&self) -> bool {
        self.breaker_wait.is_some() || self.rate_wait.is_some()
    }
}

/// Leases up to `room` batches. A half-open circuit admits one probe of one delivery and
/// nothing beside it. Each leased delivery's due time moves past the request timeout, so
/// that if the runtime dies while sending, the batch is due again after the lease; the wake-up
/// is set at the run's first lease (`lease_wake_set`), the earliest to expire, which covers
/// every later one (that run re-leases what is still due).
pub(super) async fn lease<S, T, P: Provider, C, W: Wakeup>(
    ports: &Ports<'_, S, T, P, C, W>,
    settings: &DeliverySettings,
    now: Millis,
    room: usize,
    lease_wake_set: &mut bool,
) -> Leased
where
    S: QueueStore,
{
    let (store, provider) = (ports.store, ports.provider);
    let mut leased = Leased::default();
    while leased.batches.len() < room {
        let before = store.breaker();
        let (breaker, admission) = before.clone().admit(now);
        let batch_size = match admission {
            Admission::WaitUntil(at) => {
                leased.holds.breaker_wait = Some(at);
                break;
            }
            // A half-open circuit sends one probe and waits for its answer.
            Admission::Probe if !leased.batches.is_empty() => break,
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
                    leased.holds.rate_wait = Some(at);
                    break;
                }
            }
        }
        if breaker != before {
            store.save_breaker(&breaker);
        }
        let lease_until = now + settings.timeout_ms as i64 + LEASE_MARGIN_MS;
        for d in &batch {
            store.reschedule(&d.delivery_id, d.attempts, lease_until);
        }
        if !*lease_wake_set {
            ports.wakeup.wake_at(Some(lease_until)).await;
            *lease_wake_set = true;
        }
        leased.batches.push(batch);
        if admission == Admission::Probe {
            break;
        }
    }
    leased
}
