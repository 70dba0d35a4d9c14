//! How an event finds its destinations: the tenant's destinations, cached per isolate
//! (`core::routing_cache`) or read from D1, and a guarded store. The batch stores the event
//! only if the tenant's routing version is still the one the destinations were read at, so a
//! warm publish is one D1 round trip with no reads, and a destination deleted or changed
//! between the read and the write (here or in another isolate) never gets a delivery row from
//! an outdated view. A refused guard reads again; a repeated id is answered as a duplicate.

use super::error::{ApiError, ApiResult};
use super::publish::{store_and_hand_off, Published, Stored};
use crate::core::routing_cache::{RoutingCache, DEFAULT_LIMIT};
use crate::core::time::Millis;
use crate::scheduler::client::SchedulerClient;
use crate::store::destinations::DestinationRow;
use crate::store::events::{self, EventRow, RoutingGuard};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use worker::D1Database;

/// Guarded stores of one publish before it stores as read, unguarded: each refusal is a
/// destination change that happened between the read and the write.
const GUARDED_TRIES: usize = 3;

thread_local! {
    /// Each tenant's destinations as last read, with the routing version they were read at.
    static ROUTING: RefCell<RoutingCache<Vec<DestinationRow>>> = RefCell::new(RoutingCache::new(DEFAULT_LIMIT));
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

/// Routes an event by its tenant's destinations (cached, or read) and stores it with its
/// deliveries, guarded by the routing version they were read at. A refused guard reads again;
/// a repeated id is answered as a duplicate. `Err(NotFound)` when the tenant does not exist.
/// Shared by `POST /v1/publish` and the schedulers' alert events, so alerts are stored,
/// retried and inspectable exactly like events.
pub async fn route_and_store(
    db: &D1Database,
    scheduler: &SchedulerClient<'_>,
    mut event: EventRow,
    metadata: &BTreeMap<String, String>,
    now: Millis,
    routing: Routing<'_>,
) -> ApiResult<Option<Published>> {
    let any_topic = routing.any_topic;
    let mut cached = ROUTING.with(|c| c.borrow().get(&event.tenant_id, &event.topic, any_topic));
    for _ in 0..GUARDED_TRIES {
        let (version, destinations) = match cached.take() {
            Some(c) => c,
            None => read_routing(db, &event, any_topic).await?,
        };
        let targets = (routing.select)(&destinations, &event.topic);
        if targets.is_empty() && !routing.keep_without_targets {
            return Ok(None);
        }
        let guard = RoutingGuard {
            version,
            topic_must_exist: !any_topic,
        };
        let stored =
            store_and_hand_off(db, scheduler, event, metadata, targets, now, Some(&guard)).await?;
        match stored {
            Stored::Done(p) => return Ok(Some(p)),
            Stored::Refused(e) => {
                ROUTING.with(|c| c.borrow_mut().forget(&e.tenant_id, &e.topic));
                event = e;
                if events::get(db, &event.tenant_id, &event.id)
                    .await?
                    .is_some()
                {
                    // A repeated id, not a change: answered below.
                    break;
                }
            }
        }
    }
    // A duplicate (or destinations changing under every try): as read now, without a guard.
    let (_, destinations) = read_routing(db, &event, any_topic).await?;
    let targets = (routing.select)(&destinations, &event.topic);
    let stored = store_and_hand_off(db, scheduler, event, metadata, targets, now, None).await?;
    Ok(match stored {
        Stored::Done(p) => Some(p),
        Stored::Refused(..) => None,
    })
}

/// The tenant's routing read from D1 (the tenant and the topic checked), and remembered.
async fn read_routing(
    db: &D1Database,
    event: &EventRow,
    any_topic: bool,
) -> ApiResult<(i64, Rc<Vec<DestinationRow>>)> {
    let known = events::publish_context(db, &event.tenant_id, &event.topic).await?;
    let Some(version) = known.routing_version else {
        return Err(ApiError::NotFound(format!("tenant '{}'", event.tenant_id)));
    };
    if !known.topic_known && !any_topic {
        return Err(ApiError::field(
            "topic",
            format!(
                "'{}' is not in the topic catalogue; create it with POST /v1/topics",
                event.topic
            ),
        ));
    }
    let destinations = ROUTING.with(|c| {
        let mut c = c.borrow_mut();
        if known.topic_known {
            c.remember_topic(&event.topic);
        }
        c.remember(event.tenant_id.clone(), version, known.destinations)
    });
    Ok((version, destinations))
}
