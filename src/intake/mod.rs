//! Publishing events, for `POST /v1/publish` (one event or a batch) and for the schedulers'
//! alerts alike: find each tenant's destinations (`routing`, cached per isolate, parsed with
//! their filters compiled, so a publish compiles no regex), decide each one's delivery
//! (pending, or recorded as skipped or filtered), and store the events with their deliveries
//! in their log shards, which claim publisher-given ids at their index objects
//! (`log::claims`) and hand the pending deliveries to their schedulers from their own outbox.
//!
//! A batch costs the Worker one call per log shard it touches, not one per event; an id
//! Sluice generates needs no claim (nothing can hold it yet, and its time tells its shard,
//! `core::log::home_time`). On the warm path nothing is read from or written to D1.

mod routing;

use crate::core::delivery::DeliveryStatus;
use crate::core::ids::{DeliveryId, EventId, TenantId};
use crate::core::json;
use crate::core::log::{dedup_window_ms, home_time, ShardRef};
use crate::core::time::Millis;
use crate::log::client::{LogClient, LogError, LogSettings};
use crate::log::protocol::{LogRequest, NewEvent, StoreAnswer, StoreEvents};
use crate::log::rows::{DeliverySummary, EventRow, NewDelivery};
use crate::log::shard::Snapshot;
use crate::runtime::{bounded, random_bytes};
use crate::store::destinations::DestinationRow;
use crate::store::StoreError;
use routing::{destinations_of, shards_of};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use worker::{D1Database, Env};

pub use routing::{forget_all, forget_tenant, forget_topics};

/// An event to publish.
pub struct Publication {
    pub tenant_id: TenantId,
    pub id: EventId,
    pub topic: String,
    /// The publisher's JSON text.
    pub data: String,
    pub metadata: BTreeMap<String, String>,
    pub at: Millis,
    /// Sluice made the id for this publish: no earlier publish can hold it, so it is not
    /// claimed at its index object.
    pub generated_id: bool,
}

/// How an event finds its destinations among its tenant's.
pub struct Routing<'a> {
    /// Whether a topic outside the catalogue is accepted.
    pub any_topic: bool,
    /// The destinations that get the event, from the tenant's, for its topic.
    pub select: &'a dyn Fn(&[DestinationRow], &str) -> Vec<DestinationRow>,
    /// Store the event even when no destination gets it (else `None` and nothing stored).
    pub keep_without_targets: bool,
}

/// What a publish did: the deliveries it created, or for a repeated id the first ones.
pub struct Published {
    pub event_id: EventId,
    pub duplicate: bool,
    pub deliveries: Vec<DeliverySummary>,
}

#[derive(Debug)]
pub enum IntakeError {
    TenantNotFound,
    /// The topic is not in the catalogue (and the deployment enforces it).
    UnknownTopic(String),
    /// D1 or the data plane could not be reached; nothing was acknowledged.
    Unavailable(String),
}

impl From<StoreError> for IntakeError {
    fn from(e: StoreError) -> Self {
        IntakeError::Unavailable(format!("{e:?}"))
    }
}

impl From<LogError> for IntakeError {
    fn from(e: LogError) -> Self {
        IntakeError::Unavailable(e.0)
    }
}

/// What one publication's answer is.
pub type Outcome = Result<Option<Published>, IntakeError>;

/// The document a destination's payload filter is evaluated against: the whole event.
fn filter_subject(p: &Publication) -> Value {
    let data: Value = json::from_str(&p.data).unwrap_or(Value::Null);
    let time = crate::core::time::to_rfc3339(p.at);
    crate::core::filter::document(p.id.as_str(), &p.topic, &time, &p.metadata, data)
}

/// An event ready to be stored: its deliveries decided, its shard chosen.
struct Prepared {
    /// Its place in the batch.
    at: usize,
    tenant: TenantId,
    event: EventRow,
    deliveries: Vec<NewDelivery>,
    snapshots: Vec<Snapshot>,
    /// Its shard if its id is new (the shard sends it on to where its id lives otherwise).
    shard: ShardRef,
    claim: bool,
}

