//! The messages the Worker and the schedulers send to log shards and index objects: one
//! tagged, versioned enum each, as JSON in the body of a `fetch` to the Durable Object.

use super::rows::{EventRow, NewDelivery};
use super::search::EventQuery;
use super::shard::{RetryScope, Snapshot};
use crate::core::engine::AttemptRecord;
use crate::core::ids::{DeliveryId, DestinationId, EventId, TenantId};
use crate::core::log::ShardRef;
use crate::core::time::Millis;
use serde::{Deserialize, Serialize};

/// Bumped when a message changes shape; an object refuses versions it does not know.
pub const LOG_PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct LogEnvelope<T> {
    pub v: u32,
    pub request: T,
}

/// To a log shard.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LogRequest {
    /// An event and its deliveries (answer: `Stored`). The first store also tells the shard
    /// whose it is and when it expires.
    Store {
        tenant_id: TenantId,
        shard: ShardRef,
        expires_at: Millis,
        event: EventRow,
        deliveries: Vec<NewDelivery>,
        snapshots: Vec<Snapshot>,
    },
    /// One event with its deliveries and attempts (`Option<EventDetail>`).
    Event { id: EventId },
    /// A page of the event log (`Vec<EventSummary>`, `limit + 1` rows).
    Search { query: EventQuery },
    /// A page of one destination's deliveries, newest first (`Vec<DeliveryRow>`).
    DestinationDeliveries {
        destination_id: DestinationId,
        status: Option<String>,
        before: Option<DeliveryId>,
        limit: usize,
    },
    /// One delivery with its attempts (`Option<(DeliveryRow, Vec<AttemptRow>)>`).
    Delivery { id: DeliveryId },
    /// Attempt records from a scheduler.
    Record { attempts: Vec<AttemptRecord> },
    /// A manual retry (`Retried`), with the snapshots of the destinations it may go to.
    Retry {
        scope: RetryScope,
        cap: u32,
        requested_by: String,
        snapshots: Vec<Snapshot>,
    },
    /// The tenant is deleted: drop everything.
    Purge,
}

/// To an index object.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum IndexRequest {
    /// Takes the id for `shard` unless it is taken: answers where it lives (`Located`).
    Claim {
        event_id: EventId,
        shard: ShardRef,
        at: Millis,
        /// How long to remember the id (the dedup window).
        keep_ms: Millis,
    },
    /// Where an event lives (`Option<ShardRef>`).
    Locate {
        event_id: EventId,
    },
    Purge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located {
    pub shard: ShardRef,
    /// This claim took the id (no earlier publish had it).
    pub first: bool,
}
