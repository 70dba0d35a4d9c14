//! A log shard's claims of publisher-given event ids before it stores them: which index
//! object each id is claimed at (one call per object), and, from the answers, which events
//! the shard stores itself and which go to the shard where their id already lives (a repeat
//! across buckets). The shard makes the claims rather than the Worker, so that a publish is
//! one call from the Worker (bench/README.md, "Claims made by the shard").

use super::protocol::{Claim, Located, NewEvent};
use crate::core::log::{index_slot_of, Layout, ShardRef};
use std::collections::BTreeMap;

/// The positions of the events to claim, per index slot.
pub fn by_slot(events: &[NewEvent]) -> BTreeMap<u32, Vec<usize>> {
    let mut slots: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate().filter(|(_, e)| e.claim) {
        slots
            .entry(index_slot_of(e.event.id.as_str()))
            .or_default()
            .push(i);
    }
    slots
}

/// The claims of `members` for this shard.
pub fn claims(events: &[NewEvent], members: &[usize], here: ShardRef) -> Vec<Claim> {
    members
        .iter()
        .map(|&i| Claim {
            event_id: events[i].event.id.clone(),
            shard: here,
            at: events[i].event.created_at,
        })
        .collect()
}

/// The events of a store, sorted by where they go, each with its place in the call.
#[derive(Debug, Default)]
pub struct Placed {
    pub here: Vec<(usize, NewEvent)>,
    /// Ids that live in another shard, per shard.
    pub elsewhere: BTreeMap<ShardRef, Vec<(usize, NewEvent)>>,
    /// Events whose claim failed: not stored.
    pub failed: Vec<(usize, String)>,
}

/// Sorts `events` by the answers of their claims (`located[i]`: `None` for an event not
/// claimed). A repeated id goes to the first publish's shard, where it is found (or, if that
/// publish never got to store it, stored then, dated inside that shard's bucket).
pub fn place(
    events: Vec<NewEvent>,
    here: ShardRef,
    located: Vec<Option<Result<Located, String>>>,
    layout: &Layout,
) -> Placed {
    let mut placed = Placed::default();
    for (i, (mut e, l)) in events.into_iter().zip(located).enumerate() {
        match l {
            None => placed.here.push((i, e)),
            Some(Err(why)) => placed.failed.push((i, why)),
            Some(Ok(l)) if l.shard == here => placed.here.push((i, e)),
            Some(Ok(l)) => {
                if l.shard.bucket != here.bucket {
                    let end = layout.bucket_end(l.shard.bucket);
                    e.event.created_at = e.event.created_at.min(end - 1);
                }
                // Claimed already: the shard it goes to must not claim it again.
                e.claim = false;
                placed.elsewhere.entry(l.shard).or_default().push((i, e));
            }
        }
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::EventId;
    use crate::log::rows::EventRow;

    const HERE: ShardRef = ShardRef {
        bucket: 10,
        slot: 1,
    };

    fn event(id: &str, at: i64, claim: bool) -> NewEvent {
        NewEvent {
            event: EventRow {
                id: EventId::parse(id).unwrap(),
                topic: "t".into(),
                data: "{}".into(),
                metadata: "{}".into(),
                created_at: at,
            },
            deliveries: vec![],
            claim,
        }
    }

    #[test]
    fn only_publisher_ids_are_claimed_grouped_by_index_slot() {
        let events = vec![
            event("a", 5, true),
            event("gen", 5, false),
            event("b", 5, true),
            event("a", 6, true),
        ];
        let slots = by_slot(&events);
        // Each claimed event once, in its id's slot; the generated one nowhere.
        let mut all: Vec<usize> = slots.values().flatten().copied().collect();
        all.sort();
        assert_eq!(all, vec![0, 2, 3]);
        let a = &slots[&index_slot_of("a")];
        assert!(a.contains(&0) && a.contains(&3));
        assert!(slots[&index_slot_of("b")].contains(&2));
        let c = claims(&events, a, HERE);
        assert!(c.iter().all(|c| c.shard == HERE));
        let times: Vec<_> = c
            .iter()
            .filter(|c| c.event_id.as_str() == "a")
            .map(|c| c.at)
            .collect();
        assert_eq!(times, vec![5, 6]);
    }

    #[test]
    fn repeats_go_where_their_id_lives_dated_inside_its_bucket() {
        let layout = Layout { bucket_ms: 100 };
        let older = ShardRef { bucket: 8, slot: 0 };
        let sibling = ShardRef {
            bucket: 10,
            slot: 3,
        };
        let events = vec![
            event("gen", 1_050, false),
            event("new", 1_050, true),
            event("old", 1_050, true),
            event("next-door", 1_050, true),
            event("lost", 1_050, true),
        ];
        let located = vec![
            None,
            Some(Ok(Located {
                shard: HERE,
                first: true,
            })),
            Some(Ok(Located {
                shard: older,
                first: false,
            })),
            Some(Ok(Located {
                shard: sibling,
                first: false,
            })),
            Some(Err("index unreachable".to_string())),
        ];
        let placed = place(events, HERE, located, &layout);
        let here: Vec<_> = placed
            .here
            .iter()
            .map(|(i, e)| (*i, e.event.id.as_str()))
            .collect();
        assert_eq!(here, vec![(0, "gen"), (1, "new")]);
        let (i, e) = &placed.elsewhere[&older][0];
        assert_eq!((*i, e.event.id.as_str(), e.claim), (2, "old", false));
        // Bucket 8 ends at 900: the event is dated at its last millisecond.
        assert_eq!(e.event.created_at, 899);
        let (i, e) = &placed.elsewhere[&sibling][0];
        // Same bucket, another slot: the date stays.
        assert_eq!((*i, e.event.created_at, e.claim), (3, 1_050, false));
        assert_eq!(placed.failed, vec![(4, "index unreachable".to_string())]);
    }
}
