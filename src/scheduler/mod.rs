//! The DeliveryScheduler Durable Object: one per destination (named by its id), or one per lane
//! of a destination spread over several (`lanes.rs`, `core::lanes`). A thin shell
//! over `core::engine`: it keeps the queue in SQLite, runs the engine when its alarm fires,
//! sends through `fetch`, and records attempts in their events' log shards (through an
//! outbox, so a failed write loses nothing); its counters reach D1 at most once per flush
//! interval.

pub(crate) mod alerting;
mod load;
mod outbox;
mod run;

use crate::core::json;
use load::Loaded;
pub mod client;
mod email;
mod lanes;
pub mod protocol;
mod sockets;

use crate::core::audit::Change;
use crate::core::breaker::CircuitState;
use crate::core::crypto::SealKey;
use crate::core::destination::{DeliverySettings, SecretBundle, TargetConfig};
use crate::core::engine::{
    self, AttemptRecord, Ports, ProbeReport, QueueStore, QueuedDelivery, RunLimits,
};
use crate::core::ids::TenantId;
use crate::core::log::ShardRef;
use crate::core::tally::{flush_at, Tally};
use crate::core::time::Millis;
use crate::log::client::{DoSql, LogClient, LogSettings};
use crate::log::protocol::{LogRequest, Record};
use crate::providers;
use crate::providers::websocket::AckBoard;
use crate::providers::Target;
use crate::queue::SqlQueue;
use crate::runtime::{
    export_message, log_change, now, set_alarm_at, AlarmWakeup, Answer, RuntimeClock,
};
use crate::store::destinations::DestinationRow;
use crate::store::monitoring::SchedulerState;
use client::{refusal_status, SchedulerError};
use outbox::{Disabled, OutboxRecord};
use protocol::{
    Circuit, Configure, Enqueue, Enqueued, Envelope, Observe, SchedulerRequest, SchedulerStatus,
    Test, PROTOCOL_VERSION,
};
use serde_json::json;
use sockets::SchedulerTransport;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use worker::{
    console_error, durable_object, DurableObject, Env, Request, Response, Result, State, WebSocket,
    WebSocketIncomingMessage,
};

const DESTINATION_KEY: &str = "destination";
/// The path of a WebSocket client's connection request, forwarded by the API.
pub const SOCKET_PATH: &str = "/ws";
/// The header that tells the scheduler who connects (set by the API after authentication).
pub const PRINCIPAL_HEADER: &str = "x-sluice-principal";
const PURGED_KEY: &str = "purged";
/// The state last written to D1 for /metrics (depth, circuit, failures), to write only changes.
const REPORTED_KEY: &str = "reported_state";
/// Outbox records handled per flush (attempts go to their log shards, one call per shard).
const OUTBOX_FLUSH_LIMIT: usize = 100;
/// After an enqueue, the state is reported at once only if no run (which reports at its end)
/// is due within this long: e.g. while the circuit is open.
const STATE_REPORT_SLACK_MS: Millis = 5_000;
/// When a record could not be written, try again this soon.
const OUTBOX_RETRY_MS: Millis = 5_000;
/// The attempts counted since the last metrics flush (`core::tally`).
const TALLY_KEY: &str = "tally";
const FLUSHED_KEY: &str = "metrics_flushed_at";

#[durable_object]
pub struct DeliveryScheduler {
    state: State,
    env: Env,
    queue: SqlQueue<DoSql>,
    /// Decrypted config, cached until the destination changes.
    loaded: RefCell<Option<Rc<Loaded>>>,
    /// A run is in progress: another alarm or enqueue leaves the scheduling to it.
    running: Cell<bool>,
    /// Something asked for the alarm during a run: the run checks it again when it ends,
    /// since it may have set its last wake-up (or none) before that work arrived.
    wake_requested: Cell<bool>,
    /// Alerts were put in the outbox during a run (`Observe`), maybe after its last flush:
    /// the run flushes again when it ends.
    flush_requested: Cell<bool>,
    /// WebSocket clients' acknowledgements, met by the broadcast waiting for them.
    acks: AckBoard,
}

export_message!(DeliveryScheduler);

