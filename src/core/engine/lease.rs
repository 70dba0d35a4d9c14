//! The first phase of a round: take up to `room` batches of due deliveries, as far as the
//! circuit breaker and the rate limit allow, and lease them before anything slow happens.

use super::ports::{Ports, Provider, QueueStore, QueuedDelivery, Wakeup};
use super::LEASE_MARGIN_MS;
use crate::core::breaker::Admission;
use crate::core::destination::DeliverySettings;
use crate::core::time::Millis;
use std::collections::VecDeque;

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

/// Rows one lease reads at most: no fewer than the largest batch a provider takes (Pub/Sub's
/// 1,000 messages), so that one batch is never cut short by it.
const LEASE_READ_MAX: usize = 1_000;

/// Leases up to `room` batches. A half-open circuit admits one probe of one delivery and
/// nothing beside it. The round's due deliveries are read once, and each leased delivery's
/// due time moves past the request timeout (all of them in one commit), so that if the
/// runtime dies while sending, the batch is due again after the lease; the wake-up is set at
/// the run's first lease (`lease_wake_set`), the earliest to expire, which covers every later
/// one (that run re-leases what is still due).
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
    // Read at the first admission: one row for a probe, else what `room` batches can carry.
    let mut candidates: Option<VecDeque<QueuedDelivery>> = None;
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
        let due = candidates.get_or_insert_with(|| {
            let wanted = match admission {
                Admission::Probe => 1,
                _ => room.saturating_mul(batch_size),
            };
            store
                .due(now, wanted.min(LEASE_READ_MAX.max(batch_size)))
                .into()
        });
        let mut batch: Vec<QueuedDelivery> = due.drain(..batch_size.min(due.len())).collect();
        // What one request cannot carry (size, rate) stays due, first in line for the next.
        let mut keep = provider.fit(&batch).max(1);
        if let Some(limit) = &settings.rate_limit {
            if !batch.is_empty() {
                match store
                    .bucket()
                    .take(limit.per_second, now, keep.min(batch.len()))
                {
                    Ok((bucket, allowed)) => {
                        keep = keep.min(allowed);
                        store.save_bucket(&bucket);
                    }
                    Err(at) => {
                        leased.holds.rate_wait = Some(at);
                        keep = 0;
                    }
                }
            }
        }
        for d in batch.split_off(keep.min(batch.len())).into_iter().rev() {
            due.push_front(d);
        }
        if batch.is_empty() {
            break;
        }
        if breaker != before {
            store.save_breaker(&breaker);
        }
        leased.batches.push(batch);
        if admission == Admission::Probe {
            break;
        }
    }
    if leased.batches.is_empty() {
        return leased;
    }
    let lease_until = now + settings.timeout_ms as i64 + LEASE_MARGIN_MS;
    for d in leased.batches.iter().flatten() {
        store.reschedule(&d.delivery_id, d.attempts, lease_until);
    }
    store.commit();
    if !*lease_wake_set {
        ports.wakeup.wake_at(Some(lease_until)).await;
        *lease_wake_set = true;
    }
    leased
}
