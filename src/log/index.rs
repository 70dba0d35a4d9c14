//! One index object's logic, over the `Sql` port: which shard holds each event id of a
//! tenant (the ids whose hash falls on this object), kept for the dedup window. The first
//! claim of an id wins; every later publish of it is told where the first one went.

use super::protocol::{Claim, Located};
use super::sql::{Arg, Sql};
use crate::core::ids::EventId;
use crate::core::log::ShardRef;
use crate::core::time::Millis;
use serde::Deserialize;

const INDEX_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ids (
  id TEXT PRIMARY KEY, bucket INTEGER NOT NULL, slot INTEGER NOT NULL, until INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ids_by_until ON ids (until);
";

/// Ids forgotten per statement, so that one prune stays short.
pub const PRUNE_SLICE: i64 = 5_000;

pub struct Index<'a, S: Sql> {
    sql: &'a S,
}

#[derive(Deserialize)]
struct Row {
    bucket: i64,
    slot: u32,
}

impl<'a, S: Sql> Index<'a, S> {
    pub fn new(sql: &'a S) -> Self {
        Index { sql }
    }

    pub fn migrate(&self) -> Result<(), String> {
        self.sql.exec(INDEX_SCHEMA, &[]).map(|_| ())
    }

    pub fn claim(
        &self,
        id: &EventId,
        shard: ShardRef,
        at: Millis,
        keep_ms: Millis,
    ) -> Result<Located, String> {
        let first = self.sql.exec(
            // An id past its window (not pruned yet) is free again.
            "INSERT INTO ids (id, bucket, slot, until) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE \
             SET bucket = excluded.bucket, slot = excluded.slot, until = excluded.until WHERE ids.until <= ?5",
            &[
                id.as_str().into(),
                shard.bucket.into(),
                shard.slot.into(),
                at.saturating_add(keep_ms).into(),
                at.into(),
            ],
        )? > 0;
        if first {
            // Taken for `shard` just now: nothing to read back.
            return Ok(Located { shard, first });
        }
        let shard = self.locate(id, at)?.unwrap_or(shard);
        Ok(Located { shard, first })
    }

    /// Claims each id in turn (a later claim of an id sees an earlier one of the same call).
    pub fn claim_all(&self, claims: &[Claim], keep_ms: Millis) -> Result<Vec<Located>, String> {
        claims
            .iter()
            .map(|c| self.claim(&c.event_id, c.shard, c.at, keep_ms))
            .collect()
    }

    /// Where an id lives, unless it is past its window.
    pub fn locate(&self, id: &EventId, now: Millis) -> Result<Option<ShardRef>, String> {
        let rows: Vec<Row> = self.sql.query(
            "SELECT bucket, slot FROM ids WHERE id = ?1 AND until > ?2",
            &[id.as_str().into(), now.into()],
        )?;
        Ok(rows.into_iter().next().map(|r| ShardRef {
            bucket: r.bucket,
            slot: r.slot,
        }))
    }

    /// Forgets ids past their window, one slice; the number forgotten (a full slice means
    /// more may remain).
    pub fn prune(&self, now: Millis) -> Result<usize, String> {
        self.sql.exec(
            "DELETE FROM ids WHERE id IN (SELECT id FROM ids WHERE until <= ?1 LIMIT ?2)",
            &[now.into(), Arg::Int(PRUNE_SLICE)],
        )
    }

    /// When the next id expires.
    pub fn next_expiry(&self) -> Result<Option<Millis>, String> {
        #[derive(Deserialize)]
        struct Next {
            t: Option<Millis>,
        }
        Ok(self
            .sql
            .query::<Next>("SELECT MIN(until) AS t FROM ids", &[])?
            .into_iter()
            .next()
            .and_then(|n| n.t))
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::log::sql::testing::Memory;

    const DAY: Millis = 86_400_000;

    #[test]
    fn the_first_claim_wins_and_later_ones_learn_where_it_went() {
        let db = Memory::new();
        let idx = Index::new(&db);
        idx.migrate().unwrap();
        let id = EventId::parse("order-1").unwrap();
        let today = ShardRef {
            bucket: 11,
            slot: 0,
        };
        let tomorrow = ShardRef {
            bucket: 12,
            slot: 3,
        };
        assert_eq!(
            idx.claim(&id, today, 0, DAY).unwrap(),
            Located {
                shard: today,
                first: true
            }
        );
        // Across the bucket boundary, within the window: a duplicate, found in the first shard.
        assert_eq!(
            idx.claim(&id, tomorrow, DAY - 1, DAY).unwrap(),
            Located {
                shard: today,
                first: false
            }
        );
        assert_eq!(idx.locate(&id, 10).unwrap(), Some(today));
        assert_eq!(idx.next_expiry().unwrap(), Some(DAY));
        // Past the window the id is forgotten, and pruned in slices.
        assert_eq!(idx.locate(&id, DAY).unwrap(), None);
        let later = ShardRef {
            bucket: 13,
            slot: 1,
        };
        assert_eq!(
            idx.claim(&id, later, DAY, DAY).unwrap(),
            Located {
                shard: later,
                first: true
            },
            "an expired id is free again before it is pruned"
        );
        assert_eq!(idx.prune(2 * DAY).unwrap(), 1);
        assert_eq!(idx.next_expiry().unwrap(), None);
        assert!(idx.claim(&id, tomorrow, 2 * DAY, DAY).unwrap().first);
    }

    #[test]
    fn claims_of_one_call_see_each_other() {
        let db = Memory::new();
        let idx = Index::new(&db);
        idx.migrate().unwrap();
        let claim = |id: &str, slot: u32| Claim {
            event_id: EventId::parse(id).unwrap(),
            shard: ShardRef { bucket: 11, slot },
            at: 0,
        };
        let located = idx
            .claim_all(&[claim("a", 0), claim("b", 1), claim("a", 2)], DAY)
            .unwrap();
        let seen: Vec<(u32, bool)> = located.iter().map(|l| (l.shard.slot, l.first)).collect();
        assert_eq!(seen, vec![(0, true), (1, true), (0, false)]);
    }
}
