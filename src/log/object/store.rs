//! A log shard's `StoreEvents`: it claims the publisher-given ids at their index objects
//! (`log::claims`), stores the events whose ids are new or live here, and sends the others to
//! the shards their ids live in; one answer per event. The Worker makes one call per shard.

use super::{answer, EventLog};
use crate::core::ids::TenantId;
use crate::core::log::{dedup_window_ms, ShardRef};
use crate::core::time::Millis;
use crate::log::claims;
use crate::log::client::{LogClient, LogSettings};
use crate::log::protocol::{
    ClaimIds, IndexRequest, Located, LogRequest, NewEvent, StoreAnswer, StoreEvents,
};
use crate::log::shard::{Snapshot, Stored};
use crate::runtime::{bounded, Answer};
use worker::{console_error, Result};

/// What a shard tells the Worker when its own SQL failed (the detail is in its log).
const SQL_FAILED: &str = "the data plane failed; see the logs";

impl EventLog {
    pub(super) async fn store_events(&self, request: StoreEvents, t: Millis) -> Result<Answer> {
        let StoreEvents {
            tenant_id,
            shard,
            expires_at,
            events,
            snapshots,
        } = request;
        let log = LogClient::new(&self.env);
        let settings = LogSettings::from_env(&self.env);
        let located = claim(&log, &tenant_id, shard, &events, &settings).await;
        let mut answers: Vec<Option<std::result::Result<Stored, String>>> =
            events.iter().map(|_| None).collect();
        let placed = claims::place(events, shard, located, &settings.layout);
        for (i, why) in placed.failed {
            answers[i] = Some(Err(why));
        }
        if !placed.here.is_empty() {
            let (at, here): (Vec<usize>, Vec<NewEvent>) = placed.here.into_iter().unzip();
            let stored = self
                .store_here(&tenant_id, shard, expires_at, &here, &snapshots, t)
                .await?
                .map(|stored| stored.into_iter().map(Ok).collect())
                .map_err(|e| {
                    console_error!("data plane sql failed: {e}");
                    SQL_FAILED.to_string()
                });
            spread(&mut answers, &at, stored, "the store");
        }
        // Repeats of ids that live in other shards: each shard's in one call.
        let mut members = Vec::with_capacity(placed.elsewhere.len());
        let mut calls = Vec::with_capacity(placed.elsewhere.len());
        for (other, group) in placed.elsewhere {
            let (at, events): (Vec<usize>, Vec<NewEvent>) = group.into_iter().unzip();
            members.push(at);
            let request = LogRequest::StoreEvents(StoreEvents {
                tenant_id: tenant_id.clone(),
                shard: other,
                expires_at: settings
                    .layout
                    .expires_at(other.bucket, settings.retention_ms),
                events,
                snapshots: snapshots.clone(),
            });
            let (log, tenant) = (&log, &tenant_id);
            calls.push(async move { log.shard::<StoreAnswer>(tenant, other, request).await });
        }
        for (at, result) in members.iter().zip(bounded(calls).await) {
            spread(&mut answers, at, result.map_err(|e| e.0), "a shard");
        }
        let answers: StoreAnswer = answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err("no answer".into())))
            .collect();
        answer(Ok(answers))
    }

    /// A v1 `StoreEvents` (`protocol::LOG_PROTOCOL_VERSION`), from a Worker of the version
    /// before while a deploy rolls out: that Worker claimed the ids, so the events are stored
    /// as sent, and answered as v1 was, one `Stored` each.
    pub(super) async fn store_as_sent(&self, r: StoreEvents, t: Millis) -> Result<Answer> {
        let stored = self
            .store_here(
                &r.tenant_id,
                r.shard,
                r.expires_at,
                &r.events,
                &r.snapshots,
                t,
            )
            .await?;
        answer(stored)
    }

    /// Stores events in this shard (their ids new, or already here).
    async fn store_here(
        &self,
        tenant_id: &TenantId,
        shard: ShardRef,
        expires_at: Millis,
        events: &[NewEvent],
        snapshots: &[Snapshot],
        t: Millis,
    ) -> Result<std::result::Result<Vec<Stored>, String>> {
        let s = self.shard();
        // The alarm first: if the writes below happen, their hand-off (or the count of a
        // filtered or skipped delivery) is scheduled.
        let owed = events.iter().any(|e| !e.deliveries.is_empty());
        let counted = events
            .iter()
            .flat_map(|e| &e.deliveries)
            .any(|d| d.status.never_attempted());
        if counted {
            // Before the write: a flush that reads the table after it sees the count.
            self.counts_empty.set(false);
        }
        self.wake_by(if owed { t } else { expires_at }).await?;
        if self.owner().ok().flatten().is_none() {
            let meta = s
                .set_meta("tenant_id", tenant_id)
                .and_then(|()| s.set_meta("shard", &shard))
                .and_then(|()| s.set_meta("expires_at", &expires_at));
            if let Err(e) = meta {
                return Ok(Err(e));
            }
            // Known from now on: later stores read nothing.
            self.owner
                .replace(Some((tenant_id.clone(), shard, expires_at)));
        }
        let fresh: Vec<Snapshot> = {
            let known = self.snapshots_at.borrow();
            snapshots
                .iter()
                .filter(|x| {
                    known
                        .get(&x.destination_id)
                        .is_none_or(|&at| x.updated_at > at)
                })
                .cloned()
                .collect()
        };
        let stored = s.store_all(events, &fresh, t);
        if stored.is_ok() {
            let mut known = self.snapshots_at.borrow_mut();
            for x in fresh {
                known.insert(x.destination_id, x.updated_at);
            }
        }
        Ok(stored)
    }
}

/// Claims the events' publisher-given ids, one call per index object: where each lives
/// (`None` for an event not claimed), or why its claim failed.
async fn claim(
    log: &LogClient<'_>,
    tenant: &TenantId,
    here: ShardRef,
    events: &[NewEvent],
    settings: &LogSettings,
) -> Vec<Option<std::result::Result<Located, String>>> {
    let mut located: Vec<_> = events.iter().map(|_| None).collect();
    let slots = claims::by_slot(events);
    if slots.is_empty() {
        return located;
    }
    let keep_ms = dedup_window_ms(settings.retention_ms);
    let calls = slots
        .iter()
        .map(|(slot, members)| {
            let claims = claims::claims(events, members, here);
            let request = IndexRequest::ClaimIds(ClaimIds { claims, keep_ms });
            log.index_slot::<Vec<Located>>(tenant, *slot, request)
        })
        .collect();
    for (members, result) in slots.values().zip(bounded(calls).await) {
        let result = result
            .map(|ls| ls.into_iter().map(Ok).collect())
            .map_err(|e| e.0);
        spread(&mut located, members, result, "the index");
    }
    located
}

/// Puts one call's answers at its members' places in `out`, in order. Every member gets the
/// error when the call failed, or when `who` answered another number than it was asked.
fn spread<T>(
    out: &mut [Option<std::result::Result<T, String>>],
    members: &[usize],
    answer: std::result::Result<Vec<std::result::Result<T, String>>, String>,
    who: &str,
) {
    let why = match answer {
        Ok(answers) if answers.len() == members.len() => {
            for (&i, a) in members.iter().zip(answers) {
                out[i] = Some(a);
            }
            return;
        }
        Ok(_) => format!("{who} answered for a different number of events"),
        Err(e) => e,
    };
    for &i in members {
        out[i] = Some(Err(why.clone()));
    }
}
