//! One call to a data-plane object for what concurrent publishes of this isolate send it while
//! a call to it is on its way: the requests of one isolate share it, so at 16 publishers one
//! `StoreEvents` carries several events instead of one call each (a Durable Object call costs
//! more CPU than storing one more event in it), and a busy index object takes several claims
//! at once.
//!
//! The first message to an object with no call on its way is sent at once (no wait when
//! idle). One that finds a call on its way is queued and waits for its turn; when the call
//! ends, its carrier answers the messages it carried and hands the queue to the first waiting
//! request, which sends it from its own context. Requests are woken through JavaScript
//! promises, which the runtime runs in the context of the request that made them (a request's
//! I/O stays its own); a waiting request keeps a timer, so that it is not taken for one that
//! can never answer, and a message that waited `WAIT_MS` unsent is sent alone.

use crate::core::ids::TenantId;
use crate::core::log::{index_name, shard_name, ShardRef};
use crate::core::time::Millis;
use crate::log::client::{LogClient, LogError};
use crate::log::protocol::{Claim, IndexRequest, Located, LogRequest, NewEvent};
use crate::log::shard::{Snapshot, Stored};
use futures::future::select;
use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;

/// Events (or claims) one call carries at most (what a batch publish sends in one call).
const MAX_ITEMS: usize = 100;
/// A waiting message gives up its place and is sent alone after this long, and an object
/// whose call has been on its way this long is no longer waited for (its carrier's request
/// may have been cancelled).
const WAIT_MS: u64 = 10_000;

/// A message that can carry the items of others to the same object.
pub trait Batch: Sized + 'static {
    /// What each item is answered.
    type Answer: 'static;
    /// The object it goes to (its Durable Object name).
    fn object(&self) -> String;
    fn items(&self) -> usize;
    /// Takes another message's items after its own.
    fn absorb(&mut self, other: Self);
    /// One call; one answer per item, in order.
    async fn send(self, log: &LogClient<'_>) -> Result<Vec<Self::Answer>, String>;
}

/// One store: a shard, the events for it, the snapshots their deliveries need.
pub struct Store {
    pub tenant: TenantId,
    pub shard: ShardRef,
    pub expires_at: Millis,
    pub events: Vec<NewEvent>,
    pub snapshots: Vec<Snapshot>,
}

impl Batch for Store {
    type Answer = Stored;

    fn object(&self) -> String {
        shard_name(self.tenant.as_str(), self.shard)
    }

    fn items(&self) -> usize {
        self.events.len()
    }

    fn absorb(&mut self, other: Self) {
        self.events.extend(other.events);
        // Each destination's snapshot once, the newest.
        let mut newest: BTreeMap<String, Snapshot> = BTreeMap::new();
        for s in self.snapshots.drain(..).chain(other.snapshots) {
            let key = s.destination_id.to_string();
            if newest.get(&key).is_none_or(|k| k.updated_at < s.updated_at) {
                newest.insert(key, s);
            }
        }
        self.snapshots = newest.into_values().collect();
    }

    async fn send(self, log: &LogClient<'_>) -> Result<Vec<Stored>, String> {
        let request = LogRequest::StoreEvents {
            tenant_id: self.tenant.clone(),
            shard: self.shard,
            expires_at: self.expires_at,
            events: self.events,
            snapshots: self.snapshots,
        };
        log.shard(&self.tenant, self.shard, request)
            .await
            .map_err(|LogError(e)| e)
    }
}

/// Claims at one index object.
pub struct Claims {
    pub tenant: TenantId,
    pub slot: u32,
    pub keep_ms: Millis,
    pub claims: Vec<Claim>,
}

impl Batch for Claims {
    type Answer = Located;

    fn object(&self) -> String {
        index_name(self.tenant.as_str(), self.slot)
    }

    fn items(&self) -> usize {
        self.claims.len()
    }

    fn absorb(&mut self, other: Self) {
        self.claims.extend(other.claims);
    }

    async fn send(self, log: &LogClient<'_>) -> Result<Vec<Located>, String> {
        let request = IndexRequest::ClaimIds {
            claims: self.claims,
            keep_ms: self.keep_ms,
        };
        log.index_slot(&self.tenant, self.slot, request)
            .await
            .map_err(|LogError(e)| e)
    }
}

type Answers<B> = Result<Vec<<B as Batch>::Answer>, String>;

/// What a waiting message is told.
enum Turn<B: Batch> {
    /// Its items were sent (or not): their answers.
    Done(Answers<B>),
    /// Its turn to send the queue.
    Carry,
}

type Told<B> = Rc<RefCell<Option<Turn<B>>>>;

struct Waiting<B: Batch> {
    message: B,
    turn: Told<B>,
    wake: js_sys::Function,
}

struct Lane<B: Batch> {
    /// When the call on its way was sent.
    busy_since: Millis,
    queue: Vec<Waiting<B>>,
}

thread_local! {
    /// The objects with a call on its way, by name (`Lane<B>` of the message type that goes
    /// to them: log shards' and index objects' names differ).
    static LANES: RefCell<HashMap<String, Box<dyn Any>>> = RefCell::new(HashMap::new());
}

fn now() -> Millis {
    crate::runtime::now()
}

/// Runs `f` on the object's lane, if it has one.
fn with_lane<B: Batch, T>(key: &str, f: impl FnOnce(&mut Lane<B>) -> T) -> Option<T> {
    LANES.with(|l| {
        let mut lanes = l.borrow_mut();
        lanes.get_mut(key)?.downcast_mut::<Lane<B>>().map(f)
    })
}

