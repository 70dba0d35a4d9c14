//! The log shard's Durable Object, a thin shell over `shard`: `EventLog` (one per tenant,
//! bucket and slot) answers the messages of `protocol` and, from its alarm, hands deliveries
//! to their schedulers, adds its filtered/skipped counts to `/metrics`, and drops itself whole
//! once expired with nothing pending. (`index_object` is the other data-plane object.)

mod store;

use super::client::{DoSql, LogSettings};
use super::protocol::{
    known_version, DestinationDeliveries, Id, LogEnvelope, LogRequest, Record, Retry, Search,
};
use super::shard::Shard;
use crate::core::ids::{DestinationId, TenantId};
use crate::core::json;
use crate::core::log::{expiry, Expiry, ShardRef};
use crate::core::time::Millis;
use crate::core::wire::MAX_CONNECTIONS;
use crate::runtime::{export_message, now, set_alarm_at, Answer};
use crate::scheduler::client::{SchedulerClient, SchedulerError};
use crate::store::destinations::DestinationRow;
use futures::future::join_all;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use worker::{
    console_error, console_log, durable_object, DurableObject, Env, Request, Response, Result,
    State,
};

/// Deliveries handed off per alarm run (each destination's in one call), and the payload
/// bytes one run may hold in memory (a payload may be 256 KiB; the isolate has 128 MB).
const HANDOFF_LIMIT: (usize, usize) = (500, 4 * 1024 * 1024);
/// A scheduler that could not take its deliveries is asked again this much later.
const HANDOFF_RETRY_MS: Millis = 5_000;
/// An expired shard with pending deliveries looks again this often.
const RECHECK_MS: Millis = 3_600_000;

/// A message's protocol version and request, parsed and the version checked (a 400 otherwise).
pub(super) fn envelope<T: DeserializeOwned>(text: &str) -> std::result::Result<(u32, T), Answer> {
    let envelope: LogEnvelope<T> =
        json::from_str(text).map_err(|e| Answer::error(400, format!("bad message: {e}")))?;
    if !known_version(envelope.v) {
        return Err(Answer::error(
            400,
            format!("unsupported protocol v{}", envelope.v),
        ));
    }
    Ok((envelope.v, envelope.request))
}

/// A handler's result as the answer: its JSON, or a logged 500.
pub(super) fn answer<T: Serialize>(result: std::result::Result<T, String>) -> Result<Answer> {
    match result {
        Ok(v) => Ok(Answer::json(serde_json::to_string(&v))),
        Err(e) => {
            console_error!("data plane sql failed: {e}");
            Ok(Answer::error(500, "the data plane failed; see the logs"))
        }
    }
}

#[durable_object]
pub struct EventLog {
    state: State,
    env: Env,
    sql: DoSql,
    /// The alarm as this instance last set or read it (`None`: not known yet), so that a
    /// store need not ask the runtime for it every time.
    alarm: Cell<Option<Option<Millis>>>,
    /// Whose shard this is and when it expires, once read: written by the first store and
    /// never changed after (until the shard is dropped), so an alarm run need not read them.
    owner: RefCell<Option<(TenantId, ShardRef, Millis)>>,
    /// The snapshot time of each destination as written here: a store sends the snapshots of
    /// its destinations every time, and one already kept needs no write.
    snapshots_at: RefCell<HashMap<DestinationId, Millis>>,
    /// The `counts` table is known to be empty (read empty, and no store since counted a
    /// filtered or skipped delivery), so an alarm run need not read it.
    counts_empty: Cell<bool>,
}

impl EventLog {
    /// Everything was deleted: the snapshots this instance knew of are gone too.
    fn forget_storage(&self) {
        self.snapshots_at.borrow_mut().clear();
        self.counts_empty.set(false);
    }

