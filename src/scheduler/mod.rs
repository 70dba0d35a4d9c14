//! The DeliveryScheduler Durable Object: one per destination (named by its id). A thin shell
//! over `core::engine`: it keeps the queue in SQLite, runs the engine when its alarm fires,
//! sends through `fetch`, and records attempts in their events' log shards (through an
//! outbox, so a failed write loses nothing); its counters reach D1 at most once per flush
//! interval.

pub(crate) mod alerting;
pub mod client;
mod email;
pub mod protocol;
mod sockets;
mod sql_queue;

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
use crate::log::client::{LogClient, LogSettings};
use crate::log::protocol::LogRequest;
use crate::providers;
use crate::providers::websocket::AckBoard;
use crate::providers::Target;
use crate::runtime::{log_change, now, set_alarm_at, AlarmWakeup, RuntimeClock};
use crate::store::destinations::DestinationRow;
use crate::store::monitoring::SchedulerState;
use futures::future::join_all;
use protocol::{Enqueued, Envelope, SchedulerRequest, SchedulerStatus, PROTOCOL_VERSION};
use serde_json::json;
use sockets::SchedulerTransport;
use sql_queue::{OutboxRecord, SqlQueue};
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

/// Writes outbox records: attempts to their events' log shards (one call per shard), any
/// auto-disable to D1, and publishes any alert (an event like any other, through `intake`).
async fn write_records(
    db: &worker::D1Database,
    env: &Env,
    records: Vec<OutboxRecord>,
) -> std::result::Result<(), String> {
    let mut attempts: BTreeMap<(TenantId, ShardRef), Vec<AttemptRecord>> = BTreeMap::new();
    let mut disables = vec![];
    let mut alerts = vec![];
    for r in records {
        match r {
            OutboxRecord::Attempt(a) => attempts
                .entry((a.tenant_id.clone(), a.shard))
                .or_default()
                .push(a),
            OutboxRecord::Disabled {
                tenant_id,
                destination_id,
                reason,
                at,
            } => disables.push((tenant_id, destination_id, reason, at)),
            OutboxRecord::Alert(a) => alerts.push(a),
        }
    }
    let log = LogClient::new(env);
    let calls = attempts.into_iter().map(|((tenant, shard), attempts)| {
        let log = &log;
        async move {
            log.shard::<()>(&tenant, shard, LogRequest::Record { attempts })
                .await
        }
    });
    for result in join_all(calls).await {
        result.map_err(|e| e.0)?;
    }
    let d1 = |e: crate::store::StoreError| format!("{e:?}");
    for (tenant, destination, reason, at) in disables {
        crate::store::destinations::auto_disable(db, &tenant, &destination, &reason, at)
            .await
            .map_err(d1)?;
        // Publishing in this isolate routes by the change at once (elsewhere within the
        // routing cache's TTL).
        crate::intake::forget_tenant(&tenant);
    }
    for alert in &alerts {
        alerting::publish(env, db, alert).await?;
    }
    Ok(())
}

/// The destination as the engine needs it: settings and decrypted credentials.
struct Loaded {
    row: DestinationRow,
    settings: DeliverySettings,
    target: Target,
    secrets: SecretBundle,
    /// An access token the provider obtained (Pub/Sub), kept in memory only.
    tokens: providers::pubsub::TokenCache,
    /// The payload transform, compiled once per snapshot (an error fails each delivery).
    transform: Option<std::result::Result<crate::core::transform::Transform, String>>,
}

#[durable_object]
pub struct DeliveryScheduler {
    state: State,
    env: Env,
    queue: SqlQueue,
    /// Decrypted config, cached until the destination changes.
    loaded: RefCell<Option<Rc<Loaded>>>,
    /// A run is in progress: another alarm or enqueue leaves the scheduling to it.
    running: Cell<bool>,
    /// Something asked for the alarm during a run: the run checks it again when it ends,
    /// since it may have set its last wake-up (or none) before that work arrived.
    wake_requested: Cell<bool>,
    /// WebSocket clients' acknowledgements, met by the broadcast waiting for them.
    acks: AckBoard,
}

