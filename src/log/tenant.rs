//! A tenant's log across its shards, for the API: a page of the event log or of a
//! destination's deliveries assembled from the buckets `core::log::plan` picks (at most
//! `MAX_SHARDS_PER_CALL` shards a call, then a cursor), an event found by id through its index
//! object, a delivery found through its id's time, manual retries, and deletion.

use super::client::{LogClient, LogError, LogSettings};
use super::protocol::{DestinationDeliveries, Id, IndexRequest, Locate, LogRequest, Retry, Search};
use super::rows::{AttemptRow, DeliveryRow, EventDetail, EventSummary};
use super::search::EventQuery;
use super::shard::{DestinationScope, Retried, RetryScope, SearchPage, Snapshot};
use crate::core::ids::{DeliveryId, DestinationId, EventId, TenantId};
use crate::core::log::{
    generated_event_time, merge, plan, ulid_time, Plan, Position, ShardRef, INDEX_SLOTS,
    MAX_SHARDS_PER_CALL,
};
use crate::core::time::Millis;
use crate::core::wire::MAX_CONNECTIONS;
use crate::store::{log_buckets, StoreError};
use futures::future::join_all;
use worker::{D1Database, Env};

#[derive(Debug)]
pub enum ReadError {
    Store(StoreError),
    Log(LogError),
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> Self {
        ReadError::Store(e)
    }
}

impl From<LogError> for ReadError {
    fn from(e: LogError) -> Self {
        ReadError::Log(e)
    }
}

pub type ReadResult<T> = Result<T, ReadError>;

pub struct TenantLog<'a> {
    db: &'a D1Database,
    tenant: &'a TenantId,
    client: LogClient<'a>,
    pub settings: LogSettings,
}

fn shards(bucket: i64, n: u32) -> impl Iterator<Item = ShardRef> {
    (0..n.max(1)).map(move |slot| ShardRef { bucket, slot })
}

impl<'a> TenantLog<'a> {
    pub fn new(env: &'a Env, db: &'a D1Database, tenant: &'a TenantId) -> Self {
        TenantLog {
            db,
            tenant,
            client: LogClient::new(env),
            settings: LogSettings::from_env(env),
        }
    }

    /// Sends one message to many shards, at most `MAX_CONNECTIONS` at a time; answers in order.
    async fn each<T: serde::de::DeserializeOwned>(
        &self,
        targets: &[ShardRef],
        request: impl Fn() -> LogRequest,
    ) -> ReadResult<Vec<T>> {
        let mut out = Vec::with_capacity(targets.len());
        for chunk in targets.chunks(MAX_CONNECTIONS) {
            let calls = chunk
                .iter()
                .map(|s| self.client.shard::<T>(self.tenant, *s, request()));
            for r in join_all(calls).await {
                out.push(r?);
            }
        }
        Ok(out)
    }

    async fn buckets(&self) -> ReadResult<Vec<(i64, u32)>> {
        Ok(log_buckets::list(self.db, self.tenant).await?)
    }

