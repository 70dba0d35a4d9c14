//! The layout's decisions: buckets, slots, names, expiry, page planning and merging.

use super::*;

const DAY: Millis = 86_400_000;

#[test]
fn buckets_follow_time_and_the_setting() {
    let l = Layout::default();
    assert_eq!(l.bucket_of(0), 0);
    assert_eq!(l.bucket_of(DAY - 1), 0);
    assert_eq!(l.bucket_of(DAY), 1);
    assert_eq!(l.bucket_start(3), 3 * DAY);
    assert_eq!(l.bucket_end(3), 4 * DAY);
    assert_eq!(Layout::from_seconds(2).bucket_ms, 2_000);
}

#[test]
fn slots_are_stable_spread_and_bounded() {
    // FNV-1a's published test vectors: the slot of an id never changes between builds.
    assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
    let mut per_slot = [0u32; 8];
    for i in 0..8_000 {
        let s = slot_of(&format!("evt-{i}"), 8);
        per_slot[s as usize] += 1;
    }
    assert!(
        per_slot.iter().all(|n| (800..1_200).contains(n)),
        "{per_slot:?}"
    );
    assert_eq!(slot_of("anything", 1), 0);
    assert_eq!(slot_of("anything", 0), 0, "a shard count of 0 is 1");
    assert!(slot_of("anything", 10_000) < MAX_LOG_SHARDS);
    assert!((0..1_000).all(|i| index_slot_of(&format!("e{i}")) < INDEX_SLOTS));
}

#[test]
fn names_are_per_tenant_bucket_and_slot() {
    let s = ShardRef {
        bucket: 20_428,
        slot: 3,
    };
    assert_eq!(shard_name("acme", s), "log/acme/20428/3");
    assert_eq!(index_name("acme", 63), "idx/acme/63");
    // Tenant ids cannot hold '/', so names of different tenants never collide.
    assert_ne!(
        shard_name("a", s),
        shard_name("a/20428", ShardRef { bucket: 3, slot: 3 })
    );
}

#[test]
fn a_shard_is_dropped_only_past_its_expiry_and_with_nothing_pending() {
    let l = Layout::default();
    let exp = l.expires_at(10, 30 * DAY);
    assert_eq!(exp, 41 * DAY);
    assert_eq!(expiry(exp - 1, exp, 0, DAY), Expiry::Wait(exp));
    assert_eq!(expiry(exp, exp, 0, DAY), Expiry::Drop);
    assert_eq!(
        expiry(exp + 5, exp, 2, DAY),
        Expiry::Postpone(exp + 5 + DAY)
    );
    assert_eq!(dedup_window_ms(0), MIN_DEDUP_WINDOW_MS);
    assert_eq!(dedup_window_ms(30 * DAY), 30 * DAY);
}

#[test]
fn cursors_round_trip_and_skip_whole_buckets() {
    let p = Position {
        at: 1_700,
        id: "evt:1".into(),
    };
    assert_eq!(Position::decode(&p.encode()), Some(p));
    assert_eq!(Position::decode("x:1"), None);
    assert_eq!(Position::decode("nope"), None);
    let l = Layout { bucket_ms: 100 };
    assert_eq!(
        Position::past_bucket(&l, 5, true),
        Position {
            at: 500,
            id: String::new()
        }
    );
    assert_eq!(
        Position::past_bucket(&l, 5, false),
        Position {
            at: 600,
            id: String::new()
        }
    );
}

fn known() -> Vec<(i64, u32)> {
    vec![(1, 1), (2, 4), (3, 1), (5, 2), (6, 8), (7, 1)]
}

