//! What a publish needs to know about its tenant (the destinations) and the topic catalogue,
//! kept per isolate so that a warm publish reads nothing from D1. An entry is trusted for
//! `ttl` after it was read; any change made through this isolate (a destination, the tenant,
//! a topic) forgets it at once, and a change made through another isolate is seen within the
//! TTL. (Events live in the data plane now, so D1 can no longer check a cached view inside
//! the event's own write; a deleted destination's scheduler refuses what reaches it late, and
//! the delivery fails with that reason.)
//!
//! Topics are remembered only once seen in the catalogue: an unknown topic is always checked
//! again (it may have been created since).

use super::ids::TenantId;
use super::time::Millis;
use std::collections::HashMap;
use std::rc::Rc;

/// Past this many tenants (or topics) the cache starts over: memory stays bounded.
pub const DEFAULT_LIMIT: usize = 1_000;
/// How long a routing read is trusted (`ROUTING_CACHE_SECONDS`): a change made through
/// another isolate reaches publishing within this.
pub const DEFAULT_TTL_MS: Millis = 5_000;

pub struct RoutingCache<T> {
    tenants: HashMap<TenantId, (Millis, Rc<T>)>,
    topics: HashMap<String, Millis>,
    limit: usize,
    ttl: Millis,
}

impl<T> RoutingCache<T> {
    pub fn new(limit: usize, ttl: Millis) -> Self {
        RoutingCache {
            tenants: HashMap::new(),
            topics: HashMap::new(),
            limit: limit.max(1),
            ttl,
        }
    }

    pub fn set_ttl(&mut self, ttl: Millis) {
        self.ttl = ttl;
    }

    fn fresh(&self, read_at: Millis, now: Millis) -> bool {
        now.saturating_sub(read_at) < self.ttl
    }

    /// The tenant's cached routing, if it is fresh and the topic may be published to without
    /// a read: it is known to be in the catalogue, or the catalogue is not enforced.
    pub fn get(
        &self,
        tenant: &TenantId,
        topic: &str,
        any_topic: bool,
        now: Millis,
    ) -> Option<Rc<T>> {
        if !any_topic && !self.topics.get(topic).is_some_and(|t| self.fresh(*t, now)) {
            return None;
        }
        self.tenants
            .get(tenant)
            .filter(|(t, _)| self.fresh(*t, now))
            .map(|(_, r)| r.clone())
    }

    /// Keeps the routing read at `now`; returns it, shared.
    pub fn remember(&mut self, tenant: TenantId, now: Millis, routing: T) -> Rc<T> {
        if self.tenants.len() >= self.limit && !self.tenants.contains_key(&tenant) {
            self.tenants.clear();
        }
        let routing = Rc::new(routing);
        self.tenants.insert(tenant, (now, routing.clone()));
        routing
    }

    pub fn remember_topic(&mut self, topic: &str, now: Millis) {
        if self.topics.len() >= self.limit && !self.topics.contains_key(topic) {
            self.topics.clear();
        }
        self.topics.insert(topic.to_string(), now);
    }

    /// Something of the tenant changed (a destination, or the tenant itself).
    pub fn forget_tenant(&mut self, tenant: &TenantId) {
        self.tenants.remove(tenant);
    }

    pub fn forget_all(&mut self) {
        self.tenants.clear();
    }

    /// The catalogue changed.
    pub fn forget_topics(&mut self) {
        self.topics.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[test]
    fn serves_a_tenant_only_for_a_topic_seen_in_the_catalogue() {
        let mut c = RoutingCache::new(10, 1_000);
        c.remember(tenant("acme"), 0, vec!["d1"]);
        assert!(c.get(&tenant("acme"), "order.created", false, 0).is_none());
        assert!(c.get(&tenant("acme"), "order.created", true, 0).is_some());
        c.remember_topic("order.created", 0);
        let routing = c.get(&tenant("acme"), "order.created", false, 10).unwrap();
        assert_eq!(routing.as_slice(), &["d1"][..]);
        assert!(c
            .get(&tenant("other"), "order.created", false, 10)
            .is_none());
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut c = RoutingCache::new(10, 1_000);
        c.remember(tenant("acme"), 5_000, ());
        c.remember_topic("a", 5_000);
        assert!(c.get(&tenant("acme"), "a", false, 5_999).is_some());
        assert!(
            c.get(&tenant("acme"), "a", true, 6_000).is_none(),
            "the tenant expired"
        );
        c.remember(tenant("acme"), 6_000, ());
        assert!(
            c.get(&tenant("acme"), "a", false, 6_000).is_none(),
            "the topic expired"
        );
        c.set_ttl(0);
        assert!(
            c.get(&tenant("acme"), "a", true, 6_000).is_none(),
            "a TTL of 0 caches nothing"
        );
    }

    #[test]
    fn forgetting_drops_the_tenant_or_the_topics() {
        let mut c = RoutingCache::new(10, 1_000);
        c.remember(tenant("acme"), 0, ());
        c.remember(tenant("beta"), 0, ());
        c.remember_topic("a", 0);
        c.forget_tenant(&tenant("acme"));
        assert!(c.get(&tenant("acme"), "a", false, 1).is_none());
        assert!(c.get(&tenant("beta"), "a", false, 1).is_some());
        c.forget_topics();
        assert!(c.get(&tenant("beta"), "a", false, 1).is_none());
        assert!(c.get(&tenant("beta"), "a", true, 1).is_some());
    }

    #[test]
    fn stays_within_its_limit() {
        let mut c = RoutingCache::new(3, 1_000);
        for i in 0..10 {
            c.remember(tenant(&format!("t{i}")), 0, ());
            c.remember_topic(&format!("topic.{i}"), 0);
            assert!(c.tenants.len() <= 3 && c.topics.len() <= 3);
        }
        assert!(c.get(&tenant("t9"), "topic.9", false, 1).is_some());
    }
}
