//! The bodies of `POST /v1/publish` and `POST /v1/publish/batch`, as read from the wire. Plain
//! types so that the schema generator derives the API's `PublishRequest` and
//! `PublishBatchRequest` from them; `api::publish` checks them and hands them to `intake`.

use crate::core::ids::{EventId, TenantId};
use serde::Deserialize;
use serde_json::value::RawValue;
#[cfg(not(target_arch = "wasm32"))]
use serde_json::Value;
use std::collections::BTreeMap;

/// Events one batch may carry.
pub const MAX_BATCH_EVENTS: usize = 100;

// Ids, topics and metadata are checked by their parsers; their schemas are written by hand in
// `api/openapi/base.json` and referred to here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct PublishRequest {
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Value", extend("$ref" = "#/components/schemas/TenantId"))
    )]
    pub tenant_id: TenantId,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(extend("$ref" = "#/components/schemas/Topic"))
    )]
    pub topic: String,
    /// Any JSON value: the body of the webhook request (serialized compactly).
    // Kept as the publisher's JSON text: it reaches every destination byte for byte.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(with = "Value"))]
    pub data: Box<RawValue>,
    /// An idempotency key: publishing the same id again for the tenant creates nothing and
    /// answers with the first publish's deliveries. Generated (`evt_` + ULID) when absent.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Option<Value>", extend("$ref" = "#/components/schemas/EventId"))
    )]
    pub id: Option<EventId>,
    #[serde(default)]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Value", extend("$ref" = "#/components/schemas/Metadata"))
    )]
    pub metadata: BTreeMap<String, String>,
}

/// A batch of events, each accepted or refused on its own: each is read from its own text, so
/// one malformed event is refused alone.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct PublishBatchRequest {
    /// The events, each as the body of `POST /v1/publish`.
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Vec<PublishRequest>", length(min = 1, max = MAX_BATCH_EVENTS))
    )]
    pub events: Vec<Box<RawValue>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_kept_as_the_publishers_text() {
        let body = r#"{"tenant_id":"acme","topic":"order.created","data":{"b": 1.50, "a":[ ]}}"#;
        let req: PublishRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.data.get(), r#"{"b": 1.50, "a":[ ]}"#);
        assert!(req.id.is_none() && req.metadata.is_empty());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let body = r#"{"tenant_id":"acme","topic":"t","data":1,"tenant":"x"}"#;
        assert!(serde_json::from_str::<PublishRequest>(body).is_err());
        let batch = r#"{"events":[],"extra":1}"#;
        assert!(serde_json::from_str::<PublishBatchRequest>(batch).is_err());
    }

    #[test]
    fn a_batch_keeps_each_event_unread() {
        let batch = r#"{"events":[{"not":"an event"}, 3]}"#;
        let req: PublishBatchRequest = serde_json::from_str(batch).unwrap();
        assert_eq!(req.events[0].get(), r#"{"not":"an event"}"#);
        assert_eq!(req.events[1].get(), "3");
    }
}
