//! The engine's models and ports: the queued delivery and the attempt record it produces,
//! and the small traits (provider, transport, queue store, wake-up, clock) through which it
//! reaches everything outside it. The Durable Object implements them over SQLite, alarms and
//! `fetch`; the tests over memory.

use crate::core::breaker::Breaker;
use crate::core::classify::{classify, Verdict};
use crate::core::ids::{AttemptId, DeliveryId, EventId, TenantId};
use crate::core::log::ShardRef;
use crate::core::rate_limit::Bucket;
use crate::core::time::Millis;
use crate::core::wire::{CredentialRequest, Outbound, TransportResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// What to send for a batch (each delivery's attempt number is `attempts + 1`).
    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<Outbound, String>;
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
    /// HTTP (an OAuth access token), perhaps with a JWT for the runtime to sign. `None` when
    /// it holds a valid one.
    fn credential_request(&self, _now: Millis) -> Option<Result<CredentialRequest, String>> {
        None
    }
    /// Takes the answer to `credential_request`. `Err` is the verdict for every delivery that
    /// waited on it.
    fn accept_credential(&self, _result: &TransportResult, _now: Millis) -> Result<(), Verdict> {
        Ok(())
    }
}

/// Sends what a provider built, aborting it after `timeout_ms`.
#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn send(&self, outbound: Outbound, timeout_ms: u64) -> TransportResult;
    /// RSASSA-PKCS1-v1_5 with SHA-256 of `message` under a PKCS#8 DER private key: the
    /// platform's implementation (WebCrypto in the Worker), which is constant-time where the
    /// `rsa` crate is not (RUSTSEC-2023-0071).
    async fn sign_rs256(&self, pkcs8_der: &[u8], message: &[u8]) -> Result<Vec<u8>, String>;
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
    /// Writes what `reschedule`, `remove` and `record` were given since the last commit,
    /// together: a store may hold them until then, to write a round's changes in a few
    /// statements rather than a few per delivery. The engine commits before every await and
    /// before it reads the queue again, so that what a killed runtime loses is only ever
    /// what it also never acted on (the Durable Object commits one synchronous stretch's
    /// writes together).
    fn commit(&self) {}
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

/// The engine's ports.
pub struct Ports<'a, S, T, P, C, W> {
    pub store: &'a S,
    pub transport: &'a T,
    pub provider: &'a P,
    pub clock: &'a C,
    pub wakeup: &'a W,
}