/// Publishes one event: `None` when no destination takes it and the routing says not to keep
/// it. A repeated id (within the dedup window) stores nothing and answers with the first
/// publish's deliveries.
pub async fn publish(env: &Env, db: &D1Database, p: Publication, routing: Routing<'_>) -> Outcome {
    publish_all(env, db, vec![p], &routing)
        .await
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(IntakeError::Unavailable("no answer".into())))
}

/// Publishes events: one answer each, in order. Each stands alone: one refused (its tenant
/// unknown, its topic outside the catalogue) or not stored (its shard unreachable) leaves the
/// others as they are. Ids repeated within the batch are stored once.
pub async fn publish_all(
    env: &Env,
    db: &D1Database,
    batch: Vec<Publication>,
    routing: &Routing<'_>,
) -> Vec<Outcome> {
    let settings = LogSettings::from_env(env);
    let mut answers: Vec<Option<Outcome>> = batch.iter().map(|_| None).collect();
    let mut ready = Vec::with_capacity(batch.len());
    // What D1 said is missing, once per batch: a batch naming an unknown tenant (or topic) a
    // hundred times reads D1 once for it, not a hundred times.
    let mut missing: BTreeSet<(TenantId, Option<String>)> = BTreeSet::new();
    for (at, p) in batch.into_iter().enumerate() {
        if missing.contains(&(p.tenant_id.clone(), None)) {
            answers[at] = Some(Err(IntakeError::TenantNotFound));
            continue;
        }
        if missing.contains(&(p.tenant_id.clone(), Some(p.topic.clone()))) {
            answers[at] = Some(Err(IntakeError::UnknownTopic(p.topic)));
            continue;
        }
        let key = (p.tenant_id.clone(), p.topic.clone());
        match prepare(env, db, at, p, routing, &settings).await {
            Ok(Some(x)) => ready.push(x),
            other => {
                match &other {
                    Err(IntakeError::TenantNotFound) => {
                        missing.insert((key.0, None));
                    }
                    Err(IntakeError::UnknownTopic(_)) => {
                        missing.insert((key.0, Some(key.1)));
                    }
                    _ => {}
                }
                answers[at] = Some(other.map(|_| None));
            }
        }
    }
    let log = LogClient::new(env);
    for (at, outcome) in store(&log, ready, &settings).await {
        answers[at] = Some(outcome);
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(IntakeError::Unavailable("no answer".into()))))
        .collect()
}

/// Decides an event's deliveries and its shard; `None` when nothing is to be stored.
async fn prepare(
    env: &Env,
    db: &D1Database,
    at: usize,
    p: Publication,
    routing: &Routing<'_>,
    settings: &LogSettings,
) -> Result<Option<Prepared>, IntakeError> {
    let now = p.at;
    let all = destinations_of(env, db, &p.tenant_id, &p.topic, routing.any_topic, now).await?;
    let targets = (routing.select)(&all, &p.topic);
    if targets.is_empty() && !routing.keep_without_targets {
        return Ok(None);
    }
    // What each matching destination does with the event: queue it, or record why not. The
    // filters' view is parsed from the text only when some destination has a filter.
    let subject = targets
        .iter()
        .any(|d| d.filter.is_some())
        .then(|| filter_subject(&p));
    let status = |d: &DestinationRow| match (
        d.enabled,
        subject
            .as_ref()
            .is_none_or(|s| d.filter.as_ref().is_none_or(|f| f.matches(s))),
    ) {
        (false, _) => DeliveryStatus::Skipped,
        (true, false) => DeliveryStatus::Filtered,
        (true, true) => DeliveryStatus::Pending,
    };
    let deliveries: Vec<NewDelivery> = targets
        .iter()
        .map(|d| NewDelivery {
            id: DeliveryId::generate(now as u64, u128::from_le_bytes(random_bytes())),
            destination_id: d.id.clone(),
            status: status(d),
        })
        .collect();
    let snapshots = snapshots(&targets, &deliveries);
    let layout = settings.layout;
    let window = dedup_window_ms(settings.retention_ms);
    let home = home_time(p.id.as_str(), now, window);
    let shards = shards_of(db, &p.tenant_id, layout.bucket_of(home), now).await?;
    let shard = layout.shard_of(p.id.as_str(), home, shards);
    Ok(Some(Prepared {
        at,
        claim: !p.generated_id,
        tenant: p.tenant_id,
        event: EventRow {
            id: p.id,
            topic: p.topic,
            data: p.data,
            metadata: serde_json::to_string(&p.metadata).unwrap_or_else(|_| "{}".into()),
            created_at: now,
        },
        deliveries,
        snapshots,
        shard,
    }))
}

