//! The delivery engine: the queue, retry and breaker decisions of one destination, written
//! against small traits (`ports`) so that it runs natively in tests with in-memory fakes and
//! in the DeliveryScheduler Durable Object with SQLite storage, alarms and `fetch`.
//!
//! A run is rounds of four phases, while the breaker admits and deliveries are due:
//! - **lease**: take up to `max_in_flight` batches from what was read and leased ahead (one
//!   read and one lease of the queue for up to six requests' worth), their due time pushed
//!   past the timeout (and the wake-up with it), so that a crash mid-send retries them;
//! - **exchange**: build the requests, send them at once, read each answer into verdicts;
//! - **settle**: per request, tell the breaker, turn each verdict into an outcome under the
//!   retry policy (delivered → removed; retry → rescheduled; failed → removed and recorded
//!   for inspection) and record the attempt; the round's changes are committed together
//!   (`QueueStore::commit`);
//! - **streak**: count consecutive failures, and stop the run when the destination reaches
//!   its auto-disable threshold.

mod exchange;
mod lease;
mod ports;
mod probe;
mod settle;

pub use ports::{
    AttemptOutcome, AttemptRecord, Clock, Ports, Provider, QueueStore, QueuedDelivery, Transport,
    Wakeup,
};
pub use probe::{probe, ProbeReport, TestRequest, TEST_ALERT_TOPIC, TEST_TOPIC};
pub use settle::{decide, Outcome};

use crate::core::breaker::{Breaker, CircuitState, Transition};
use crate::core::destination::DeliverySettings;
use crate::core::time::Millis;
use crate::core::wire::MAX_CONNECTIONS;

/// Extra time past a request's timeout before a leased delivery counts as abandoned (the
/// runtime died mid-send) and becomes due again.
pub const LEASE_MARGIN_MS: i64 = 30_000;

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
    let ports = &ports;
    let store = ports.store;
    let mut report = RunReport::default();
    let in_flight = requests_at_once(settings);
    let mut ahead = lease::Ahead::default();
    let mut holds = lease::Holds::default();
    let mut sent_requests = 0;
    'run: while sent_requests < limits.max_requests {
        let now = ports.clock.now();
        let budget = limits.max_requests - sent_requests;
        let leased = ahead
            .lease(ports, settings, now, (in_flight.min(budget), budget))
            .await;
        let batches = leased.batches;
        holds = leased.holds;
        if batches.is_empty() {
            break;
        }
        sent_requests += batches.len();
        let (provider, transport) = (ports.provider, ports.transport);
        let denied =
            exchange::obtain_credential(provider, transport, settings.timeout_ms, now).await;
        let exchanges = futures::future::join_all(
            batches
                .iter()
                .map(|batch| exchange::exchange(ports, settings, now, batch, denied.as_ref())),
        )
        .await;
        for (batch, exchange) in batches.iter().zip(exchanges) {
            let settled = settle::settle(store, ports.clock, settings, batch, exchange);
            report.transitions.extend(settled.transition);
            let first = report.attempts.len();
            report.attempts.extend(settled.attempts);
            if !settled.sent {
                continue;
            }
            if let Some(streak) = settle::streak(store, settings, &report.attempts[first..]) {
                // Nothing more is sent; what was read ahead is due again when the destination
                // is enabled.
                report.auto_disabled = Some(streak);
                ahead.release(store);
                store.commit();
                ports.wakeup.wake_at(None).await;
                break 'run;
            }
        }
        // The round's queue changes and attempt records, written together.
        store.commit();
        if holds.any() {
            break;
        }
    }
    if report.auto_disabled.is_some() {
        return report;
    }
    ahead.release(store);
    store.commit();
    // The queue's next due time, held back by an open circuit or an empty rate bucket.
    let hold = holds
        .breaker_wait
        .or_else(|| open_until(&store.breaker()))
        .max(holds.rate_wait);
    report.next_wake = store.next_due().map(|due| hold.map_or(due, |h| due.max(h)));
    ports.wakeup.wake_at(report.next_wake).await;
    report
}

/// Requests one run has in flight at once: the destination's `max_in_flight`, but never more
/// than one invocation may keep open in production (`MAX_CONNECTIONS`; local workerd does not
/// enforce it), so that what is measured locally is what production does.
pub fn requests_at_once(settings: &DeliverySettings) -> usize {
    (settings.max_in_flight.max(1) as usize).min(MAX_CONNECTIONS)
}

/// When an open circuit lets the next probe through.
fn open_until(b: &Breaker) -> Option<Millis> {
    match b.state {
        CircuitState::Open => b.retry_at,
        _ => None,
    }
}

#[cfg(test)]
mod tests;
