//! Publishing an event, for `POST /v1/publish` and for the schedulers' alerts alike: find the
//! tenant's destinations (cached per isolate, `core::routing_cache`, parsed with their
//! filters compiled, so a publish compiles no regex), decide each one's
//! delivery (pending, or recorded as skipped or filtered), claim the event id at its index
//! object, and store the event with its deliveries in its log shard, which hands the pending
//! ones to their schedulers from its own outbox. One durable write in the data plane; on the
//! warm path nothing is read from or written to D1.

use crate::core::delivery::DeliveryStatus;
use crate::core::ids::{DeliveryId, EventId, TenantId};
use crate::core::log::ShardRef;
use crate::core::routing_cache::{RoutingCache, DEFAULT_LIMIT, DEFAULT_TTL_MS};
use crate::core::time::Millis;
use crate::log::client::{LogClient, LogError, LogSettings};
use crate::log::protocol::{IndexRequest, Located, LogRequest};
use crate::log::rows::{DeliverySummary, EventRow, NewDelivery};
use crate::log::shard::{Snapshot, Stored};
use crate::runtime::random_bytes;
use crate::store::destinations::{self, DestinationRow};
use crate::store::{log_buckets, StoreError};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use worker::{D1Database, Env};

thread_local! {
    /// Each tenant's destinations and the topic catalogue as last read.
    static ROUTING: RefCell<RoutingCache<Vec<DestinationRow>>> =
        RefCell::new(RoutingCache::new(DEFAULT_LIMIT, DEFAULT_TTL_MS));
    /// Each (tenant, bucket)'s shard count, once registered (it never changes).
    static BUCKETS: RefCell<HashMap<(TenantId, i64), u32>> = RefCell::new(HashMap::new());
}

/// Buckets remembered per isolate; past this the map starts over.
const BUCKET_CACHE_LIMIT: usize = 10_000;

/// Something of the tenant changed (a destination, or the tenant itself): the next publish
/// reads its routing again.
pub fn forget_tenant(tenant: &TenantId) {
    ROUTING.with(|c| c.borrow_mut().forget_tenant(tenant));
    BUCKETS.with(|b| b.borrow_mut().retain(|(t, _), _| t != tenant));
}

/// Forgets every tenant's routing (a change whose tenant is not in the path: a tenant
/// created with its id in the body).
pub fn forget_all() {
    ROUTING.with(|c| c.borrow_mut().forget_all());
    BUCKETS.with(|b| b.borrow_mut().clear());
}

/// The topic catalogue changed.
pub fn forget_topics() {
    ROUTING.with(|c| c.borrow_mut().forget_topics());
}

/// An event to publish.
pub struct Publication {
    pub tenant_id: TenantId,
    pub id: EventId,
    pub topic: String,
    /// The publisher's JSON text.
    pub data: String,
    pub metadata: BTreeMap<String, String>,
    pub at: Millis,
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

fn routing_ttl(env: &Env) -> Millis {
    crate::runtime::settings_or_default(env).routing_cache_ms
}

/// The tenant's destinations: cached, or read from D1 (the tenant and the topic checked).
async fn destinations_of(
    env: &Env,
    db: &D1Database,
    tenant: &TenantId,
    topic: &str,
    any_topic: bool,
    now: Millis,
) -> Result<Rc<Vec<DestinationRow>>, IntakeError> {
    let ttl = routing_ttl(env);
    let cached = ROUTING.with(|c| {
        let mut c = c.borrow_mut();
        c.set_ttl(ttl);
        c.get(tenant, topic, any_topic, now)
    });
    if let Some(d) = cached {
        return Ok(d);
    }
    let known = destinations::routing_context(db, tenant, topic).await?;
    if !known.tenant_exists {
        return Err(IntakeError::TenantNotFound);
    }
    if !known.topic_known && !any_topic {
        return Err(IntakeError::UnknownTopic(topic.to_string()));
    }
    Ok(ROUTING.with(|c| {
        let mut c = c.borrow_mut();
        if known.topic_known {
            c.remember_topic(topic, now);
        }
        c.remember(tenant.clone(), now, known.destinations)
    }))
}

/// The bucket's shard count: cached, or registered in the directory.
async fn shards_of(
    db: &D1Database,
    tenant: &TenantId,
    bucket: i64,
    now: Millis,
) -> Result<u32, IntakeError> {
    let key = (tenant.clone(), bucket);
    if let Some(n) = BUCKETS.with(|b| b.borrow().get(&key).copied()) {
        return Ok(n);
    }
    let n = log_buckets::register(db, tenant, bucket, now)
        .await?
        .ok_or(IntakeError::TenantNotFound)?;
    BUCKETS.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() >= BUCKET_CACHE_LIMIT {
            b.clear();
        }
        b.insert(key, n);
    });
    Ok(n)
}

/// The document a destination's payload filter is evaluated against: the whole event.
fn filter_subject(p: &Publication) -> Value {
    let data: Value = serde_json::from_str(&p.data).unwrap_or(Value::Null);
    let time = crate::core::time::to_rfc3339(p.at);
    crate::core::filter::document(p.id.as_str(), &p.topic, &time, &p.metadata, data)
}

/// Publishes an event: `None` when no destination takes it and the routing says not to keep
/// it. A repeated id (within the dedup window) stores nothing and answers with the first
/// publish's deliveries.
pub async fn publish(
    env: &Env,
    db: &D1Database,
    p: Publication,
    routing: Routing<'_>,
) -> Result<Option<Published>, IntakeError> {
    let settings = LogSettings::from_env(env);
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
    let bucket = layout.bucket_of(now);
    let shards = shards_of(db, &p.tenant_id, bucket, now).await?;
    let mine = layout.shard_of(p.id.as_str(), now, shards);
    let log = LogClient::new(env);
    let located: Located = log
        .index(
            &p.tenant_id,
            &p.id,
            IndexRequest::Claim {
                event_id: p.id.clone(),
                shard: mine,
                at: now,
                keep_ms: crate::core::log::dedup_window_ms(settings.retention_ms),
            },
        )
        .await?;
    // A repeated id goes to the first publish's shard, where it is found (or, if that publish
    // never got to store it, stored now, dated inside that shard's bucket).
    let shard: ShardRef = located.shard;
    let created_at = if shard.bucket == bucket {
        now
    } else {
        now.min(layout.bucket_end(shard.bucket) - 1)
    };
    let stored: Stored = log
        .shard(
            &p.tenant_id,
            shard,
            LogRequest::Store {
                tenant_id: p.tenant_id.clone(),
                shard,
                expires_at: layout.expires_at(shard.bucket, settings.retention_ms),
                event: EventRow {
                    id: p.id.clone(),
                    topic: p.topic,
                    data: p.data,
                    metadata: serde_json::to_string(&p.metadata).unwrap_or_else(|_| "{}".into()),
                    created_at,
                },
                deliveries,
                snapshots,
            },
        )
        .await?;
    Ok(Some(Published {
        event_id: p.id,
        duplicate: !stored.created,
        deliveries: stored.deliveries,
    }))
}

/// The snapshots the pending deliveries' hand-offs are sent with.
fn snapshots(targets: &[DestinationRow], deliveries: &[NewDelivery]) -> Vec<Snapshot> {
    targets
        .iter()
        .zip(deliveries)
        .filter(|(_, d)| d.status == DeliveryStatus::Pending)
        .filter_map(|(t, _)| {
            Some(Snapshot {
                destination_id: t.id.clone(),
                updated_at: t.updated_at,
                row: serde_json::to_string(t).ok()?,
            })
        })
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