/// Sends a message, sharing the call with the concurrent messages of this isolate to the same
/// object when `share`; its items' answers. A batch publish does not share: it makes one call
/// per object already, and its calls waiting in queues would hold its few open connections.
pub async fn send<B: Batch>(log: &LogClient<'_>, message: B, share: bool) -> Answers<B> {
    if !share {
        return message.send(log).await;
    }
    let key = message.object();
    let t = now();
    let free = LANES.with(|l| {
        let mut lanes = l.borrow_mut();
        let busy = lanes
            .get(&key)
            .and_then(|lane| lane.downcast_ref::<Lane<B>>())
            .is_some_and(|lane| t.saturating_sub(lane.busy_since) <= WAIT_MS as Millis);
        if !busy {
            // A lane left by a carrier that never came back keeps its queue (each waiter
            // sends itself when its timer ends).
            match lanes
                .get_mut(&key)
                .and_then(|x| x.downcast_mut::<Lane<B>>())
            {
                Some(lane) => lane.busy_since = t,
                None => {
                    let lane: Lane<B> = Lane {
                        busy_since: t,
                        queue: Vec::new(),
                    };
                    lanes.insert(key.clone(), Box::new(lane));
                }
            }
        }
        !busy
    });
    if free {
        return carry(log, &key, message, Vec::new()).await;
    }
    let turn: Told<B> = Rc::new(RefCell::new(None));
    let mut wake = None;
    let signal = js_sys::Promise::new(&mut |resolve, _| wake = Some(resolve));
    let Some(wake) = wake else {
        return message.send(log).await;
    };
    let waiting = Waiting {
        message,
        turn: turn.clone(),
        wake,
    };
    with_lane::<B, _>(&key, |lane| lane.queue.push(waiting));
    let _ = select(
        JsFuture::from(signal),
        worker::Delay::from(Duration::from_millis(WAIT_MS)),
    )
    .await;
    let told = turn.borrow_mut().take();
    match told {
        Some(Turn::Done(answers)) => answers,
        Some(Turn::Carry) => {
            // Its own message is the queue's first (the request that woke it saw it there).
            let mut queue = take_queue::<B>(&key);
            match queue.iter().position(|w| Rc::ptr_eq(&w.turn, &turn)) {
                Some(at) => {
                    let mine = queue.remove(at).message;
                    carry(log, &key, mine, queue).await
                }
                None => Err("lost its place in the queue".into()),
            }
        }
        None => {
            // Not told anything in `WAIT_MS`: still queued, nothing was sent, so it is sent
            // alone; taken by a carrier that never answered, it is not known whether it
            // arrived (a 503: a publish sent again with its id is answered as a repeat).
            let mine = with_lane::<B, _>(&key, |lane| {
                let at = lane.queue.iter().position(|w| Rc::ptr_eq(&w.turn, &turn))?;
                Some(lane.queue.remove(at).message)
            })
            .flatten();
            match mine {
                Some(message) => message.send(log).await,
                None => Err("the call that carried this message did not answer in time".into()),
            }
        }
    }
}

/// The queue's waiting messages, up to `MAX_ITEMS` items (the rest wait for the next call).
fn take_queue<B: Batch>(key: &str) -> Vec<Waiting<B>> {
    with_lane::<B, _>(key, |lane| {
        let mut items = 0;
        let mut n = 0;
        for w in &lane.queue {
            if items > 0 && items + w.message.items() > MAX_ITEMS {
                break;
            }
            items += w.message.items();
            n += 1;
        }
        lane.queue.drain(..n).collect()
    })
    .unwrap_or_default()
}

/// Sends `mine` with the `others`' items in one call, answers the others, and hands the
/// object's queue on.
async fn carry<B: Batch>(
    log: &LogClient<'_>,
    key: &str,
    mine: B,
    others: Vec<Waiting<B>>,
) -> Answers<B> {
    let own = mine.items();
    let mut counts = Vec::with_capacity(others.len());
    let mut wakers = Vec::with_capacity(others.len());
    let mut combined = mine;
    for w in others {
        counts.push(w.message.items());
        combined.absorb(w.message);
        wakers.push((w.turn, w.wake));
    }
    let total = own + counts.iter().sum::<usize>();
    // Its own answers, and the others' in the order their items were carried.
    let (answers, mut rest) = match combined.send(log).await {
        Ok(mut all) if all.len() == total => {
            let rest = all.split_off(own);
            (Ok(all), Ok(rest.into_iter()))
        }
        Ok(_) => {
            let why = "the object answered a different number of items".to_string();
            (Err(why.clone()), Err(why))
        }
        Err(e) => (Err(e.clone()), Err(e)),
    };
    for ((turn, wake), n) in wakers.into_iter().zip(counts) {
        let theirs = match &mut rest {
            Ok(iter) => Ok(iter.by_ref().take(n).collect()),
            Err(e) => Err(e.clone()),
        };
        *turn.borrow_mut() = Some(Turn::Done(theirs));
        let _ = wake.call0(&JsValue::UNDEFINED);
    }
    hand_on::<B>(key);
    answers
}

/// The call is over: the first waiting message sends the queue, or the object is free.
fn hand_on<B: Batch>(key: &str) {
    let next = LANES.with(|l| {
        let mut lanes = l.borrow_mut();
        let lane = lanes.get_mut(key)?.downcast_mut::<Lane<B>>()?;
        if lane.queue.is_empty() {
            lanes.remove(key);
            return None;
        }
        lane.busy_since = now();
        let first = &lane.queue[0];
        *first.turn.borrow_mut() = Some(Turn::Carry);
        Some(first.wake.clone())
    });
    if let Some(wake) = next {
        let _ = wake.call0(&JsValue::UNDEFINED);
    }
}
