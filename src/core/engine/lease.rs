//! The first phase: take batches of due deliveries to send, as far as the circuit breaker and
//! the rate limit allow, reading and leasing the queue ahead of the sends (before anything
//! slow happens).

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

/// Requests' worth of deliveries a read takes ahead of the sends, when the run may send that
/// many: the next requests then need no read or lease statement of their own (at
/// max_in_flight 1, one read and one lease per six deliveries instead of per delivery).
/// What is read ahead is leased at once (a crash leaves it due again after the lease, like
/// what was in flight) and given back at the run's end if it was not sent.
pub(super) const READ_AHEAD_REQUESTS: usize = crate::core::wire::MAX_CONNECTIONS;

/// The deliveries a run has read and leased but not sent yet, in due order, each with the due
/// time and attempts it had before its lease.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    rows: VecDeque<QueuedDelivery>,
    /// The run's first lease set the wake-up, the earliest to expire, which covers every later
    /// one (that run re-leases what is still due).
    wake_set: bool,
}

impl Ahead {
    /// Takes up to `room` batches to send now, as far as the circuit breaker and the rate
    /// limit allow, reading and leasing the queue (once at most) when nothing read ahead is
    /// left. A half-open circuit admits one probe of one delivery and nothing beside it.
    /// `budget` is how many more requests the run may send (what a read takes ahead). Every
    /// lease is committed, and the wake-up set, before this returns.
    pub(super) async fn lease<S, T, P: Provider, C, W: Wakeup>(
        &mut self,
        ports: &Ports<'_, S, T, P, C, W>,
        settings: &DeliverySettings,
        now: Millis,
        (room, budget): (usize, usize),
    ) -> Leased
    where
        S: QueueStore,
    {
        let (store, provider) = (ports.store, ports.provider);
        let lease_until = now + settings.timeout_ms as i64 + LEASE_MARGIN_MS;
        let mut leased = Leased::default();
        let mut read = false;
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
            if self.rows.is_empty() {
                if read {
                    break;
                }
                read = true;
                let wanted = match admission {
                    Admission::Probe => 1,
                    _ => room
                        .max(READ_AHEAD_REQUESTS)
                        .min(budget.max(room))
                        .saturating_mul(batch_size)
                        .min(LEASE_READ_MAX.max(batch_size)),
                };
                let due = store.due(now, wanted);
                for d in &due {
                    store.reschedule(&d.delivery_id, d.attempts, lease_until);
                }
                store.commit();
                self.rows.extend(due);
                if self.rows.is_empty() {
                    break;
                }
                if !self.wake_set {
                    ports.wakeup.wake_at(Some(lease_until)).await;
                    self.wake_set = true;
                }
            }
            let take = batch_size.min(self.rows.len());
            let mut batch: Vec<QueuedDelivery> = self.rows.drain(..take).collect();
            // What one request cannot carry (size, rate) waits, first in line for the next.
            let mut keep = provider.fit(&batch).max(1);
            if let Some(limit) = &settings.rate_limit {
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
            for d in batch.split_off(keep.min(batch.len())).into_iter().rev() {
                self.rows.push_front(d);
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
        leased
    }

    /// Gives back what was leased and not sent: due again as it was before its lease (to be
    /// committed by the caller).
    pub(super) fn release<S: QueueStore>(&mut self, store: &S) {
        for d in self.rows.drain(..) {
            store.reschedule(&d.delivery_id, d.attempts, d.due_at);
        }
    }
}
