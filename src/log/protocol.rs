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
    /// Events with their deliveries (answer: one `Stored` each, in order), with the snapshots
    /// of the destinations their pending deliveries go to. The first store also tells the
    /// shard whose it is and when it expires.
    StoreEvents {
        tenant_id: TenantId,
        shard: ShardRef,
        expires_at: Millis,
        events: Vec<NewEvent>,
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
    /// Takes each id for its shard unless it is taken: answers where each lives
    /// (`Vec<Located>`, in order).
    ClaimIds {
        claims: Vec<Claim>,
        /// How long to remember the ids (the dedup window).
        keep_ms: Millis,
    },
    /// Where an event lives (`Option<ShardRef>`).
    Locate {
        event_id: EventId,
    },
    Purge,
}

/// An event to store, with its deliveries.
#[derive(Debug, Serialize, Deserialize)]
pub struct NewEvent {
    pub event: EventRow,
    pub deliveries: Vec<NewDelivery>,
}

/// An event id to take for a shard, published at `at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claim {
    pub event_id: EventId,
    pub shard: ShardRef,
    pub at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located {
    pub shard: ShardRef,
    /// This claim took the id (no earlier publish had it).
    pub first: bool,
}