impl DurableObject for DeliveryScheduler {
    fn new(state: State, env: Env) -> Self {
        let queue = SqlQueue::new(state.storage().sql());
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
            acks: AckBoard::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() == SOCKET_PATH {
            return self.connect_client(&req).await;
        }
        let envelope: Envelope = match req.json().await {
            Ok(e) => e,
            Err(e) => return Response::error(format!("bad scheduler message: {e}"), 400),
        };
        if envelope.v != PROTOCOL_VERSION {
            return Response::error(
                format!("unsupported scheduler protocol v{}", envelope.v),
                400,
            );
        }
        if self.queue.get::<bool>(PURGED_KEY).unwrap_or(false) {
            return Response::error("destination deleted", 410);
        }
        match envelope.request {
            SchedulerRequest::Configure { destination } => {
                self.configure(destination);
                self.ensure_alarm().await?;
                Response::from_json(&json!({}))
            }
            SchedulerRequest::Enqueue {
                destination,
                deliveries,
            } => {
                self.configure(destination);
                let queued = deliveries.iter().filter(|d| self.queue.enqueue(d)).count() as u64;
                let next = self.ensure_alarm().await?;
                // A run due soon reports the state at its end; otherwise report it now.
                let run_is_near = next.is_some_and(|t| t <= now() + STATE_REPORT_SLACK_MS);
                if queued > 0 && !run_is_near {
                    self.report_state_now().await;
                }
                Response::from_json(&Enqueued { queued })
            }
            SchedulerRequest::Status => Response::from_json(&self.status()),
            SchedulerRequest::Test {
                destination,
                delivery,
            } => {
                self.configure(destination);
                match self.load() {
                    Some(loaded) => Response::from_json(&self.probe(&loaded, &delivery).await),
                    None => Response::error("the destination cannot be loaded", 500),
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
                Response::from_json(&self.status())
            }
            SchedulerRequest::Purge => {
                self.queue.clear();
                self.queue.put(PURGED_KEY, &true);
                self.loaded.replace(None);
                self.state.storage().delete_alarm().await?;
                Response::from_json(&json!({}))
            }
        }
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
    /// Accepts a WebSocket client of a `websocket` destination.
    async fn connect_client(&self, req: &Request) -> Result<Response> {
        if self.queue.get::<bool>(PURGED_KEY).unwrap_or(false) {
            return Response::error("destination deleted", 410);
        }
        let Some(loaded) = self.load() else {
            return Response::error("destination not configured", 404);
        };
        let Target::WebSocket(config) = &loaded.target else {
            return Response::error("not a websocket destination", 409);
        };
        if self.state.get_websockets().len() >= config.max_clients as usize {
            return Response::error(
                format!(
                    "this destination takes at most {} clients",
                    config.max_clients
                ),
                429,
            );
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

    /// Keeps the newer of the stored and the given snapshot.
    fn configure(&self, row: DestinationRow) {
        // Every enqueue carries the snapshot; only a newer one is written (and decrypted anew).
        let cached = self.loaded.borrow().as_ref().map(|l| l.row.updated_at);
        let current = cached.or_else(|| {
            self.queue
                .get::<DestinationRow>(DESTINATION_KEY)
                .map(|c| c.updated_at)
        });
        if current.is_some_and(|t| t >= row.updated_at) {
            return;
        }
        let was_disabled = self
            .queue
            .get::<DestinationRow>(DESTINATION_KEY)
            .is_some_and(|c| !c.enabled);
        if was_disabled && row.enabled {
            // Enabled again by a person: the failures before do not count any more.
            self.queue.save_failure_streak(0);
        }
        self.queue.put(DESTINATION_KEY, &row);
        self.loaded.replace(None);
    }

    fn load(&self) -> Option<Rc<Loaded>> {
        if let Some(l) = self.loaded.borrow().as_ref() {
            return Some(l.clone());
        }
        let row: DestinationRow = self.queue.get(DESTINATION_KEY)?;
        let loaded = match self.unseal(row) {
            Ok(l) => Rc::new(l),
            Err(e) => {
                console_error!("scheduler cannot load its destination: {e}");
                return None;
            }
        };
        self.loaded.replace(Some(loaded.clone()));
        Some(loaded)
    }

    fn unseal(&self, row: DestinationRow) -> std::result::Result<Loaded, String> {
        let key = self
            .env
            .secret("ENCRYPTION_KEY")
            .map_err(|_| "ENCRYPTION_KEY is not set")?
            .to_string();
        let key = SealKey::from_base64(&key).map_err(|e| e.to_string())?;
        let plain = key.open(&row.secrets).map_err(|e| e.to_string())?;
        let secrets: SecretBundle = serde_json::from_slice(&plain).map_err(|e| e.to_string())?;
        let target = Target::parse(&row.kind, secrets.config.clone()).map_err(|e| e.message)?;
        let settings: DeliverySettings =
            serde_json::from_str(&row.settings).map_err(|e| e.to_string())?;
        let transform = row.transform.as_deref().map(|raw| {
            serde_json::from_str(raw).map_err(|e| format!("the stored transform is invalid: {e}"))
        });
        Ok(Loaded {
            row,
            settings,
            target,
            secrets,
            tokens: Default::default(),
            transform,
        })
    }

    /// Makes sure the alarm is set no later than the earliest due delivery (unless a run is
    /// in progress: it schedules the next one itself when it ends). Returns that due time.
    async fn ensure_alarm(&self) -> Result<Option<Millis>> {
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
        let Some(due) = self.next_attempt_at() else {
            return Ok(None);
        };
        match storage.get_alarm().await? {
            Some(current) if current <= due => {}
            _ => set_alarm_at(&storage, due).await?,
        }
        Ok(Some(due))
    }

    /// The next send: the earliest due delivery, or later if the circuit is open.
    fn next_attempt_at(&self) -> Option<Millis> {
        let due = self.queue.next_due()?;
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

    async fn run(&self) -> Result<()> {
        let Some(loaded) = self.load() else {
            return Ok(());
        };
        if !loaded.row.enabled {
            return Ok(());
        }
        let started = now();
        let provider = Self::provider(&loaded, started);
        let wakeup = AlarmWakeup(self.state.storage());
        let transport = SchedulerTransport {
            state: &self.state,
            board: &self.acks,
            env: &self.env,
        };
        let ports = Ports {
            store: &self.queue,
            transport: &transport,
            provider: &provider,
            clock: &RuntimeClock,
            wakeup: &wakeup,
        };
        let report = engine::run(ports, &loaded.settings, RunLimits::default()).await;
        let breaker = self.queue.breaker();
        for t in &report.transitions {
            let transition = format!("{t:?}").to_lowercase();
            self.log(&Change::CircuitChanged {
                transition: &transition,
                state: breaker.state,
                consecutive_failures: breaker.consecutive_failures,
            });
        }
        // The attempts are in the outbox already (the engine hands each over as it happens).
        let alerts = alerting::observe(
            &self.queue,
            &loaded.row,
            &loaded.settings,
            &report,
            now(),
            u128::from_le_bytes(crate::runtime::random_bytes()),
        );
        if let Some(streak) = report.auto_disabled {
            let record = self.auto_disable(&loaded, streak);
            self.queue.push_outbox(&[record]);
        }
        if !report.attempts.is_empty() {
            let mut tally: Tally = self.queue.get(TALLY_KEY).unwrap_or_default();
            tally.add(&report.attempts);
            self.queue.put(TALLY_KEY, &tally);
        }
        for alert in alerts {
            let c = &alert.content;
            self.log(&Change::Alert {
                resolved: c.resolved(),
                incident_id: &c.incident_id,
                trigger: c.trigger.as_str(),
                event_id: alert.event_id.as_str(),
                to_tenant: alert.to_tenant,
                to_operator: alert.to_operator,
            });
            if alert.to_tenant || alert.to_operator {
                self.queue
                    .push_outbox(&[OutboxRecord::Alert(Box::new(alert))]);
            }
        }
        let flushed = self.flush_outbox().await;
        // Metrics wait for their interval; if they must wait, wake up for them.
        let metrics_at = self.flush_metrics().await;
        let retry = (!flushed).then(|| now() + OUTBOX_RETRY_MS);
        if let Some(at) = [report.next_wake, retry, metrics_at]
            .into_iter()
            .flatten()
            .min()
        {
            let storage = self.state.storage();
            let current = storage.get_alarm().await?;
            if current.is_none_or(|c| c > at) {
                set_alarm_at(&storage, at).await?;
            }
        }
        self.queue.prune_done(started);
        Ok(())
    }

    /// The destination's provider, its transform applied to every payload.
    fn provider(
        loaded: &Loaded,
        now: Millis,
    ) -> providers::transformed::Transformed<'_, providers::AnyProvider> {
        providers::transformed::Transformed::new(
            providers::for_target(&loaded.target, &loaded.secrets, &loaded.tokens, now),
            loaded
                .transform
                .as_ref()
                .map(|t| t.as_ref().map_err(String::as_str)),
        )
    }

    /// One test send, through the same provider, credential step and transport as deliveries.
    async fn probe(&self, loaded: &Loaded, delivery: &QueuedDelivery) -> ProbeReport {
        let provider = Self::provider(loaded, now());
        let transport = SchedulerTransport {
            state: &self.state,
            board: &self.acks,
            env: &self.env,
        };
        let report = engine::probe(
            &provider,
            &transport,
            &RuntimeClock,
            delivery,
            loaded.settings.timeout_ms,
        )
        .await;
        self.log(&Change::DestinationTested {
            ok: report.ok,
            status_code: report.status_code,
        });
        report
    }

    /// Writes buffered records (`write_records`); on failure they stay for the next run.
    /// Returns whether the outbox is empty.
    async fn flush_outbox(&self) -> bool {
        let Ok(db) = self.env.d1("DB") else {
            console_error!("D1 binding DB is missing");
            return false;
        };
        loop {
            let batch = self.queue.outbox(OUTBOX_FLUSH_LIMIT);
            let Some((last_id, _)) = batch.last() else {
                return true;
            };
            let last_id = *last_id;
            match write_records(&db, &self.env, batch.into_iter().map(|(_, r)| r).collect()).await {
                Ok(()) => self.queue.drop_outbox_through(last_id),
                Err(e) => {
                    console_error!("recording attempts failed, will retry: {e}");
                    return false;
                }
            }
        }
    }

    /// Stops this scheduler at once (its queue is kept) and returns the record that tells
    /// D1. `POST …/enable` brings a newer snapshot that turns it back on.
    fn auto_disable(&self, loaded: &Loaded, streak: u32) -> OutboxRecord {
        let at = now();
        let reason = format!("disabled automatically after {streak} consecutive failed attempts");
        let mut row = loaded.row.clone();
        row.enabled = false;
        row.disabled_reason = Some(reason.clone());
        row.updated_at = at;
        self.queue.put(DESTINATION_KEY, &row);
        self.loaded.replace(None);
        self.log(&Change::DestinationAutoDisabled {
            consecutive_failures: streak,
        });
        OutboxRecord::Disabled {
            tenant_id: row.tenant_id,
            destination_id: row.id,
            reason,
            at,
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

    /// The queue depth and circuit for /metrics, and whether they changed since the last
    /// report.
    fn state_report(&self) -> Option<(SchedulerState, bool)> {
        let loaded = self.load()?;
        let breaker = self.queue.breaker();
        let current = (
            self.queue.depth(),
            breaker.state,
            breaker.consecutive_failures,
        );
        let changed = self.queue.get::<(u64, CircuitState, u32)>(REPORTED_KEY) != Some(current);
        Some((
            SchedulerState {
                tenant_id: loaded.row.tenant_id.clone(),
                destination_id: loaded.row.id.clone(),
                queue_depth: current.0,
                circuit: current.1,
                consecutive_failures: current.2,
                at: now(),
            },
            changed,
        ))
    }

    /// Writes the tally and a changed state to D1 if the flush interval has passed since the
    /// last write (`METRICS_FLUSH_SECONDS`, a minute by default): D1's writes then follow
    /// the number of destinations, not the event rate. Returns when to try again, if
    /// something is left to write.
    async fn flush_metrics(&self) -> Option<Millis> {
        let tally: Tally = self.queue.get(TALLY_KEY).unwrap_or_default();
        let (state, changed) = self.state_report()?;
        if tally.is_empty() && !changed {
            return None;
        }
        let flush_ms = LogSettings::from_env(&self.env).flush_ms;
        let due = flush_at(self.queue.get(FLUSHED_KEY), flush_ms);
        if now() < due {
            return Some(due);
        }
        let Ok(db) = self.env.d1("DB") else {
            console_error!("D1 binding DB is missing");
            return None;
        };
        match crate::store::monitoring::flush(&db, &state, &tally).await {
            Ok(()) => {
                self.queue.put(TALLY_KEY, &Tally::default());
                self.queue.put(
                    REPORTED_KEY,
                    &(state.queue_depth, state.circuit, state.consecutive_failures),
                );
                self.queue.put(FLUSHED_KEY, &now());
                None
            }
            Err(e) => {
                console_error!("writing metrics to D1 failed, will retry: {e:?}");
                Some(now() + OUTBOX_RETRY_MS)
            }
        }
    }

    /// Reports a changed state now, outside a run (when the interval allows it).
    async fn report_state_now(&self) {
        if self.running.get() {
            return;
        }
        if let Some(at) = self.flush_metrics().await {
            let storage = self.state.storage();
            if let Ok(current) = storage.get_alarm().await {
                if current.is_none_or(|c| c > at) {
                    let _ = set_alarm_at(&storage, at).await;
                }
            }
        }
    }
}
