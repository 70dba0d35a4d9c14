//! WebSocket: clients connect to `GET /v1/tenants/{tid}/destinations/{did}/ws`, and the
//! destination's Durable Object (the DeliveryScheduler, through the hibernation API) sends
//! every event to every connected client. A client acknowledges an event by id:
//! `{"type": "ack", "event_id": "…"}`. A delivery counts as delivered when at least one client
//! acknowledged it within the destination's `timeout_ms`; otherwise it is retried per policy.
//!
//! The provider here is pure: it builds the messages (an `Outbound::Broadcast`, which the
//! scheduler's transport sends to its sockets) and reads the acknowledgements back from the
//! `BroadcastAnswer` the transport returns. `AckBoard` is where the acknowledgements meet the
//! wait.

use crate::core::classify::{classify, Verdict};
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::json;
use crate::core::time::{to_rfc3339, Millis};
use crate::core::wire::{BroadcastMessage, Outbound, TransportResult};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

mod config;
pub use config::*;

/// Events per broadcast round (each is its own message; the round waits for all acks).
pub const MAX_BATCH: usize = 20;
/// Largest message a client may send (an ack is tiny).
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 4_096;

/// What the scheduler's socket transport answers about a broadcast: the body of a 200, the
/// shape every transport result has, so that attempt records show it like any answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastAnswer {
    /// Clients the messages went to.
    pub clients: usize,
    /// Events at least one client acknowledged in time.
    pub acked: Vec<String>,
    pub waited_ms: u64,
}

/// One event as a client receives it.
#[derive(Serialize)]
struct EventMessage<'a> {
    r#type: &'static str,
    event_id: &'a str,
    topic: &'a str,
    /// The data as the publisher wrote it (its JSON text, spliced in untouched).
    data: &'a RawValue,
    metadata: &'a BTreeMap<String, String>,
    attempt: u32,
    delivery_id: &'a str,
    created_at: String,
}

/// One event as a client receives it, as JSON text.
pub fn message(d: &QueuedDelivery) -> Result<String, String> {
    let data: &RawValue =
        json::from_str(&d.payload).map_err(|e| format!("the event's data is not JSON: {e}"))?;
    serde_json::to_string(&EventMessage {
        r#type: "event",
        event_id: d.event_id.as_str(),
        topic: &d.topic,
        data,
        metadata: &d.metadata,
        attempt: d.attempts + 1,
        delivery_id: d.delivery_id.as_str(),
        created_at: to_rfc3339(d.created_at),
    })
    .map_err(|e| e.to_string())
}

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Acknowledges one event, or several at once.
    Ack {
        #[serde(default)]
        event_id: Option<String>,
        #[serde(default)]
        event_ids: Vec<String>,
    },
    Ping,
}

impl ClientMessage {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_CLIENT_MESSAGE_BYTES {
            return Err(format!(
                "messages are at most {MAX_CLIENT_MESSAGE_BYTES} bytes"
            ));
        }
        json::from_str(text).map_err(|e| {
            format!("expected {{\"type\": \"ack\", \"event_id\": \"…\"}} or {{\"type\": \"ping\"}}: {e}")
        })
    }
}

pub struct WebSocketProvider;

impl Provider for WebSocketProvider {
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<Outbound, String> {
        let messages = batch
            .iter()
            .map(|d| {
                Ok(BroadcastMessage {
                    event_id: d.event_id.to_string(),
                    text: message(d)?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Outbound::Broadcast(messages))
    }

    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        let answer = match result {
            Ok(r) if r.status == 200 => json::from_str::<BroadcastAnswer>(&r.body).ok(),
            _ => None,
        };
        let Some(answer) = answer else {
            return vec![classify(result, now); batch.len()];
        };
        batch
            .iter()
            .map(|d| {
                if answer.acked.iter().any(|e| e == d.event_id.as_str()) {
                    Verdict::Delivered
                } else {
                    Verdict::Transient {
                        error: format!(
                            "no acknowledgement from {} connected client(s) within {} ms",
                            answer.clients, answer.waited_ms
                        ),
                        retry_after_ms: None,
                    }
                }
            })
            .collect()
    }
}

/// Acknowledged event ids, and the tasks waiting for them. One per Durable Object, in memory:
/// a wait only spans one broadcast round, while the object is awake.
#[derive(Default)]
pub struct AckBoard {
    inner: RefCell<BoardState>,
}

#[derive(Default)]
struct BoardState {
    /// Events a round is waiting for, and the ones acknowledged among them.
    expected: BTreeSet<String>,
    acked: BTreeSet<String>,
    wakers: Vec<Waker>,
}

impl AckBoard {
    /// Starts waiting for these events (acks for others are ignored).
    pub fn expect<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut s = self.inner.borrow_mut();
        s.expected.extend(ids.into_iter().map(str::to_string));
    }

    /// Records a client's ack; returns whether a round was waiting for that event.
    pub fn ack(&self, event_id: &str) -> bool {
        let mut s = self.inner.borrow_mut();
        if !s.expected.contains(event_id) {
            return false;
        }
        s.acked.insert(event_id.to_string());
        for w in s.wakers.drain(..) {
            w.wake();
        }
        true
    }

    /// Stops waiting for these events; returns the ones acknowledged.
    pub fn finish<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut s = self.inner.borrow_mut();
        let mut acked = vec![];
        for id in ids {
            s.expected.remove(id);
            if s.acked.remove(id) {
                acked.push(id.to_string());
            }
        }
        acked
    }

    /// Resolves once every one of `ids` is acknowledged.
    pub fn all_acked<'a>(&'a self, ids: &'a [String]) -> AllAcked<'a> {
        AllAcked { board: self, ids }
    }
}

pub struct AllAcked<'a> {
    board: &'a AckBoard,
    ids: &'a [String],
}

impl Future for AllAcked<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.board.inner.borrow_mut();
        if self.ids.iter().all(|id| s.acked.contains(id)) {
            Poll::Ready(())
        } else {
            s.wakers.push(cx.waker().clone());
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests;