impl DurableObject for DeliveryScheduler {
    fn new(state: State, env: Env) -> Self {
        let queue = SqlQueue::new(DoSql(state.storage().sql()));
        if let Err(e) = queue.migrate() {
            console_error!("scheduler schema setup failed: {e}");
        }
        DeliveryScheduler {
            state,
            env,
            queue,
            loaded: RefCell::new(None),
            running: Cell::new(false),
            wake_requested: Cell::new(false),
            flush_requested: Cell::new(false),
            acks: AckBoard::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() == SOCKET_PATH {
            return self.connect_client(&req).await;
        }
        self.handle(&req.text().await?).await?.into_response()
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        match message {
            WebSocketIncomingMessage::String(text) => sockets::on_message(&ws, &text, &self.acks),
            WebSocketIncomingMessage::Binary(_) => {
                let _ =
                    ws.send(&json!({ "type": "error", "message": "send JSON text, not binary" }));
            }
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        // Complete the closing handshake; 1005/1006 are reserved and may not be sent back.
        let code = match code {
            1000..=1003 | 1007..=1014 | 3000..=4999 => code as u16,
            _ => 1000,
        };
        let _ = ws.close(Some(code), Some("closing"));
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, error: worker::Error) -> Result<()> {
        console_error!("websocket error: {error}");
        self.log(&Change::ClientError);
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        if self.running.replace(true) {
            return Response::ok("run in progress");
        }
        let result = {
            // Cleared however the run ends, even if the runtime drops it half-way.
            let _running = RunningFlag(&self.running);
            self.run().await
        };
        if self.wake_requested.take() {
            self.ensure_alarm().await?;
        }
        if self.flush_requested.take() {
            self.flush_outbox_or_retry().await?;
        }
        result?;
        Response::ok("ok")
    }
}

/// Holds `running` set for as long as it lives.
struct RunningFlag<'a>(&'a Cell<bool>);

impl Drop for RunningFlag<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl DeliveryScheduler {
    /// Answers one message of `protocol` (the text of an `Envelope`), sent by RPC (`message`)
    /// or by `fetch`.
    async fn handle(&self, text: &str) -> Result<Answer> {
        let envelope: Envelope = match json::from_str(text) {
            Ok(e) => e,
            Err(e) => return Ok(Answer::error(400, format!("bad scheduler message: {e}"))),
        };
        if envelope.v != PROTOCOL_VERSION {
            return Ok(Answer::error(
                400,
                format!("unsupported scheduler protocol v{}", envelope.v),
            ));
        }
        if self.queue.get::<bool>(PURGED_KEY).unwrap_or(false) {
            return Ok(Answer::error(410, "destination deleted"));
        }
        self.know_lane(envelope.lane);
        let answer = match envelope.request {
            SchedulerRequest::Configure(Configure { destination }) => {
                let known_span = self.known_span();
                self.configure(destination);
                self.circuit_to_new_lanes(known_span).await;
                self.ensure_alarm().await?;
                Answer::json(serde_json::to_string(&json!({})))
            }
            SchedulerRequest::Enqueue(Enqueue {
                destination,
                deliveries,
            }) => {
                self.configure(destination);
                let earliest = self.queue.enqueue_all(&deliveries);
                let queued = earliest.len() as u64;
                // The alarm already covers what was queued before: only the new ones' earliest
                // due time can move it earlier (no query of the queue for it).
                let next = match earliest.into_iter().min() {
                    Some(due) => self.ensure_alarm_by(Some(due)).await?,
                    None => self.ensure_alarm().await?,
                };
                // A run due soon reports the state at its end; otherwise report it now.
                let run_is_near = next.is_some_and(|t| t <= now() + STATE_REPORT_SLACK_MS);
                if queued > 0 && !run_is_near {
                    self.report_state_now().await;
                }
                Answer::json(serde_json::to_string(&Enqueued { queued }))
            }
            SchedulerRequest::Status => Answer::json(serde_json::to_string(&self.status())),
            SchedulerRequest::Test(Test {
                destination,
                delivery,
            }) => {
                self.configure(destination);
                match self.load() {
                    Some(loaded) => {
                        Answer::json(serde_json::to_string(&self.probe(&loaded, &delivery).await))
                    }
                    None => Answer::error(500, "the destination cannot be loaded"),
                }
            }
            SchedulerRequest::ResetCircuit => {
                let (breaker, transition) = self.queue.breaker().reset();
                self.queue.save_breaker(&breaker);
                if transition.is_some() {
                    self.log(&Change::CircuitReset);
                }
                self.ensure_alarm().await?;
                self.report_state_now().await;
                Answer::json(serde_json::to_string(&self.status()))
            }
            SchedulerRequest::Circuit(Circuit { breaker }) => {
                self.adopt_circuit(&breaker);
                self.ensure_alarm().await?;
                Answer::json(serde_json::to_string(&json!({})))
            }
            SchedulerRequest::Observe(Observe { runs }) => {
                self.observe_lanes(&runs).await?;
                Answer::json(serde_json::to_string(&json!({})))
            }
            SchedulerRequest::Purge => {
                self.queue.clear();
                self.queue.put(PURGED_KEY, &true);
                self.loaded.replace(None);
                self.state.storage().delete_alarm().await?;
                Answer::json(serde_json::to_string(&json!({})))
            }
        };
        Ok(answer)
    }

