//! What a log shard stores, as its rows come back: events, deliveries and attempts. A shard
//! belongs to one tenant, so rows carry no tenant id; the API adds it from the request.

use crate::core::delivery::DeliveryStatus;
use crate::core::ids::{AttemptId, DeliveryId, DestinationId, EventId};
use crate::core::time::Millis;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub id: EventId,
    pub topic: String,
    /// The publisher's JSON text, as published.
    pub data: String,
    /// JSON object of strings.
    pub metadata: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub destination_id: DestinationId,
    pub topic: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<Millis>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub manual_retries: u32,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRow {
    pub id: AttemptId,
    pub delivery_id: DeliveryId,
    pub attempt: u32,
    pub trigger: String,
    pub started_at: Millis,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub outcome: String,
    pub error: Option<String>,
    pub response_body: Option<String>,
    pub requested_by: Option<String>,
    /// JSON `[[name, value], …]`, credentials masked.
    pub request_headers: Option<String>,
}

/// One delivery to create with its event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub destination_id: DestinationId,
    /// `Pending` (handed to the destination's scheduler), `Skipped` or `Filtered`.
    pub status: DeliveryStatus,
}

/// A delivery as the publish answer shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliverySummary {
    pub id: DeliveryId,
    pub destination_id: DestinationId,
    pub status: DeliveryStatus,
}

/// An event of a search page, with how many of its deliveries are in each status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    #[serde(flatten)]
    pub event: EventRow,
    pub deliveries: std::collections::BTreeMap<String, u32>,
}

/// One event with every delivery and attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDetail {
    pub event: EventRow,
    pub deliveries: Vec<DeliveryRow>,
    pub attempts: Vec<AttemptRow>,
}