#[test]
fn a_page_plans_whole_buckets_within_the_shard_budget() {
    let l = Layout { bucket_ms: 100 };
    let p = plan(&l, &known(), None, None, None, true, 8);
    assert_eq!(
        p.buckets,
        vec![(7, 1)],
        "bucket 6 (8 shards) would pass the budget"
    );
    assert!(p.more);
    // At least one bucket, whatever its size.
    let after = Position::past_bucket(&l, 7, true);
    let p = plan(&l, &known(), None, None, Some(&after), true, 8);
    assert_eq!(p.buckets, vec![(6, 8)]);
    let after = Position::past_bucket(&l, 6, true);
    let p = plan(&l, &known(), None, None, Some(&after), true, 8);
    assert_eq!(p.buckets, vec![(5, 2), (3, 1), (2, 4), (1, 1)]);
    assert!(!p.more);
    // Oldest first, from the start and from a row in the middle of bucket 2.
    let p = plan(&l, &known(), None, None, None, false, 6);
    assert_eq!(p.buckets, vec![(1, 1), (2, 4), (3, 1)]);
    let mid = Position {
        at: 250,
        id: "e".into(),
    };
    let p = plan(&l, &known(), None, None, Some(&mid), false, 3);
    assert_eq!(p.buckets, vec![(2, 4)]);
    // Newest first from a row in bucket 5: bucket 5 still has older rows.
    let mid = Position {
        at: 550,
        id: "e".into(),
    };
    assert_eq!(
        plan(&l, &known(), None, None, Some(&mid), true, 3).buckets,
        vec![(5, 2), (3, 1)]
    );
}

#[test]
fn a_time_range_reads_only_the_buckets_it_overlaps() {
    let l = Layout { bucket_ms: 100 };
    let p = plan(&l, &known(), Some(250), Some(600), None, true, 64);
    assert_eq!(p.buckets, vec![(5, 2), (3, 1), (2, 4)]);
    assert!(!p.more);
    let p = plan(&l, &known(), Some(700), None, None, false, 64);
    assert_eq!(p.buckets, vec![(7, 1)]);
    assert!(plan(&l, &[], None, None, None, true, 8).buckets.is_empty());
}

#[test]
fn pages_from_several_shards_merge_in_order() {
    let a = vec![(5, "a"), (3, "a")];
    let b = vec![(5, "b"), (4, "b"), (1, "b")];
    let key = |r: &(i64, &str)| (r.0, r.1.to_string());
    let (page, more) = merge(vec![a.clone(), b.clone()], key, true, 3);
    assert_eq!(page, vec![(5, "b"), (5, "a"), (4, "b")]);
    assert!(more);
    let (page, more) = merge(vec![a, b], key, false, 10);
    assert_eq!(page, vec![(1, "b"), (3, "a"), (4, "b"), (5, "a"), (5, "b")]);
    assert!(!more);
}

#[test]
fn generated_ids_tell_their_time() {
    let id = crate::core::ids::DeliveryId::generate(1_764_000_000_123, 42);
    assert_eq!(ulid_time(id.as_str()), Some(1_764_000_000_123));
    assert_eq!(ulid_time("dlv_notaulid"), None);
}

#[test]
fn an_id_of_sluices_form_lives_in_the_bucket_of_its_time() {
    let made = 1_764_000_000_123;
    let id = crate::core::ids::EventId::generate(made as u64, 42);
    assert_eq!(generated_event_time(id.as_str()), Some(made));
    // Published at once, or sent back within the window: the bucket of its time.
    assert_eq!(home_time(id.as_str(), made, DAY), made);
    assert_eq!(home_time(id.as_str(), made + DAY - 1, DAY), made);
    // Past the window, from the future, or not of that form: the publish time's bucket.
    assert_eq!(home_time(id.as_str(), made + DAY, DAY), made + DAY);
    assert_eq!(home_time(id.as_str(), made - 1, DAY), made - 1);
    for other in [
        "order-1",
        "evt_short",
        "dlv_01KBB8Q4QVM2A4W5T4X2Y3Z0AB",
        "evt_not-a-ulid-but-26-chars",
    ] {
        assert_eq!(generated_event_time(other), None, "{other}");
        assert_eq!(home_time(other, made, DAY), made, "{other}");
    }
}
