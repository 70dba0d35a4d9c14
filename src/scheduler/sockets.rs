//! The scheduler's side of `websocket` destinations: it accepts client connections with the
//! hibernation API (the object may sleep while clients stay connected), and its transport
//! sends a broadcast's messages to every client, then waits for acknowledgements.

use crate::core::engine::Transport;
use crate::core::wire::{
    BroadcastMessage, HttpResponse, Outbound, TransportError, TransportResult,
};
use crate::providers::websocket::{AckBoard, BroadcastAnswer, ClientMessage};
use crate::runtime::fetch;
use futures::future::select;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use worker::{Delay, Response, State, WebSocket, WebSocketPair};

/// What a connection carries through hibernation (its attachment).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientInfo {
    pub client_id: String,
    /// Who connected (`admin` or a tenant token's subject).
    pub principal: String,
    pub connected_at: i64,
}

/// Accepts a client: the 101 answer whose socket the runtime hands to the client.
pub fn accept(state: &State, info: &ClientInfo, destination_id: &str) -> worker::Result<Response> {
    let pair = WebSocketPair::new()?;
    state.accept_web_socket(&pair.server);
    pair.server.serialize_attachment(info)?;
    pair.server.send(&json!({
        "type": "hello",
        "destination_id": destination_id,
        "client_id": info.client_id,
    }))?;
    Response::from_websocket(pair.client)
}

/// Handles what a client sent: acknowledgements go to the board.
pub fn on_message(ws: &WebSocket, text: &str, board: &AckBoard) {
    match ClientMessage::parse(text) {
        Ok(ClientMessage::Ack {
            event_id,
            event_ids,
        }) => {
            for id in event_id.iter().chain(&event_ids) {
                board.ack(id);
            }
        }
        Ok(ClientMessage::Ping) => {
            let _ = ws.send(&json!({ "type": "pong" }));
        }
        Err(message) => {
            let _ = ws.send(&json!({ "type": "error", "message": message }));
        }
    }
}

/// Sends what a provider built, by its kind: an HTTP request through `fetch`, a broadcast to
/// the connected clients, an email through the `send_email` binding.
pub struct SchedulerTransport<'a> {
    pub state: &'a State,
    pub board: &'a AckBoard,
    pub env: &'a worker::Env,
}

impl Transport for SchedulerTransport<'_> {
    async fn send(&self, outbound: Outbound, timeout_ms: u64) -> TransportResult {
        match outbound {
            Outbound::Http(request) => fetch(request, timeout_ms).await,
            Outbound::Broadcast(messages) => self.broadcast(&messages, timeout_ms).await,
            Outbound::Email(email) => super::email::send_email(self.env, &email).await,
        }
    }

    async fn sign_rs256(&self, pkcs8_der: &[u8], message: &[u8]) -> Result<Vec<u8>, String> {
        crate::runtime::sign_rs256(pkcs8_der, message).await
    }
}

impl SchedulerTransport<'_> {
    /// Sends every message to every client, then waits (up to `timeout_ms`) until each event
    /// is acknowledged; answers which were, as a 200 whose body is a `BroadcastAnswer`.
    async fn broadcast(&self, messages: &[BroadcastMessage], timeout_ms: u64) -> TransportResult {
        let ids: Vec<String> = messages.iter().map(|m| m.event_id.clone()).collect();
        let clients = self.state.get_websockets();
        self.board.expect(ids.iter().map(String::as_str));
        let mut reached = 0;
        for ws in &clients {
            // Each message is the text the provider built (the data as published). A socket
            // that is closing refuses the send; the others still get it.
            if messages.iter().all(|m| ws.send_with_str(&m.text).is_ok()) {
                reached += 1;
            }
        }
        let started = crate::runtime::now();
        if reached > 0 {
            let acked = self.board.all_acked(&ids);
            let timeout = Delay::from(Duration::from_millis(timeout_ms));
            futures::pin_mut!(acked);
            // Either every event was acknowledged, or the time is up: both end the wait.
            let _ = select(acked, timeout).await;
        }
        let acked = self.board.finish(ids.iter().map(String::as_str));
        if reached == 0 {
            return Err(TransportError::Network(
                "no WebSocket client is connected".into(),
            ));
        }
        let answer = BroadcastAnswer {
            clients: reached,
            acked,
            waited_ms: (crate::runtime::now() - started).max(0) as u64,
        };
        Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body: serde_json::to_string(&answer).unwrap_or_default(),
        })
    }
}
