//! The data plane's layout, decided here and nowhere else: which log shard (a Durable
//! Object with SQLite storage) holds an event, which index object knows where an event id
//! lives, when a shard expires, and how pages read from several shards make one page and a
//! cursor. Plain Rust; the Durable Objects and the API only follow what this says.
//!
//! An event lives in the shard `log/{tenant}/{bucket}/{slot}`: its bucket is its publish
//! time divided by the bucket length (a day by default), its slot a hash of its id modulo the
//! bucket's shard count (the tenant's `log_shards` when the bucket was first used). Its
//! deliveries and their attempts live beside it. The index object `idx/{tenant}/{n}` (n a
//! hash of the id, `INDEX_SLOTS` of them) maps the id to that shard: it decides which of two
//! publishes of one id was first, and finds an event by id.

use crate::core::time::Millis;
use serde::{Deserialize, Serialize};

/// Default bucket length: one day. A shard holds one bucket of one tenant (or one slot of it).
const DEFAULT_BUCKET_MS: Millis = 86_400_000;
/// Most shards one bucket of one tenant may fan out to (`log_shards`).
pub const MAX_LOG_SHARDS: u32 = 64;
/// Index objects per tenant. 64 keep one object under 10 GB at 1,000 events/s for 30 days
/// (~2.6 billion ids of ~100 bytes = 4 GB each) and under 16 writes/s each at that rate.
pub const INDEX_SLOTS: u32 = 64;
/// Shards one API call may visit before it answers with a cursor to continue (whole buckets:
/// at least one, then more while the total stays within this).
pub const MAX_SHARDS_PER_CALL: usize = 8;
/// How long an event id is remembered at least, whatever the retention: a repeated publish
/// within this window is answered as a duplicate.
const MIN_DEDUP_WINDOW_MS: Millis = 86_400_000;

/// Where one shard is, within its tenant.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct ShardRef {
    pub bucket: i64,
    pub slot: u32,
}

/// The bucket length in force (`LOG_BUCKET_SECONDS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub bucket_ms: Millis,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            bucket_ms: DEFAULT_BUCKET_MS,
        }
    }
}

impl Layout {
    /// Buckets of `seconds` (`LOG_BUCKET_SECONDS`, checked positive by `core::settings`).
    pub fn from_seconds(seconds: i64) -> Self {
        Layout {
            bucket_ms: seconds.saturating_mul(1000),
        }
    }

    pub fn bucket_of(&self, t: Millis) -> i64 {
        t.div_euclid(self.bucket_ms)
    }

    pub fn bucket_start(&self, bucket: i64) -> Millis {
        bucket.saturating_mul(self.bucket_ms)
    }

    pub fn bucket_end(&self, bucket: i64) -> Millis {
        self.bucket_start(bucket.saturating_add(1))
    }

    /// The shard of an event published at `t` into a bucket of `shards` slots.
    pub fn shard_of(&self, event_id: &str, t: Millis, shards: u32) -> ShardRef {
        ShardRef {
            bucket: self.bucket_of(t),
            slot: slot_of(event_id, shards),
        }
    }

    /// When a shard of `bucket` may be dropped: its last event is `retention_ms` old.
    pub fn expires_at(&self, bucket: i64, retention_ms: Millis) -> Millis {
        self.bucket_end(bucket).saturating_add(retention_ms)
    }
}

/// FNV-1a, 64 bits: stable across builds and platforms (the slot of an id must never change).
pub fn hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The slot of an event id among a bucket's `shards` (low bits of the hash).
fn slot_of(event_id: &str, shards: u32) -> u32 {
    (hash(event_id) % u64::from(shards.clamp(1, MAX_LOG_SHARDS))) as u32
}

/// The index object of an event id (high bits of the hash, so that it is independent of the
/// log slot).
pub fn index_slot_of(event_id: &str) -> u32 {
    ((hash(event_id) >> 32) % u64::from(INDEX_SLOTS)) as u32
}

pub fn shard_name(tenant: &str, shard: ShardRef) -> String {
    format!("log/{tenant}/{}/{}", shard.bucket, shard.slot)
}

pub fn index_name(tenant: &str, slot: u32) -> String {
    format!("idx/{tenant}/{slot}")
}

/// The time whose bucket holds an event: its publish time `now`, except for an id of the form
/// Sluice generates (`evt_` + ULID) made within the dedup window before `now`, whose bucket is
/// that of its ULID's time. An event published without an id gets such an id made at `now`,
/// so it is found from its id alone, without its index object; a publisher sending that id
/// back lands in the shard that already holds it, which answers that it is a repeat.
pub fn home_time(event_id: &str, now: Millis, window_ms: Millis) -> Millis {
    match generated_event_time(event_id) {
        Some(t) if t <= now && now - t < window_ms => t,
        _ => now,
    }
}

