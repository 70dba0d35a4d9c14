//! What a publish needs to know about its tenant (the destinations), kept per isolate and
//! tagged with the tenant's routing version (migrations/0009: it moves whenever one of the
//! tenant's destinations is created, changed or deleted). A cached entry is never trusted on
//! its own: the event is stored only if D1 still has that version (`RoutingGuard`), and a
//! publish that finds it moved reads the context again. So the cache saves the reads of the
//! common case and can never route an event by a stale view.
//!
//! Topics are remembered only once seen in the catalogue: an unknown topic is always checked
//! again (it may have been created since), and a known one is re-checked by the guard.

use super::ids::TenantId;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// Past this many tenants (or topics) the cache starts over: memory stays bounded.
pub const DEFAULT_LIMIT: usize = 1_000;

pub struct RoutingCache<T> {
    tenants: HashMap<TenantId, (i64, Rc<T>)>,
    topics: HashSet<String>,
    limit: usize,
}

impl<T> RoutingCache<T> {
    pub fn new(limit: usize) -> Self {
        RoutingCache {
            tenants: HashMap::new(),
            topics: HashSet::new(),
            limit: limit.max(1),
        }
    }

    /// The tenant's cached routing and its version, if the topic may be published to
    /// without a read: it is known to be in the catalogue, or the catalogue is not enforced.
    pub fn get(&self, tenant: &TenantId, topic: &str, any_topic: bool) -> Option<(i64, Rc<T>)> {
        if !any_topic && !self.topics.contains(topic) {
            return None;
        }
        self.tenants.get(tenant).cloned()
    }

    /// Keeps the routing read at `version`; returns it, shared.
    pub fn remember(&mut self, tenant: TenantId, version: i64, routing: T) -> Rc<T> {
        if self.tenants.len() >= self.limit && !self.tenants.contains_key(&tenant) {
            self.tenants.clear();
        }
        let routing = Rc::new(routing);
        self.tenants.insert(tenant, (version, routing.clone()));
        routing
    }

    pub fn remember_topic(&mut self, topic: &str) {
        if self.topics.contains(topic) {
            return;
        }
        if self.topics.len() >= self.limit {
            self.topics.clear();
        }
        self.topics.insert(topic.to_string());
    }

    /// The guard refused: something changed (a destination, the tenant, the topic).
    pub fn forget(&mut self, tenant: &TenantId, topic: &str) {
        self.tenants.remove(tenant);
        self.topics.remove(topic);
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
        let mut c = RoutingCache::new(10);
        c.remember(tenant("acme"), 7, vec!["d1"]);
        assert!(c.get(&tenant("acme"), "order.created", false).is_none());
        assert_eq!(c.get(&tenant("acme"), "order.created", true).unwrap().0, 7);
        c.remember_topic("order.created");
        let (version, routing) = c.get(&tenant("acme"), "order.created", false).unwrap();
        assert_eq!((version, routing.as_slice()), (7, &["d1"][..]));
        assert!(c.get(&tenant("other"), "order.created", false).is_none());
    }

    #[test]
    fn forgetting_drops_the_tenant_and_the_topic() {
        let mut c = RoutingCache::new(10);
        c.remember(tenant("acme"), 1, ());
        c.remember(tenant("beta"), 1, ());
        c.remember_topic("a");
        c.remember_topic("b");
        c.forget(&tenant("acme"), "a");
        assert!(c.get(&tenant("acme"), "b", false).is_none());
        assert!(c.get(&tenant("beta"), "a", false).is_none());
        assert!(c.get(&tenant("beta"), "b", false).is_some());
    }

    #[test]
    fn stays_within_its_limit() {
        let mut c = RoutingCache::new(3);
        for i in 0..10 {
            c.remember(tenant(&format!("t{i}")), i, ());
            c.remember_topic(&format!("topic.{i}"));
            assert!(c.tenants.len() <= 3 && c.topics.len() <= 3);
        }
        // The newest entry is always there; a newer version replaces an older one.
        assert!(c.get(&tenant("t9"), "topic.9", false).is_some());
        c.remember(tenant("t9"), 42, ());
        assert_eq!(c.get(&tenant("t9"), "topic.9", false).unwrap().0, 42);
    }
}