    /// Accepts a WebSocket client of a `websocket` destination.
    async fn connect_client(&self, req: &Request) -> Result<Response> {
        let refuse = |e: SchedulerError| {
            // A full destination's answer carries its limit, which the client reads back.
            let body = match &e {
                SchedulerError::Full { max_clients } => max_clients.to_string(),
                other => other.to_string(),
            };
            Response::error(body, refusal_status(&e))
        };
        if self.queue.get::<bool>(PURGED_KEY).unwrap_or(false) {
            return refuse(SchedulerError::Gone);
        }
        let Some(loaded) = self.load() else {
            return refuse(SchedulerError::NotConfigured);
        };
        let Target::WebSocket(config) = &loaded.target else {
            return refuse(SchedulerError::NotWebSocket);
        };
        if self.state.get_websockets().len() >= config.max_clients as usize {
            return refuse(SchedulerError::Full {
                max_clients: config.max_clients,
            });
        }
        let info = sockets::ClientInfo {
            client_id: format!(
                "cli_{:032x}",
                u128::from_le_bytes(crate::runtime::random_bytes())
            ),
            principal: req.headers().get(PRINCIPAL_HEADER)?.unwrap_or_default(),
            connected_at: now(),
        };
        let response = sockets::accept(&self.state, &info, loaded.row.id.as_str())?;
        self.log(&Change::ClientConnected {
            client_id: &info.client_id,
            principal: &info.principal,
            clients: self.state.get_websockets().len(),
        });
        // Deliveries that were waiting for a client go now (those already due).
        self.ensure_alarm().await?;
        Ok(response)
    }

    /// Makes sure the alarm is set no later than the earliest due delivery (unless a run is
    /// in progress: it schedules the next one itself when it ends). Returns that due time.
    async fn ensure_alarm(&self) -> Result<Option<Millis>> {
        self.ensure_alarm_by(None).await
    }

    /// Flushes the outbox; what could not be written is tried again by the alarm.
    async fn flush_outbox_or_retry(&self) -> Result<()> {
        if !self.flush_outbox().await {
            self.wake_by(now() + OUTBOX_RETRY_MS).await?;
        }
        Ok(())
    }

    /// Makes sure the alarm fires no later than `at`.
    async fn wake_by(&self, at: Millis) -> Result<()> {
        let storage = self.state.storage();
        match storage.get_alarm().await? {
            Some(current) if current <= at => Ok(()),
            _ => set_alarm_at(&storage, at).await,
        }
    }

    /// `ensure_alarm`, told the earliest due time when the caller knows it (`None`: read it
    /// from the queue).
    async fn ensure_alarm_by(&self, earliest: Option<Millis>) -> Result<Option<Millis>> {
        if self.running.get() {
            self.wake_requested.set(true);
            return Ok(None);
        }
        let Some(loaded) = self.load() else {
            return Ok(None);
        };
        let storage = self.state.storage();
        if !loaded.row.enabled {
            storage.delete_alarm().await?;
            return Ok(None);
        }
        let due = match earliest {
            Some(due) => self.held_by_breaker(due),
            None => self.next_attempt_at(),
        };
        let Some(due) = due else {
            return Ok(None);
        };
        self.wake_by(due).await?;
        Ok(Some(due))
    }

    /// The next send: the earliest due delivery, or later if the circuit is open.
    fn next_attempt_at(&self) -> Option<Millis> {
        self.held_by_breaker(self.queue.next_due()?)
    }

    /// A due time, later if the circuit is open.
    fn held_by_breaker(&self, due: Millis) -> Option<Millis> {
        let breaker = self.queue.breaker();
        Some(match (breaker.state, breaker.retry_at) {
            (crate::core::breaker::CircuitState::Open, Some(at)) => due.max(at),
            _ => due,
        })
    }

    fn status(&self) -> SchedulerStatus {
        let enabled = self.load().is_some_and(|l| l.row.enabled);
        let rate_limit = self
            .load()
            .and_then(|l| l.settings.rate_limit.clone())
            .map(|r| {
                let bucket = self.queue.bucket();
                // A bucket never used is full; otherwise what it held, refilled since.
                let available = match bucket.take(r.per_second, now(), usize::MAX) {
                    Ok((_, n)) => n as f64,
                    Err(_) => 0.0,
                };
                protocol::RateLimitStatus {
                    per_second: r.per_second,
                    available,
                }
            });
        let websocket_clients = self
            .load()
            .filter(|l| matches!(l.target, Target::WebSocket(_)))
            .map(|_| self.state.get_websockets().len());
        SchedulerStatus {
            websocket_clients,
            rate_limit,
            circuit: (&self.queue.breaker()).into(),
            queue_depth: self.queue.depth(),
            next_attempt_at: if enabled {
                self.next_attempt_at()
            } else {
                None
            },
        }
    }

    /// One structured log line per state change (`core::audit`: typed fields, never
    /// credentials).
    fn log(&self, change: &Change) {
        match self.load() {
            Some(l) => log_change(change, &l.row.tenant_id, Some(&l.row.id)),
            None => console_error!("state change {} of an unloaded scheduler", change.name()),
        }
    }
}
