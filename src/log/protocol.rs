//! The messages the Worker and the schedulers send to log shards and index objects: one
//! tagged, versioned enum each, as JSON in the body of a `fetch` to the Durable Object (read
//! with the tag first, `core::tagged`).

use super::rows::{EventRow, NewDelivery};
use super::search::EventQuery;
use super::shard::{RetryScope, Snapshot, Stored};
use crate::core::engine::AttemptRecord;
use crate::core::ids::{DeliveryId, DestinationId, EventId, TenantId};
use crate::core::log::ShardRef;
use crate::core::tagged::{self, Fields, TagFirst};
use crate::core::time::Millis;
use serde::de::MapAccess;
use serde::{Deserialize, Serialize};

/// Bumped when a message changes shape; an object refuses versions it does not know.
/// v2: the events of a `StoreEvents` may ask the shard to claim their ids (`NewEvent::claim`),
/// and its answer is a `StoreAnswer`. A v1 `StoreEvents` comes from a Worker of the version
/// before while a deploy rolls out: that Worker claimed the ids itself, and the shard stores
/// the events as sent and answers as v1 did (one `Stored` each). Every other message is the
/// same in both.
pub const LOG_PROTOCOL_VERSION: u32 = 2;
/// The oldest version the objects still answer.
pub const OLDEST_LOG_PROTOCOL_VERSION: u32 = 1;

/// Whether an object answers a message of version `v`.
pub fn known_version(v: u32) -> bool {
    (OLDEST_LOG_PROTOCOL_VERSION..=LOG_PROTOCOL_VERSION).contains(&v)
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LogEnvelope<T> {
    pub v: u32,
    pub request: T,
}

/// To a log shard.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LogRequest {
    /// Answer: `StoreAnswer`.
    StoreEvents(StoreEvents),
    /// One event with its deliveries and attempts (`Option<EventDetail>`).
    Event(Id<EventId>),
    /// A page of the event log (`Vec<EventSummary>`, `limit + 1` rows).
    Search(Search),
    /// A page of one destination's deliveries, newest first (`Vec<DeliveryRow>`).
    DestinationDeliveries(DestinationDeliveries),
    /// One delivery with its attempts (`Option<(DeliveryRow, Vec<AttemptRow>)>`).
    Delivery(Id<DeliveryId>),
    /// Attempt records from a scheduler.
    Record(Record),
    /// A manual retry (`Retried`).
    Retry(Retry),
    /// The tenant is deleted: drop everything.
    Purge,
}

/// Events with their deliveries, with the snapshots of the destinations their pending
/// deliveries go to. The first store also tells the shard whose it is and when it expires.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoreEvents {
    pub tenant_id: TenantId,
    pub shard: ShardRef,
    pub expires_at: Millis,
    pub events: Vec<NewEvent>,
    pub snapshots: Vec<Snapshot>,
}

/// A request that names one thing by its id.
#[derive(Debug, Serialize, Deserialize)]
pub struct Id<T> {
    pub id: T,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Search {
    pub query: EventQuery,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DestinationDeliveries {
    pub destination_id: DestinationId,
    pub status: Option<String>,
    pub before: Option<DeliveryId>,
    pub limit: usize,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    pub attempts: Vec<AttemptRecord>,
}

/// A manual retry, with the snapshots of the destinations it may go to.
#[derive(Debug, Serialize, Deserialize)]
pub struct Retry {
    pub scope: RetryScope,
    pub cap: u32,
    pub requested_by: String,
    pub snapshots: Vec<Snapshot>,
}

impl TagFirst for LogRequest {
    const TAG: &'static str = "op";
    const VARIANTS: &'static [&'static str] = &[
        "store_events",
        "event",
        "search",
        "destination_deliveries",
        "delivery",
        "record",
        "retry",
        "purge",
    ];

    fn variant<'de, A: MapAccess<'de>>(name: &str, f: Fields<A>) -> Result<Self, A::Error> {
        Ok(match name {
            "store_events" => Self::StoreEvents(f.read()?),
            "event" => Self::Event(f.read()?),
            "search" => Self::Search(f.read()?),
            "destination_deliveries" => Self::DestinationDeliveries(f.read()?),
            "delivery" => Self::Delivery(f.read()?),
            "record" => Self::Record(f.read()?),
            "retry" => Self::Retry(f.read()?),
            "purge" => {
                f.none()?;
                Self::Purge
            }
            _ => return Err(f.unknown::<Self>(name)),
        })
    }
}

tagged::impl_deserialize!(LogRequest);

/// To an index object.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum IndexRequest {
    /// Answer: where each lives (`Vec<Located>`, in order).
    ClaimIds(ClaimIds),
    /// Where an event lives (`Option<ShardRef>`).
    Locate(Locate),
    Purge,
}

/// Takes each id for its shard unless it is taken.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClaimIds {
    pub claims: Vec<Claim>,
    /// How long to remember the ids (the dedup window).
    pub keep_ms: Millis,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Locate {
    pub event_id: EventId,
}

impl TagFirst for IndexRequest {
    const TAG: &'static str = "op";
    const VARIANTS: &'static [&'static str] = &["claim_ids", "locate", "purge"];

    fn variant<'de, A: MapAccess<'de>>(name: &str, f: Fields<A>) -> Result<Self, A::Error> {
        Ok(match name {
            "claim_ids" => Self::ClaimIds(f.read()?),
            "locate" => Self::Locate(f.read()?),
            "purge" => {
                f.none()?;
                Self::Purge
            }
            _ => return Err(f.unknown::<Self>(name)),
        })
    }
}