    /// A page of the event log, and the cursor to continue (set also when the page ran out
    /// of shards to visit before it was full).
    pub async fn search(&self, q: &EventQuery) -> ReadResult<(Vec<EventSummary>, Option<String>)> {
        let after = q.after.as_ref().map(|(at, id)| Position {
            at: *at,
            id: id.clone(),
        });
        let known = self.buckets().await?;
        let Plan { buckets, more } = plan(
            &self.settings.layout,
            &known,
            q.since,
            q.until,
            after.as_ref(),
            q.newest_first,
            MAX_SHARDS_PER_CALL,
        );
        let mut page: Vec<EventSummary> = vec![];
        for &(bucket, n) in &buckets {
            let targets: Vec<ShardRef> = shards(bucket, n).collect();
            let parts: Vec<SearchPage> = self
                .each(&targets, || LogRequest::Search(Search { query: q.clone() }))
                .await?;
            // A shard whose scan budget ran out looked at nothing past `scanned_to`: the page
            // stops at the least advanced of those, and rows other shards found beyond it
            // wait for the next call.
            let key = |t: Millis, id: &str| (t, id.to_string());
            let stop = parts
                .iter()
                .filter_map(|p| p.scanned_to.clone())
                .reduce(|a, b| if (a <= b) == q.newest_first { b } else { a });
            let within = |e: &EventSummary| {
                stop.as_ref().is_none_or(|(t, id)| {
                    let row = key(e.event.created_at, e.event.id.as_str());
                    let stop = key(*t, id);
                    if q.newest_first {
                        row >= stop
                    } else {
                        row <= stop
                    }
                })
            };
            let rows: Vec<Vec<EventSummary>> = parts
                .into_iter()
                .map(|p| p.events.into_iter().filter(within).collect())
                .collect();
            let (rows, overflow) = merge(
                rows,
                |e| (e.event.created_at, e.event.id.to_string()),
                q.newest_first,
                q.limit - page.len(),
            );
            page.extend(rows);
            if overflow || page.len() == q.limit {
                // Full: continue after the last row (rows may remain in this bucket).
                let last = page.last().map(|e| Position {
                    at: e.event.created_at,
                    id: e.event.id.to_string(),
                });
                let next = if overflow
                    || more
                    || stop.is_some()
                    || bucket != buckets.last().map_or(bucket, |b| b.0)
                {
                    last.map(|p| p.encode())
                } else {
                    None
                };
                return Ok((page, next));
            }
            if let Some((at, id)) = stop {
                return Ok((page, Some(Position { at, id }.encode())));
            }
        }
        let next = match (more, buckets.last()) {
            (true, Some(&(b, _))) => {
                Some(Position::past_bucket(&self.settings.layout, b, q.newest_first).encode())
            }
            _ => None,
        };
        Ok((page, next))
    }

    /// Where an event lives: by its index object, or for an id Sluice generated (never
    /// claimed there) by its time: the shard its bucket and slot name, if the bucket exists.
    pub async fn locate(&self, id: &EventId) -> ReadResult<Option<ShardRef>> {
        let indexed: Option<ShardRef> = self
            .client
            .index(
                self.tenant,
                id,
                IndexRequest::Locate(Locate {
                    event_id: id.clone(),
                }),
            )
            .await?;
        let Some(made) = indexed
            .is_none()
            .then(|| generated_event_time(id.as_str()))
            .flatten()
        else {
            return Ok(indexed);
        };
        let layout = self.settings.layout;
        let bucket = layout.bucket_of(made);
        let buckets = self.buckets().await?;
        Ok(buckets
            .iter()
            .find(|(b, _)| *b == bucket)
            .map(|&(_, n)| layout.shard_of(id.as_str(), made, n)))
    }

    pub async fn event(&self, id: &EventId) -> ReadResult<Option<(ShardRef, EventDetail)>> {
        let Some(shard) = self.locate(id).await? else {
            return Ok(None);
        };
        let detail: Option<EventDetail> = self
            .client
            .shard(self.tenant, shard, LogRequest::Event(Id { id: id.clone() }))
            .await?;
        Ok(detail.map(|d| (shard, d)))
    }

    /// A page of a destination's deliveries, newest first, after the delivery `cursor`.
    pub async fn destination_deliveries(
        &self,
        destination: &DestinationId,
        status: Option<&str>,
        cursor: Option<&DeliveryId>,
        limit: usize,
    ) -> ReadResult<(Vec<DeliveryRow>, Option<String>)> {
        // A delivery id is made at its event's publish, so its time is its bucket's.
        let after = cursor.and_then(|c| {
            Some(Position {
                at: ulid_time(c.as_str())?,
                id: c.to_string(),
            })
        });
        let known = self.buckets().await?;
        let Plan { buckets, more } = plan(
            &self.settings.layout,
            &known,
            None,
            None,
            after.as_ref(),
            true,
            MAX_SHARDS_PER_CALL,
        );
        let mut page: Vec<DeliveryRow> = vec![];
        for (i, &(bucket, n)) in buckets.iter().enumerate() {
            let targets: Vec<ShardRef> = shards(bucket, n).collect();
            let parts: Vec<Vec<DeliveryRow>> = self
                .each(&targets, || {
                    LogRequest::DestinationDeliveries(DestinationDeliveries {
                        destination_id: destination.clone(),
                        status: status.map(str::to_string),
                        before: cursor.cloned(),
                        limit,
                    })
                })
                .await?;
            let (rows, overflow) = merge(
                parts,
                |d| (d.created_at, d.id.to_string()),
                true,
                limit - page.len(),
            );
            page.extend(rows);
            if overflow || page.len() == limit {
                let more_after = overflow || more || i + 1 < buckets.len();
                return Ok((
                    page.clone(),
                    more_after
                        .then(|| page.last().map(|d| d.id.to_string()))
                        .flatten(),
                ));
            }
        }
        let next = match (more, buckets.last()) {
            // Past the bucket: a delivery id older than any in it (its time, then "").
            (true, Some(&(b, _))) => Some(
                DeliveryId::generate(
                    self.settings.layout.bucket_start(b).max(1) as u64 - 1,
                    u128::MAX,
                )
                .to_string(),
            ),
            _ => None,
        };
        Ok((page, next))
    }

