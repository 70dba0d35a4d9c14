//! The DeliveryScheduler Durable Object: one per destination (named by its id). A thin shell
//! over `core::engine`: it keeps the queue in SQLite, runs the engine when its alarm fires,
//! sends through `fetch`, and records attempts in D1 (through an outbox, so a D1 hiccup loses
//! nothing).

mod alerting;
pub mod client;
mod email;
pub mod protocol;
mod sql_queue;

use crate::core::crypto::SealKey;
use crate::core::destination::{DeliverySettings, SecretBundle, TargetConfig};
use crate::core::engine::{self, Ports, QueueStore, RunLimits};
use crate::core::time::Millis;
use crate::providers;
use crate::providers::Target;
use crate::runtime::{now, set_alarm_at, AlarmWakeup, RuntimeClock};
use crate::store::destinations::DestinationRow;
use protocol::{Enqueued, Envelope, SchedulerRequest, SchedulerStatus, PROTOCOL_VERSION};
use serde_json::json;
use sql_queue::{OutboxRecord, SqlQueue};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use worker::{
    console_error, console_log, durable_object, DurableObject, Env, Request, Response, Result,
    State,
};

const DESTINATION_KEY: &str = "destination";
const PURGED_KEY: &str = "purged";
/// D1 batches stay well under its per-batch limits.
const OUTBOX_FLUSH_LIMIT: usize = 100;
/// When D1 refused the attempt records, try again this soon.
const OUTBOX_RETRY_MS: Millis = 5_000;

/// Writes outbox records to D1: attempts in one batch, then any auto-disable, then publishes
/// any alert (an event like any other: stored in D1, queued at its channels' schedulers).
async fn write_records(
    db: &worker::D1Database,
    env: &Env,
    records: Vec<OutboxRecord>,
) -> std::result::Result<(), String> {
    let mut attempts = vec![];
    let mut disables = vec![];
    let mut alerts = vec![];
    for r in records {
        match r {
            OutboxRecord::Attempt(a) => attempts.push(a),
            OutboxRecord::Disabled {
                tenant_id,
                destination_id,
                reason,
                at,
            } => disables.push((tenant_id, destination_id, reason, at)),
            OutboxRecord::Alert(a) => alerts.push(a),
        }
    }
    let d1 = |e: crate::store::StoreError| format!("{e:?}");
    crate::store::deliveries::record(db, &attempts)
        .await
        .map_err(d1)?;
    for (tenant, destination, reason, at) in disables {
        crate::store::destinations::auto_disable(db, &tenant, &destination, &reason, at)
            .await
            .map_err(d1)?;
    }
    let scheduler = client::SchedulerClient::new(env);
    for alert in &alerts {
        alerting::publish(db, &scheduler, alert, now()).await?;
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
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
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
                self.ensure_alarm().await?;
                Response::from_json(&Enqueued { queued })
            }
            SchedulerRequest::Status => Response::from_json(&self.status()),
            SchedulerRequest::ResetCircuit => {
                let (breaker, transition) = self.queue.breaker().reset();
                self.queue.save_breaker(&breaker);
                if transition.is_some() {
                    self.log("circuit_reset", json!({}));
                }
                self.ensure_alarm().await?;
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

    async fn alarm(&self) -> Result<Response> {
        if self.running.replace(true) {
            return Response::ok("run in progress");
        }
        let result = self.run().await;
        self.running.set(false);
        result?;
        Response::ok("ok")
    }
}

impl DeliveryScheduler {
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
        Ok(Loaded {
            row,
            settings,
            target,
            secrets,
            tokens: Default::default(),
        })
    }

    /// Makes sure the alarm is set no later than the earliest due delivery (unless a run is
    /// in progress: it schedules the next one itself when it ends).
    async fn ensure_alarm(&self) -> Result<()> {
        if self.running.get() {
            return Ok(());
        }
        let Some(loaded) = self.load() else {
            return Ok(());
        };
        let storage = self.state.storage();
        if !loaded.row.enabled {
            return storage.delete_alarm().await;
        }
        let Some(due) = self.next_attempt_at() else {
            return Ok(());
        };
        match storage.get_alarm().await? {
            Some(current) if current <= due => Ok(()),
            _ => set_alarm_at(&storage, due).await,
        }
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
        SchedulerStatus {
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
        let provider =
            providers::for_target(&loaded.target, &loaded.secrets, &loaded.tokens, started);
        let wakeup = AlarmWakeup(self.state.storage());
        let transport = email::ChannelTransport { env: &self.env };
        let ports = Ports {
            store: &self.queue,
            transport: &transport,
            provider: &provider,
            clock: &RuntimeClock,
            wakeup: &wakeup,
        };
        let report = engine::run(ports, &loaded.settings, RunLimits::default()).await;
        for t in &report.transitions {
            self.log("circuit_changed", json!({ "transition": format!("{t:?}").to_lowercase(), "circuit": protocol::CircuitStatus::from(&self.queue.breaker()) }));
        }
        let alerts = alerting::observe(
            &self.queue,
            &loaded.row,
            &loaded.settings,
            &report,
            now(),
            u128::from_le_bytes(crate::runtime::random_bytes()),
        );
        let mut records: Vec<OutboxRecord> = report
            .attempts
            .into_iter()
            .map(OutboxRecord::Attempt)
            .collect();
        if let Some(streak) = report.auto_disabled {
            records.push(self.auto_disable(&loaded, streak));
        }
        for alert in alerts {
            let c = &alert.content;
            self.log(
                if c.resolved() { "alert_resolved" } else { "alert_raised" },
                json!({ "incident_id": c.incident_id, "trigger": c.trigger, "event_id": alert.event_id,
                        "to_tenant": alert.to_tenant, "to_operator": alert.to_operator }),
            );
            if alert.to_tenant || alert.to_operator {
                records.push(OutboxRecord::Alert(Box::new(alert)));
            }
        }
        self.queue.push_outbox(&records);
        self.flush_outbox().await;
        if self.queue.outbox_len() > 0 {
            let retry = now() + OUTBOX_RETRY_MS;
            let at = report.next_wake.map_or(retry, |t| t.min(retry));
            set_alarm_at(&self.state.storage(), at).await?;
        }
        self.queue.prune_done(started);
        Ok(())
    }

    /// Writes buffered attempt records to D1; on failure they stay for the next run.
    async fn flush_outbox(&self) {
        let Ok(db) = self.env.d1("DB") else {
            console_error!("D1 binding DB is missing");
            return;
        };
        loop {
            let batch = self.queue.outbox(OUTBOX_FLUSH_LIMIT);
            let Some((last_id, _)) = batch.last() else {
                return;
            };
            let last_id = *last_id;
            match write_records(&db, &self.env, batch.into_iter().map(|(_, r)| r).collect()).await {
                Ok(()) => self.queue.drop_outbox_through(last_id),
                Err(e) => {
                    console_error!("recording in D1 failed, will retry: {e}");
                    return;
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
        self.log(
            "destination_auto_disabled",
            json!({ "consecutive_failures": streak }),
        );
        OutboxRecord::Disabled {
            tenant_id: row.tenant_id,
            destination_id: row.id,
            reason,
            at,
        }
    }

    /// One structured log line per state change; never credentials.
    fn log(&self, event: &str, fields: serde_json::Value) {
        let (destination_id, tenant_id) = self
            .load()
            .map(|l| (l.row.id.to_string(), l.row.tenant_id.to_string()))
            .unwrap_or_default();
        console_log!(
            "{}",
            json!({ "event": event, "destination_id": destination_id, "tenant_id": tenant_id, "fields": fields })
        );
    }
}
