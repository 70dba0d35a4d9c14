//! WebSocket: the messages clients get, what they may send, and the acknowledgement wait.

use super::*;
use crate::core::ids::{DeliveryId, EventId, TenantId};
use crate::core::wire::{HttpResponse, TransportError};
use futures::task::noop_waker_ref;
use serde_json::{json, Value};

fn delivery(n: u128) -> QueuedDelivery {
    QueuedDelivery {
        delivery_id: DeliveryId::generate(1, n),
        tenant_id: TenantId::parse("acme").unwrap(),
        event_id: EventId::parse(&format!("evt-{n}")).unwrap(),
        topic: "order.created".into(),
        payload: format!(r#"{{"n":{n}}}"#),
        metadata: BTreeMap::from([("region".to_string(), "eu".to_string())]),
        attempts: 2,
        due_at: 0,
        created_at: 1_700_000_000_000,
        manual: None,
        shard: Default::default(),
    }
}

fn answer(clients: usize, acked: &[&str]) -> TransportResult {
    Ok(HttpResponse {
        status: 200,
        headers: vec![],
        body: serde_json::to_string(&BroadcastAnswer {
            clients,
            acked: acked.iter().map(|s| s.to_string()).collect(),
            waited_ms: 500,
        })
        .unwrap(),
    })
}

#[test]
fn each_event_is_one_message_with_its_data_as_json() {
    let d = delivery(1);
    let Outbound::Broadcast(sent) = WebSocketProvider
        .build(&[d.clone(), delivery(2)], 0)
        .unwrap()
    else {
        panic!("a WebSocket send is a broadcast");
    };
    let ids: Vec<&str> = sent.iter().map(|m| m.event_id.as_str()).collect();
    assert_eq!(ids, ["evt-1", "evt-2"]);
    let messages: Vec<Value> = sent
        .iter()
        .map(|m| serde_json::from_str(&m.text).unwrap())
        .collect();
    assert_eq!(
        messages[0],
        json!({
            "type": "event", "event_id": "evt-1", "topic": "order.created", "data": {"n": 1},
            "metadata": {"region": "eu"}, "attempt": 3, "delivery_id": d.delivery_id.as_str(),
            "created_at": "2023-11-14T22:13:20.000Z",
        })
    );
    assert_eq!(messages.len(), 2);
}

#[test]
fn acknowledged_events_are_delivered_the_others_retried() {
    let batch = [delivery(1), delivery(2)];
    let verdicts = WebSocketProvider.interpret(&batch, &answer(2, &["evt-2"]), 0);
    assert!(verdicts[0].is_transient());
    assert_eq!(verdicts[1], Verdict::Delivered);
    assert_eq!(
        verdicts[0],
        Verdict::Transient {
            error: "no acknowledgement from 2 connected client(s) within 500 ms".into(),
            retry_after_ms: None
        }
    );
    // No client connected: the transport says so, and the delivery waits for one.
    let none = Err(TransportError::Network(
        "no WebSocket client is connected".into(),
    ));
    assert!(WebSocketProvider.interpret(&batch, &none, 0)[0].is_transient());
}

#[test]
fn client_messages() {
    assert_eq!(
        ClientMessage::parse(r#"{"type":"ack","event_id":"evt-1"}"#),
        Ok(ClientMessage::Ack {
            event_id: Some("evt-1".into()),
            event_ids: vec![]
        })
    );
    assert_eq!(
        ClientMessage::parse(r#"{"type":"ping"}"#),
        Ok(ClientMessage::Ping)
    );
    assert!(ClientMessage::parse(r#"{"type":"ack","event_id":"e","extra":1}"#).is_err());
    assert!(ClientMessage::parse("not json").is_err());
    assert!(ClientMessage::parse(&format!(
        r#"{{"type":"ack","event_id":"{}"}}"#,
        "x".repeat(5_000)
    ))
    .is_err());
}

#[test]
fn the_wait_ends_when_every_expected_event_is_acked() {
    let board = AckBoard::default();
    let ids = vec!["evt-1".to_string(), "evt-2".to_string()];
    board.expect(ids.iter().map(String::as_str));
    let mut wait = Box::pin(board.all_acked(&ids));
    let mut cx = Context::from_waker(noop_waker_ref());
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    assert!(!board.ack("evt-9"), "an ack for nothing awaited is ignored");
    assert!(board.ack("evt-1"));
    assert!(wait.as_mut().poll(&mut cx).is_pending());
    assert!(board.ack("evt-2"));
    assert!(wait.as_mut().poll(&mut cx).is_ready());
    drop(wait);
    assert_eq!(board.finish(ids.iter().map(String::as_str)), ids);
    // Once finished, a late ack no longer counts.
    assert!(!board.ack("evt-1"));
}

#[test]
fn max_clients_is_bounded() {
    assert!(WebSocketConfig { max_clients: 0 }.validate(false).len() == 1);
    assert!(WebSocketConfig { max_clients: 10 }
        .validate(false)
        .is_empty());
}
