//! The messages between the Worker and a DeliveryScheduler: one tagged, versioned enum,
//! sent as JSON in the body of a `fetch` to the Durable Object (read with the tag first,
//! `core::tagged`).

use crate::core::breaker::{Breaker, CircuitState};
use crate::core::engine::QueuedDelivery;
use crate::core::tagged::{self, Fields, TagFirst};
use crate::core::time::Millis;
use crate::store::destinations::DestinationRow;
use serde::de::MapAccess;
use serde::{Deserialize, Serialize};

/// Bumped when a message changes shape; a scheduler refuses versions it does not know, so a
/// half-finished deploy fails loudly instead of misreading a message.
pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u32,
    /// Which of the destination's lanes this object is (`core::lanes`): 0, the object named by
    /// the destination id, unless said otherwise.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lane: u32,
    pub request: SchedulerRequest,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SchedulerRequest {
    /// The destination changed (created, updated, enabled, disabled, secret rotated).
    Configure(Configure),
    /// New deliveries, with the destination snapshot they were matched against.
    Enqueue(Enqueue),
    Status,
    /// Send this one delivery once, outside the queue, and answer a `ProbeReport`.
    Test(Test),
    ResetCircuit,
    /// The destination is deleted: drop the queue and never send again.
    Purge,
    /// Another lane's circuit opened (or closed after its probe): this lane takes it on, so
    /// that the destination has one circuit across its lanes.
    Circuit(Circuit),
    /// Runs of another lane, for the destination's alerting (this is lane 0, which keeps the
    /// one alert state, so that an outage seen by K lanes is one incident, not K).
    Observe(Observe),
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Configure {
    pub destination: DestinationRow,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Enqueue {
    pub destination: DestinationRow,
    pub deliveries: Vec<QueuedDelivery>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Test {
    pub destination: DestinationRow,
    pub delivery: QueuedDelivery,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Circuit {
    pub breaker: Breaker,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Observe {
    pub runs: Vec<crate::core::alerts::RunSeen>,
}

impl TagFirst for SchedulerRequest {
    const TAG: &'static str = "op";
    const VARIANTS: &'static [&'static str] = &[
        "configure",
        "enqueue",
        "status",
        "test",
        "reset_circuit",
        "purge",
        "circuit",
        "observe",
    ];

    fn variant<'de, A: MapAccess<'de>>(name: &str, f: Fields<A>) -> Result<Self, A::Error> {
        Ok(match name {
            "configure" => Self::Configure(f.read()?),
            "enqueue" => Self::Enqueue(f.read()?),
            "test" => Self::Test(f.read()?),
            "circuit" => Self::Circuit(f.read()?),
            "observe" => Self::Observe(f.read()?),
            "status" | "reset_circuit" | "purge" => {
                f.none()?;
                match name {
                    "status" => Self::Status,
                    "reset_circuit" => Self::ResetCircuit,
                    _ => Self::Purge,
                }
            }
            _ => return Err(f.unknown::<Self>(name)),
        })
    }
}

tagged::impl_deserialize!(SchedulerRequest);

/// The circuit as the status endpoint shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CircuitStatus {
    pub state: CircuitState,
    pub consecutive_failures: u32,
    pub opened_at: Option<Millis>,
    pub retry_at: Option<Millis>,
}

impl From<&Breaker> for CircuitStatus {
    fn from(b: &Breaker) -> Self {
        CircuitStatus {
            state: b.state,
            consecutive_failures: b.consecutive_failures,
            opened_at: b.opened_at,
            retry_at: b.retry_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SchedulerStatus {
    pub circuit: CircuitStatus,
    pub queue_depth: u64,
    pub next_attempt_at: Option<Millis>,
    /// The pacing in force, with the deliveries it allows right now.
    pub rate_limit: Option<RateLimitStatus>,
    /// Connected clients, for a `websocket` destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket_clients: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateLimitStatus {
    pub per_second: f64,
    pub available: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enqueued {
    /// Deliveries newly queued (a repeated id is not queued twice).
    pub queued: u64,
}

impl SchedulerStatus {
    /// The status of a destination over its lanes: queues and rate limits add up, the circuit
    /// is the most severe lane's (`core::lanes::merge_circuits`), the next attempt the
    /// earliest; WebSocket clients are lane 0's (such a destination has one lane).
    pub fn merge(self, other: SchedulerStatus) -> SchedulerStatus {
        let breaker = |c: CircuitStatus| Breaker {
            state: c.state,
            consecutive_failures: c.consecutive_failures,
            opened_at: c.opened_at,
            retry_at: c.retry_at,
        };
        let circuit =
            crate::core::lanes::merge_circuits(breaker(self.circuit), breaker(other.circuit));
        let next_attempt_at = match (self.next_attempt_at, other.next_attempt_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let rate_limit = match (self.rate_limit, other.rate_limit) {
            (Some(a), Some(b)) => Some(RateLimitStatus {
                per_second: a.per_second + b.per_second,
                available: a.available + b.available,
            }),
            (a, b) => a.or(b),
        };
        SchedulerStatus {
            circuit: (&circuit).into(),
            queue_depth: self.queue_depth + other.queue_depth,
            next_attempt_at,
            rate_limit,
            websocket_clients: self.websocket_clients.or(other.websocket_clients),
        }
    }
}
