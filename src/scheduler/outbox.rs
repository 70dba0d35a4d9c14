//! What the scheduler owes others, and how it pays: attempt records to their events' log
//! shards, an auto-disable to D1 and alerts through `intake` (all through the outbox, so a
//! failed write loses nothing), and its tally and state to D1 at most once per flush interval.

use super::client::SchedulerClient;
use super::*;
use crate::core::ids::DestinationId;
use crate::core::json;
use crate::core::tagged::{self, Fields, TagFirst};
use serde::de::MapAccess;
use serde::{Deserialize, Serialize};

/// What the scheduler owes others, besides the attempt records its queue rows keep
/// (`SqlQueue::unrecorded`): an auto-disable (to D1), alerts to publish, and a lane's runs for
/// lane 0's alerting, kept as JSON in the `outbox` table and read with the tag first
/// (`core::tagged`). `Attempt` is how attempt records were kept before (an object may still
/// hold some).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutboxRecord {
    Attempt(AttemptRecord),
    Disabled(Disabled),
    Alert(Box<super::alerting::AlertEvent>),
    Observed(Observed),
}

/// The destination was disabled automatically (`disable_after_failures`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Disabled {
    pub tenant_id: TenantId,
    pub destination_id: DestinationId,
    pub reason: String,
    pub at: Millis,
}

/// A run of a lane other than 0, for the destination's alerting, which lane 0 keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Observed {
    pub destination_id: DestinationId,
    pub run: crate::core::alerts::RunSeen,
}

impl TagFirst for OutboxRecord {
    const TAG: &'static str = "kind";
    const VARIANTS: &'static [&'static str] = &["attempt", "disabled", "alert", "observed"];

    fn variant<'de, A: MapAccess<'de>>(name: &str, f: Fields<A>) -> Result<Self, A::Error> {
        Ok(match name {
            "attempt" => Self::Attempt(f.read()?),
            "disabled" => Self::Disabled(f.read()?),
            "alert" => Self::Alert(f.read()?),
            "observed" => Self::Observed(f.read()?),
            _ => return Err(f.unknown::<Self>(name)),
        })
    }
}

tagged::impl_deserialize!(OutboxRecord);

/// Writes outbox records: attempts to their events' log shards (one call per shard), any
/// auto-disable to D1, and publishes any alert (an event like any other, through `intake`).
pub(super) async fn write_records(
    db: &worker::D1Database,
    env: &Env,
    records: Vec<OutboxRecord>,
) -> std::result::Result<(), String> {
    let mut attempts: BTreeMap<(TenantId, ShardRef), Vec<AttemptRecord>> = BTreeMap::new();
    let mut disables = vec![];
    let mut alerts = vec![];
    let mut observed: BTreeMap<DestinationId, Vec<crate::core::alerts::RunSeen>> = BTreeMap::new();
    for r in records {
        match r {
            OutboxRecord::Attempt(a) => attempts
                .entry((a.tenant_id.clone(), a.shard))
                .or_default()
                .push(a),
            OutboxRecord::Disabled(Disabled {
                tenant_id,
                destination_id,
                reason,
                at,
            }) => disables.push((tenant_id, destination_id, reason, at)),
            OutboxRecord::Alert(a) => alerts.push(a),
            OutboxRecord::Observed(Observed {
                destination_id,
                run,
            }) => observed.entry(destination_id).or_default().push(run),
        }
    }
    let log = LogClient::new(env);
    let calls = attempts.into_iter().map(|((tenant, shard), attempts)| {
        let log = &log;
        async move {
            log.shard::<()>(&tenant, shard, LogRequest::Record(Record { attempts }))
                .await
        }
    });
    // At most 6 shards at a time (the connections one invocation keeps open in production).
    for result in crate::runtime::bounded(calls.collect()).await {
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
        alerting::publish(env, db, alert)
            .await
            .map_err(|e| e.to_string())?;
    }
    let scheduler = SchedulerClient::new(env);
    for (destination, runs) in observed {
        match scheduler.observe(&destination, runs).await {
            // Deleted: nothing is left to alert about.
            Ok(()) | Err(SchedulerError::Gone) => {}
            Err(e) => return Err(format!("handing runs to lane 0: {e}")),
        }
    }
    Ok(())
}

impl DeliveryScheduler {
    /// Keeps a record until it is delivered (`flush_outbox`).
    pub(super) fn push_outbox(&self, record: &OutboxRecord) {
        self.queue
            .push_outbox(&[serde_json::to_string(record).unwrap_or_default()]);
    }

    /// Writes what is owed (`write_records`): the queue rows' attempt records and the outbox
    /// table's records; on failure they stay for the next run. Returns whether everything
    /// was written.
    pub(super) async fn flush_outbox(&self) -> bool {
        let Ok(db) = self.env.d1("DB") else {
            console_error!("D1 binding DB is missing");
            return false;
        };
        loop {
            let pending = self.queue.unrecorded(OUTBOX_FLUSH_LIMIT);
            let batch = self.queue.outbox(OUTBOX_FLUSH_LIMIT);
            if pending.is_empty() && batch.is_empty() {
                return true;
            }
            // Short reads were all there was: no need to look again.
            let all =
                pending.attempts.len() < OUTBOX_FLUSH_LIMIT && batch.len() < OUTBOX_FLUSH_LIMIT;
            let last_id = batch.last().map(|(id, _)| *id);
            let mut records: Vec<OutboxRecord> = batch
                .iter()
                .filter_map(|(id, json)| match json::from_str(json) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        console_error!("outbox record {id} unreadable, dropped: {e}");
                        None
                    }
                })
                .collect();
            records.extend(pending.attempts.iter().cloned().map(OutboxRecord::Attempt));
            match write_records(&db, &self.env, records).await {
                Ok(()) => {
                    self.queue.recorded(&pending);
                    if let Some(last_id) = last_id {
                        self.queue.drop_outbox_through(last_id);
                    }
                    if all {
                        return true;
                    }
                }
                Err(e) => {
                    console_error!("recording attempts failed, will retry: {e}");
                    return false;
                }
            }
        }
    }

    /// The queue depth and circuit for /metrics, and whether they changed since the last
    /// report.
    pub(super) fn state_report(&self) -> Option<(SchedulerState, bool)> {
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
                lane: self.lane(),
            },
            changed,
        ))
    }

    /// Writes the tally and a changed state to D1 if the flush interval has passed since the
    /// last write (`METRICS_FLUSH_SECONDS`, a minute by default): D1's writes then follow
    /// the number of destinations, not the event rate. Returns when to try again, if
    /// something is left to write.
    pub(super) async fn flush_metrics(&self) -> Option<Millis> {
        let tally: Tally = self.queue.get(TALLY_KEY).unwrap_or_default();
        let flush_ms = LogSettings::from_env(&self.env).flush_ms;
        let due = flush_at(self.queue.get(FLUSHED_KEY), flush_ms);
        // Attempts to count and not yet time: no need to look at the state (a count of the
        // queue) before then.
        if !tally.is_empty() && now() < due {
            return Some(due);
        }
        let (state, changed) = self.state_report()?;
        if tally.is_empty() && !changed {
            return None;
        }
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
    pub(super) async fn report_state_now(&self) {
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