/// Whether an event id has the form Sluice generates (`evt_` + ULID): such an id is found by
/// its time when its index object does not know it.
pub fn generated_event_time(event_id: &str) -> Option<Millis> {
    event_id
        .strip_prefix("evt_")
        .filter(|ulid| ulid.len() == 26)
        .and_then(ulid_time)
}

/// How long the index remembers an id: the retention, and never less than a day.
pub fn dedup_window_ms(retention_ms: Millis) -> Millis {
    retention_ms.max(MIN_DEDUP_WINDOW_MS)
}

/// What an expired shard does at its alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Not expired yet: wake again then.
    Wait(Millis),
    /// Expired with nothing pending: drop the whole shard (`deleteAll`).
    Drop,
    /// Expired, but deliveries are still pending: keep everything, look again then.
    Postpone(Millis),
}

/// Retention never drops a pending delivery: a shard is dropped whole once it is past its
/// expiry and nothing in it is pending; until then it is looked at every `recheck_ms`.
pub fn expiry(now: Millis, expires_at: Millis, pending: u64, recheck_ms: Millis) -> Expiry {
    if now < expires_at {
        Expiry::Wait(expires_at)
    } else if pending > 0 {
        Expiry::Postpone(now + recheck_ms)
    } else {
        Expiry::Drop
    }
}

/// A position in a list ordered by (time, id): continue after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub at: Millis,
    pub id: String,
}

impl Position {
    /// `at:id`, the form the event log's cursor has always had.
    pub fn encode(&self) -> String {
        format!("{}:{}", self.at, self.id)
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let (t, id) = raw.split_once(':')?;
        Some(Position {
            at: t.parse().ok()?,
            id: id.to_string(),
        })
    }

    /// The position past every row of `bucket` in reading order: a call that ran out of
    /// shards to visit continues in the next bucket. Newest first, `(start, "")` is before
    /// every row of the bucket; oldest first, `(end, "")` is after all of them and before
    /// every row of the next (ids are never empty).
    pub fn past_bucket(layout: &Layout, bucket: i64, newest_first: bool) -> Self {
        let at = if newest_first {
            layout.bucket_start(bucket)
        } else {
            layout.bucket_end(bucket)
        };
        Position {
            at,
            id: String::new(),
        }
    }
}

/// The buckets one call reads, in reading order, and whether buckets remain after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `(bucket, shards)` to read, whole.
    pub buckets: Vec<(i64, u32)>,
    /// More buckets come after the last one planned.
    pub more: bool,
}

/// Plans which buckets a page reads: those of `known` (the tenant's buckets with their shard
/// counts) that overlap `[since, until)` and are not before `after` in reading order, at
/// least one and then more while their shards stay within `max_shards`.
pub fn plan(
    layout: &Layout,
    known: &[(i64, u32)],
    since: Option<Millis>,
    until: Option<Millis>,
    after: Option<&Position>,
    newest_first: bool,
    max_shards: usize,
) -> Plan {
    let mut candidates: Vec<(i64, u32)> = known
        .iter()
        .copied()
        .filter(|(b, _)| since.is_none_or(|s| layout.bucket_end(*b) > s))
        .filter(|(b, _)| until.is_none_or(|u| layout.bucket_start(*b) < u))
        .filter(|(b, _)| match after {
            None => true,
            Some(p) if newest_first => {
                layout.bucket_start(*b) < p.at
                    || (layout.bucket_start(*b) == p.at && !p.id.is_empty())
            }
            Some(p) => layout.bucket_end(*b) > p.at,
        })
        .collect();
    candidates.sort_unstable();
    candidates.dedup_by_key(|(b, _)| *b);
    if newest_first {
        candidates.reverse();
    }
    let mut buckets = vec![];
    let mut shards = 0usize;
    for &(bucket, n) in &candidates {
        if !buckets.is_empty() && shards + n as usize > max_shards {
            break;
        }
        shards += n as usize;
        buckets.push((bucket, n));
    }
    let more = candidates.len() > buckets.len();
    Plan { buckets, more }
}

/// Merges rows read from several shards (each already in reading order) into one page of at
/// most `limit`, ordered by `key`; `true` when rows were left over.
pub fn merge<T>(
    parts: Vec<Vec<T>>,
    key: impl Fn(&T) -> (Millis, String),
    newest_first: bool,
    limit: usize,
) -> (Vec<T>, bool) {
    let mut all: Vec<T> = parts.into_iter().flatten().collect();
    all.sort_by_cached_key(|r| key(r));
    if newest_first {
        all.reverse();
    }
    let more = all.len() > limit;
    all.truncate(limit);
    (all, more)
}

/// The time a Sluice-generated id (`dlv_` + ULID) was made at: the publish time of its event,
/// hence its bucket.
pub fn ulid_time(id: &str) -> Option<Millis> {
    let body = id.rsplit_once('_').map_or(id, |(_, b)| b);
    let ulid = ulid::Ulid::from_string(&body.to_ascii_uppercase()).ok()?;
    i64::try_from(ulid.timestamp_ms()).ok()
}

#[cfg(test)]
mod tests;
