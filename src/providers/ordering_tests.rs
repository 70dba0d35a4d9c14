//! Ordering keys and lanes: each type's key for a delivery, from the catalogue's example
//! configs (the config as the API shows it, which is what the lane choice reads).

use super::testing::delivery;
use super::*;
use crate::core::lanes;
use serde_json::json;

/// The first catalogue example of `kind`, with `changes` merged in.
fn target(kind: &str, changes: Value) -> Target {
    let catalogue: Value = serde_json::from_str(CATALOGUE).unwrap();
    let mut config = catalogue["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == kind)
        .unwrap()["config_schema"]["examples"][0]
        .clone();
    crate::core::destination::merge_patch(&mut config, &changes);
    Target::parse(kind, config).unwrap()
}

fn with_metadata(event_id: &str, payload: &str, metadata: &[(&str, &str)]) -> QueuedDelivery {
    let mut d = delivery(event_id, payload);
    d.metadata = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    d
}

#[test]
fn sqs_fifo_orders_by_message_group_and_standard_queues_by_nothing() {
    let d = with_metadata("evt_1", "{}", &[("tenant", "acme")]);
    let fifo = target(
        "aws_sqs",
        json!({"message_group_id": null, "message_group_id_from_metadata": "tenant"}),
    );
    assert_eq!(fifo.ordering_key(&d).as_deref(), Some("acme"));
    // No group in the metadata: the configured one, else "default" (one group: one lane).
    let plain = delivery("evt_2", "{}");
    assert_eq!(fifo.ordering_key(&plain).as_deref(), Some("default"));
    let fixed = target("aws_sqs", json!({"message_group_id": "orders"}));
    assert_eq!(fixed.ordering_key(&plain).as_deref(), Some("orders"));
    let standard = target(
        "aws_sqs",
        json!({
            "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
            "message_group_id": null,
            "message_group_id_from_metadata": "tenant"
        }),
    );
    assert_eq!(standard.ordering_key(&d), None);
}

#[test]
fn pubsub_orders_by_its_ordering_key() {
    let by_metadata = target(
        "gcp_pubsub",
        json!({"ordering_key": "all", "ordering_key_from_metadata": "customer"}),
    );
    let d = with_metadata("evt_1", "{}", &[("customer", "c-7")]);
    assert_eq!(by_metadata.ordering_key(&d).as_deref(), Some("c-7"));
    assert_eq!(
        by_metadata
            .ordering_key(&delivery("evt_2", "{}"))
            .as_deref(),
        Some("all")
    );
    let none = target(
        "gcp_pubsub",
        json!({"ordering_key": null, "ordering_key_from_metadata": null}),
    );
    assert_eq!(none.ordering_key(&d), None);
}

#[test]
fn kafka_orders_by_the_key_field_but_not_by_the_event_id() {
    let keyed = target("kafka", json!({"key_field": "customer.id"}));
    let d = delivery("evt_1", r#"{"customer": {"id": "c-7"}}"#);
    assert_eq!(keyed.ordering_key(&d).as_deref(), Some("c-7"));
    let numeric = delivery("evt_2", r#"{"customer": {"id": 7}}"#);
    assert_eq!(keyed.ordering_key(&numeric).as_deref(), Some("7"));
    // No such field: the record key is the event id, unique: nothing to keep in order.
    assert_eq!(keyed.ordering_key(&delivery("evt_3", "{}")), None);
    let unkeyed = target("kafka", json!({"key_field": null}));
    assert_eq!(unkeyed.ordering_key(&d), None);
}

#[test]
fn a_webhook_spreads_by_delivery_id_and_a_key_stays_in_its_lane() {
    let hook = target("webhook", json!({}));
    assert_eq!(hook.ordering_key(&delivery("evt_1", "{}")), None);
    let d = delivery("evt_1", "{}");
    assert_eq!(
        hook.lane_for(&d, 8),
        lanes::lane_for(d.delivery_id.as_str(), 8)
    );
    // Every delivery of one Kafka key lands in the same lane, whatever its event.
    let keyed = target("kafka", json!({"key_field": "customer.id"}));
    let lanes_of_key: std::collections::BTreeSet<u32> = (0..50)
        .map(|i| {
            keyed.lane_for(
                &delivery(&format!("evt_{i}"), r#"{"customer": {"id": "c-7"}}"#),
                8,
            )
        })
        .collect();
    assert_eq!(lanes_of_key.len(), 1);
    assert_eq!(
        lanes_of_key.into_iter().next(),
        Some(lanes::lane_for("c-7", 8))
    );
}

#[test]
fn websocket_destinations_have_one_lane() {
    assert!(target("websocket", json!({})).one_lane());
    assert!(!target("webhook", json!({})).one_lane());
}

#[test]
fn the_config_as_shown_gives_the_same_keys() {
    // The hand-off reads the destination's config as the API shows it (credentials masked).
    let d = with_metadata("evt_1", r#"{"customer": "c-7"}"#, &[("k", "g-1")]);
    for (kind, changes) in [
        ("aws_sqs", json!({"message_group_id_from_metadata": "k"})),
        ("gcp_pubsub", json!({"ordering_key_from_metadata": "k"})),
        ("kafka", json!({"key_field": "customer"})),
    ] {
        let full = target(kind, changes);
        let shown = Target::parse(kind, full.masked()).unwrap();
        assert!(full.ordering_key(&d).is_some(), "{kind}");
        assert_eq!(shown.ordering_key(&d), full.ordering_key(&d), "{kind}");
    }
}