tagged::impl_deserialize!(IndexRequest);

/// An event to store, with its deliveries.
#[derive(Debug, Serialize, Deserialize)]
pub struct NewEvent {
    pub event: EventRow,
    pub deliveries: Vec<NewDelivery>,
    /// Its id is the publisher's: the shard claims it at its index object before it stores
    /// (`log::claims`), and an id that already lives in another shard goes there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub claim: bool,
}

/// A shard's answer to `StoreEvents`, one per event in order: what storing it did (in this
/// shard, or in the one its id already lived in), or why it was not stored.
pub type StoreAnswer = Vec<Result<Stored, String>>;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeOwned;

    /// Reads `text` and writes it back unchanged: the JSON the derived, struct-variant enums
    /// wrote (tag first, then the fields in order), which messages in flight and outboxes
    /// still hold.
    fn same_text<T: Serialize + DeserializeOwned>(text: &str) {
        let value: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(serde_json::to_string(&value).unwrap(), text);
    }

    const DES: &str = "des_01hzy0000000000000000000aa";
    const DLV: &str = "dlv_01hzy0000000000000000000bb";

    #[test]
    fn log_requests_keep_their_json() {
        for text in [
            r#"{"op":"store_events","tenant_id":"acme","shard":{"bucket":20416,"slot":1},"expires_at":5,"events":[],"snapshots":[]}"#.to_string(),
            // An event to claim, and one not (the flag left out, as before it existed).
            r#"{"op":"store_events","tenant_id":"acme","shard":{"bucket":20416,"slot":1},"expires_at":5,"events":[{"event":{"id":"e4","topic":"t","data":"{}","metadata":"{}","created_at":7},"deliveries":[],"claim":true},{"event":{"id":"evt_1","topic":"t","data":"{}","metadata":"{}","created_at":7},"deliveries":[]}],"snapshots":[]}"#.into(),
            r#"{"op":"event","id":"e4"}"#.into(),
            r#"{"op":"search","query":{"topic":"order.*","status":null,"destination":null,"since":1,"until":null,"path_equals":["$.id","7"],"contains":null,"newest_first":true,"after":[3,"e4"],"limit":20}}"#.into(),
            format!(r#"{{"op":"destination_deliveries","destination_id":"{DES}","status":"failed","before":"{DLV}","limit":10}}"#),
            format!(r#"{{"op":"delivery","id":"{DLV}"}}"#),
            r#"{"op":"record","attempts":[]}"#.into(),
            format!(r#"{{"op":"retry","scope":{{"scope":"delivery","id":"{DLV}"}},"cap":5,"requested_by":"admin","snapshots":[]}}"#),
            format!(r#"{{"op":"retry","scope":{{"scope":"event","id":"e4","destinations":["{DES}"]}},"cap":5,"requested_by":"portal:alice","snapshots":[]}}"#),
            format!(r#"{{"op":"retry","scope":{{"scope":"destination","id":"{DES}","since":1,"until":2,"limit":3}},"cap":5,"requested_by":"admin","snapshots":[]}}"#),
            r#"{"op":"purge"}"#.into(),
        ] {
            same_text::<LogEnvelope<LogRequest>>(&format!(r#"{{"v":1,"request":{text}}}"#));
        }
    }

    #[test]
    fn index_requests_keep_their_json() {
        for text in [
            r#"{"op":"claim_ids","claims":[{"event_id":"e4","shard":{"bucket":20416,"slot":0},"at":7}],"keep_ms":100}"#,
            r#"{"op":"locate","event_id":"e4"}"#,
            r#"{"op":"purge"}"#,
        ] {
            same_text::<LogEnvelope<IndexRequest>>(&format!(r#"{{"v":1,"request":{text}}}"#));
        }
    }

    #[test]
    fn the_version_before_is_still_answered_during_a_deploy() {
        assert!(known_version(1), "a Worker of the version before sends v1");
        assert!(known_version(LOG_PROTOCOL_VERSION));
        assert!(!known_version(0));
        assert!(!known_version(LOG_PROTOCOL_VERSION + 1));
        // A v1 store reads as events not to claim: that Worker claimed them itself.
        let text = r#"{"v":1,"request":{"op":"store_events","tenant_id":"acme","shard":{"bucket":1,"slot":0},"expires_at":5,"events":[{"event":{"id":"e4","topic":"t","data":"{}","metadata":"{}","created_at":7},"deliveries":[]}],"snapshots":[]}}"#;
        let m: LogEnvelope<LogRequest> = serde_json::from_str(text).unwrap();
        match m.request {
            LogRequest::StoreEvents(s) => assert!(!s.events[0].claim),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unknown_operation_is_refused() {
        let e = serde_json::from_str::<LogRequest>(r#"{"op":"compact"}"#).unwrap_err();
        assert!(
            e.to_string().starts_with("unknown variant `compact`"),
            "{e}"
        );
        assert!(serde_json::from_str::<IndexRequest>(r#"{"op":"event","id":"e4"}"#).is_err());
    }
}
