//! Where a publish goes, cached per isolate: each tenant's destinations and the topic
//! catalogue (`core::routing_cache`, trusted for `ROUTING_CACHE_SECONDS`; a change made
//! through this isolate forgets them at once), and each bucket's shard count (registered once
//! in the D1 directory; it never changes).

use super::IntakeError;
use crate::core::ids::TenantId;
use crate::core::routing_cache::{RoutingCache, DEFAULT_LIMIT, DEFAULT_TTL_MS};
use crate::core::time::Millis;
use crate::store::destinations::{self, DestinationRow};
use crate::store::log_buckets;
use std::cell::RefCell;
use std::collections::HashMap;
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

fn routing_ttl(env: &Env) -> Millis {
    crate::runtime::settings_or_default(env).routing_cache_ms
}

/// The tenant's destinations: cached, or read from D1 (the tenant and the topic checked).
pub(super) async fn destinations_of(
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
pub(super) async fn shards_of(
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