/// The events of one shard's call: who they answer, what is stored.
#[derive(Default)]
struct ShardBatch {
    answers: Vec<(usize, EventId)>,
    events: Vec<NewEvent>,
    /// Each destination's snapshot once (they are alike within a publish).
    snapshots: BTreeMap<String, Snapshot>,
}

/// Stores the events, one call per shard; answers each event's outcome.
async fn store(
    log: &LogClient<'_>,
    ready: Vec<Prepared>,
    settings: &LogSettings,
) -> Vec<(usize, Outcome)> {
    let mut groups: BTreeMap<(TenantId, ShardRef), ShardBatch> = BTreeMap::new();
    for x in ready {
        let group = groups.entry((x.tenant, x.shard)).or_default();
        group.answers.push((x.at, x.event.id.clone()));
        for s in x.snapshots {
            group.snapshots.insert(s.destination_id.to_string(), s);
        }
        group.events.push(NewEvent {
            event: x.event,
            deliveries: x.deliveries,
            claim: x.claim,
        });
    }
    let mut answers_of = Vec::with_capacity(groups.len());
    let mut calls = Vec::with_capacity(groups.len());
    for ((tenant, shard), group) in groups {
        answers_of.push(group.answers);
        let request = LogRequest::StoreEvents(StoreEvents {
            tenant_id: tenant.clone(),
            shard,
            expires_at: settings
                .layout
                .expires_at(shard.bucket, settings.retention_ms),
            events: group.events,
            snapshots: group.snapshots.into_values().collect(),
        });
        calls.push(async move { log.shard::<StoreAnswer>(&tenant, shard, request).await });
    }
    let mut out = Vec::new();
    for (members, answer) in answers_of.into_iter().zip(bounded(calls).await) {
        match answer {
            Ok(stored) if stored.len() == members.len() => {
                out.extend(members.into_iter().zip(stored).map(|((at, id), s)| {
                    let outcome = s.map_err(IntakeError::Unavailable).map(|s| {
                        Some(Published {
                            event_id: id,
                            duplicate: !s.created,
                            deliveries: s.deliveries,
                        })
                    });
                    (at, outcome)
                }));
            }
            Ok(_) => out.extend(members.into_iter().map(|(at, _)| {
                let why = "the shard answered a different number of events".to_string();
                (at, Err(IntakeError::Unavailable(why)))
            })),
            Err(e) => out.extend(
                members
                    .into_iter()
                    .map(|(at, _)| (at, Err(IntakeError::Unavailable(e.0.clone())))),
            ),
        }
    }
    out
}

/// The snapshots the pending deliveries' hand-offs are sent with.
fn snapshots(targets: &[DestinationRow], deliveries: &[NewDelivery]) -> Vec<Snapshot> {
    targets
        .iter()
        .zip(deliveries)
        .filter(|(_, d)| d.status == DeliveryStatus::Pending)
        .filter_map(|(t, _)| snapshot(t))
        .collect()
}

/// A destination's snapshot as a shard keeps it (manual retries send it along).
pub fn snapshot(row: &DestinationRow) -> Option<Snapshot> {
    Some(Snapshot {
        destination_id: row.id.clone(),
        updated_at: row.updated_at,
        row: serde_json::to_string(row).ok()?,
    })
}