    /// A delivery with its attempts, and the shard that holds it.
    pub async fn delivery(
        &self,
        id: &DeliveryId,
    ) -> ReadResult<Option<(ShardRef, DeliveryRow, Vec<AttemptRow>)>> {
        let Some(at) = ulid_time(id.as_str()) else {
            return Ok(None);
        };
        let bucket = self.settings.layout.bucket_of(at);
        let Some(&(_, n)) = self.buckets().await?.iter().find(|(b, _)| *b == bucket) else {
            return Ok(None);
        };
        let targets: Vec<ShardRef> = shards(bucket, n).collect();
        let found: Vec<Option<(DeliveryRow, Vec<AttemptRow>)>> = self
            .each(&targets, || LogRequest::Delivery(Id { id: id.clone() }))
            .await?;
        Ok(targets
            .into_iter()
            .zip(found)
            .find_map(|(s, f)| f.map(|(d, a)| (s, d, a))))
    }

    pub async fn retry(
        &self,
        shard: ShardRef,
        scope: RetryScope,
        cap: u32,
        requested_by: &str,
        snapshots: Vec<Snapshot>,
    ) -> ReadResult<Retried> {
        Ok(self
            .client
            .shard(
                self.tenant,
                shard,
                LogRequest::Retry(Retry {
                    scope,
                    cap,
                    requested_by: requested_by.to_string(),
                    snapshots,
                }),
            )
            .await?)
    }

    /// A destination's failed deliveries created in `[since, until)`, oldest first, up to
    /// `limit`, shard by shard within the call's budget; `more` when some may remain.
    pub async fn retry_range(
        &self,
        destination: &DestinationId,
        (since, until): (Millis, Millis),
        limit: usize,
        cap: u32,
        requested_by: &str,
        snapshot: Snapshot,
    ) -> ReadResult<Retried> {
        let known = self.buckets().await?;
        let Plan { buckets, more } = plan(
            &self.settings.layout,
            &known,
            Some(since),
            Some(until),
            None,
            false,
            MAX_SHARDS_PER_CALL,
        );
        let mut done = Retried::default();
        for (bucket, n) in buckets {
            for shard in shards(bucket, n) {
                let left = limit - done.ids.len();
                if left == 0 {
                    done.more = true;
                    return Ok(done);
                }
                let r = self
                    .retry(
                        shard,
                        RetryScope::Destination(DestinationScope {
                            id: destination.clone(),
                            since,
                            until,
                            limit: left,
                        }),
                        cap,
                        requested_by,
                        vec![snapshot.clone()],
                    )
                    .await?;
                done.ids.extend(r.ids);
                done.more |= r.more;
            }
        }
        done.more |= more;
        Ok(done)
    }

    /// Drops every shard and index object of the tenant, then its directory.
    pub async fn purge(&self) -> ReadResult<()> {
        let mut targets = vec![];
        for (bucket, n) in self.buckets().await? {
            targets.extend(shards(bucket, n));
        }
        let _: Vec<()> = self.each(&targets, || LogRequest::Purge).await?;
        let slots: Vec<u32> = (0..INDEX_SLOTS).collect();
        for chunk in slots.chunks(MAX_CONNECTIONS) {
            let calls = chunk.iter().map(|s| {
                self.client
                    .index_slot::<()>(self.tenant, *s, IndexRequest::Purge)
            });
            for r in join_all(calls).await {
                r?;
            }
        }
        log_buckets::delete_for_tenant(self.db, self.tenant).await?;
        Ok(())
    }
}
