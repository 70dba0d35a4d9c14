//! The index's Durable Object, a thin shell over `index`: `EventIndex` (one per tenant and
//! index slot) claims and locates event ids and forgets them after the dedup window.

use super::client::DoSql;
use super::index::Index;
use super::object::{answer, envelope};
use super::protocol::{ClaimIds, IndexRequest, Locate};
use crate::core::time::Millis;
use crate::runtime::{export_message, now, set_alarm_at, Answer};
use std::cell::Cell;
use worker::{console_error, durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct EventIndex {
    state: State,
    sql: DoSql,
    /// This instance has seen its pruning alarm set (claims need not ask again).
    alarm_set: Cell<bool>,
}

/// An index prunes at most this often (ids expire by the day; an hour late is nothing).
const PRUNE_EVERY_MS: Millis = 3_600_000;
/// Slices pruned per alarm run.
const PRUNE_SLICES: usize = 10;

impl DurableObject for EventIndex {
    fn new(state: State, _env: Env) -> Self {
        let sql = DoSql(state.storage().sql());
        if let Err(e) = Index::new(&sql).migrate() {
            console_error!("index schema setup failed: {e}");
        }
        EventIndex {
            state,
            sql,
            alarm_set: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        self.handle(&req.text().await?).await?.into_response()
    }

    async fn alarm(&self) -> Result<Response> {
        self.alarm_set.set(false);
        let index = Index::new(&self.sql);
        let t = now();
        for _ in 0..PRUNE_SLICES {
            match index.prune(t) {
                Ok(n) if n as i64 == super::index::PRUNE_SLICE => continue,
                Ok(_) => break,
                Err(e) => {
                    console_error!("index prune failed: {e}");
                    break;
                }
            }
        }
        if let Ok(Some(next)) = index.next_expiry() {
            set_alarm_at(&self.state.storage(), next.max(t + PRUNE_EVERY_MS)).await?;
            self.alarm_set.set(true);
        }
        Response::ok("ok")
    }
}

impl EventIndex {
    /// Answers one message of `protocol` (the text of a `LogEnvelope`), sent by RPC
    /// (`message`) or by `fetch`.
    async fn handle(&self, text: &str) -> Result<Answer> {
        let (_, request): (u32, IndexRequest) = match envelope(text) {
            Ok(r) => r,
            Err(refused) => return Ok(refused),
        };
        let index = Index::new(&self.sql);
        match request {
            IndexRequest::ClaimIds(ClaimIds { claims, keep_ms }) => {
                let storage = self.state.storage();
                let first = claims.iter().map(|c| c.at).min().unwrap_or_else(now);
                if !self.alarm_set.get() && storage.get_alarm().await?.is_none() {
                    set_alarm_at(
                        &storage,
                        first.saturating_add(keep_ms).max(now() + PRUNE_EVERY_MS),
                    )
                    .await?;
                }
                self.alarm_set.set(true);
                answer(index.claim_all(&claims, keep_ms))
            }
            IndexRequest::Locate(Locate { event_id }) => answer(index.locate(&event_id, now())),
            IndexRequest::Purge => {
                self.state.storage().delete_alarm().await?;
                self.alarm_set.set(false);
                self.state.storage().delete_all().await?;
                answer(index.migrate())
            }
        }
    }
}

export_message!(EventIndex);