    fn shard(&self) -> Shard<'_, DoSql> {
        Shard::new(&self.sql)
    }

    /// Makes sure the alarm fires no later than `at`.
    async fn wake_by(&self, at: Millis) -> Result<()> {
        let storage = self.state.storage();
        let current = match self.alarm.get() {
            Some(known) => known,
            None => storage.get_alarm().await?.map(|t| t as Millis),
        };
        match current {
            Some(t) if t <= at => self.alarm.set(Some(Some(t))),
            _ => {
                set_alarm_at(&storage, at).await?;
                self.alarm.set(Some(Some(at)));
            }
        }
        Ok(())
    }

    /// Hands due deliveries to their schedulers; what a scheduler could not take waits.
    async fn hand_off(
        &self,
        tenant: &TenantId,
        shard: ShardRef,
    ) -> std::result::Result<(), String> {
        let s = self.shard();
        let t = now();
        let due = s.due_handoffs(tenant, shard, t, HANDOFF_LIMIT)?;
        let scheduler = SchedulerClient::new(&self.env);
        for chunk in due.chunks(MAX_CONNECTIONS) {
            let calls = chunk.iter().map(|h| {
                let scheduler = &scheduler;
                async move {
                    let row: DestinationRow = json::from_str(&h.destination.row)
                        .map_err(|e| SchedulerError::Unavailable(e.to_string()))?;
                    scheduler
                        .enqueue(&row, h.deliveries.clone())
                        .await
                        .map(|_| ())
                }
            });
            for (h, result) in chunk.iter().zip(join_all(calls).await) {
                let destination: &DestinationId = &h.destination.destination_id;
                match result {
                    Ok(()) => {
                        let ids: Vec<_> =
                            h.deliveries.iter().map(|d| d.delivery_id.clone()).collect();
                        s.handed_off(&ids)?;
                    }
                    Err(SchedulerError::Gone) => s.destination_gone(destination, t)?,
                    Err(e) => {
                        console_error!(
                            "{}",
                            json!({ "event": "handoff_failed", "destination_id": destination, "error": format!("{e:?}") })
                        );
                        s.postpone(destination, t + HANDOFF_RETRY_MS)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds the filtered and skipped counts to `/metrics` in D1 (at most every `flush_ms`).
    async fn flush_counts(&self, tenant: &TenantId, settings: &LogSettings) -> Option<Millis> {
        if self.counts_empty.get() {
            return None;
        }
        let s = self.shard();
        let counts = s.counts().ok()?;
        if counts.is_empty() {
            self.counts_empty.set(true);
            return None;
        }
        let last: Millis = s.meta("counts_flushed_at").ok().flatten().unwrap_or(0);
        let due = last.saturating_add(settings.flush_ms);
        if now() < due {
            return Some(due);
        }
        let db = self.env.d1("DB").ok()?;
        match crate::store::monitoring::add_counts(&db, tenant, &counts).await {
            Ok(()) => {
                let _ = s.counted(&counts);
                let _ = s.set_meta("counts_flushed_at", &now());
                // Counts added while the write was on its way go with the next flush.
                let more = s.counts().ok().is_some_and(|c| !c.is_empty());
                more.then(|| now().saturating_add(settings.flush_ms))
            }
            Err(e) => {
                console_error!("adding counts to /metrics failed, will retry: {e:?}");
                Some(now() + HANDOFF_RETRY_MS)
            }
        }
    }

    async fn fail_deleted_destinations(&self) -> std::result::Result<(), String> {
        let s = self.shard();
        let scheduler = SchedulerClient::new(&self.env);
        for destination in s.pending_destinations()? {
            if let Err(SchedulerError::Gone) = scheduler.status(&destination).await {
                s.destination_gone(&destination, now())?;
            }
        }
        Ok(())
    }

    /// Whose shard this is and when it expires (`owner`), `None` before the first store.
    fn owner(&self) -> std::result::Result<Option<(TenantId, ShardRef, Millis)>, String> {
        if let Some(known) = self.owner.borrow().as_ref() {
            return Ok(Some(known.clone()));
        }
        let s = self.shard();
        let (Some(tenant), Some(shard)) = (
            s.meta::<TenantId>("tenant_id")?,
            s.meta::<ShardRef>("shard")?,
        ) else {
            return Ok(None);
        };
        let expires_at: Millis = s.meta("expires_at")?.unwrap_or(Millis::MAX);
        let owner = (tenant, shard, expires_at);
        self.owner.replace(Some(owner.clone()));
        Ok(Some(owner))
    }

    async fn run_alarm(&self) -> std::result::Result<Option<Millis>, String> {
        let s = self.shard();
        let Some((tenant, shard, expires_at)) = self.owner()? else {
            return Ok(None);
        };
        let settings = LogSettings::from_env(&self.env);
        self.hand_off(&tenant, shard).await?;
        let mut next = vec![self.flush_counts(&tenant, &settings).await];
        if now() >= expires_at && s.pending()? > 0 {
            // Past retention, still pending: a destination deleted since (its queue went
            // with it) will never finish them; they fail, with the reason.
            self.fail_deleted_destinations().await?;
        }
        // Read after the last await: an event stored while this run waited (its own wake-up
        // overwritten by the one this run sets) is handed off on time.
        next.push(s.next_handoff()?);
        // Pending deliveries only matter past the expiry: not counted before it.
        let t = now();
        let pending = if t >= expires_at { s.pending()? } else { 0 };
        match expiry(t, expires_at, pending, RECHECK_MS) {
            Expiry::Wait(t) | Expiry::Postpone(t) => next.push(Some(t)),
            Expiry::Drop => {
                self.owner.replace(None);
                self.state
                    .storage()
                    .delete_all()
                    .await
                    .map_err(|e| e.to_string())?;
                self.forget_storage();
                self.shard().migrate()?;
                console_log!(
                    "{}",
                    json!({ "event": "log_shard_dropped", "tenant_id": tenant, "bucket": shard.bucket, "slot": shard.slot })
                );
                return Ok(None);
            }
        }
        Ok(next.into_iter().flatten().min())
    }
}

impl DurableObject for EventLog {
    fn new(state: State, env: Env) -> Self {
        let sql = DoSql(state.storage().sql());
        if let Err(e) = Shard::new(&sql).migrate() {
            console_error!("log shard schema setup failed: {e}");
        }
        EventLog {
            state,
            env,
            sql,
            alarm: Cell::new(None),
            owner: RefCell::new(None),
            snapshots_at: RefCell::new(HashMap::new()),
            counts_empty: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.handle(&req.text().await?).await?.into_response()
    }

    async fn alarm(&self) -> Result<Response> {
        // The alarm that fired is gone: a store during this run sets one of its own.
        self.alarm.set(Some(None));
        let next = match self.run_alarm().await {
            Ok(next) => next.map(|at| at.max(now())),
            Err(e) => {
                console_error!("log shard alarm failed, will retry: {e}");
                Some(now() + HANDOFF_RETRY_MS)
            }
        };
        match next {
            Some(at) => {
                set_alarm_at(&self.state.storage(), at).await?;
                self.alarm.set(Some(Some(at)));
            }
            // Not known: a store during the run may have set one.
            None => self.alarm.set(None),
        }
        Response::ok("ok")
    }
}

impl EventLog {
    /// Answers one message of `protocol` (the text of a `LogEnvelope`), sent by RPC
    /// (`message`) or by `fetch`.
    async fn handle(&self, text: &str) -> Result<Answer> {
        let (v, request): (u32, LogRequest) = match envelope(text) {
            Ok(r) => r,
            Err(refused) => return Ok(refused),
        };
        let s = self.shard();
        let t = now();
        match request {
            LogRequest::StoreEvents(request) if v < 2 => self.store_as_sent(request, t).await,
            LogRequest::StoreEvents(request) => self.store_events(request, t).await,
            LogRequest::Event(Id { id }) => answer(s.event(&id)),
            LogRequest::Search(Search { query }) => answer(s.search(&query)),
            LogRequest::DestinationDeliveries(DestinationDeliveries {
                destination_id,
                status,
                before,
                limit,
            }) => answer(s.destination_deliveries(
                &destination_id,
                status.as_deref(),
                before.as_ref(),
                limit,
            )),
            LogRequest::Delivery(Id { id }) => answer(s.delivery(&id)),
            LogRequest::Record(Record { attempts }) => answer(s.record(&attempts)),
            LogRequest::Retry(Retry {
                scope,
                cap,
                requested_by,
                snapshots,
            }) => {
                self.wake_by(t).await?;
                answer(
                    s.refresh(&snapshots)
                        .and_then(|()| s.retry(&scope, cap, &requested_by, t)),
                )
            }
            LogRequest::Purge => {
                self.owner.replace(None);
                self.state.storage().delete_alarm().await?;
                self.alarm.set(Some(None));
                self.state.storage().delete_all().await?;
                self.forget_storage();
                answer(s.migrate())
            }
        }
    }
}

export_message!(EventLog);
