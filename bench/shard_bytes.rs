//! Bytes a log shard and an index object store per event, measured on SQLite (the engine a
//! Durable Object's storage runs) through the shard's own code: events with a 1 KiB payload,
//! their deliveries to 1 or 10 destinations, one attempt each (a 200 with a short answer and
//! the request headers a webhook records), and the index row of each id. `bash
//! bench/shard_bytes.sh` prints the table the capacity arithmetic in docs/data-plane.md uses.

// Native only: it runs SQLite from the rusqlite dev-dependency (the wasm build has none).
#[cfg(target_arch = "wasm32")]
fn main() {}

// The in-memory port of the native tests, which looks for `Arg` and `Sql` beside it.
#[cfg(not(target_arch = "wasm32"))]
use sluice::log::sql::{Arg, Sql};
#[cfg(not(target_arch = "wasm32"))]
#[path = "../src/log/sql/testing.rs"]
mod testing;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main();
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use rusqlite::Connection;
    use sluice::core::engine::{AttemptOutcome, AttemptRecord};
    use sluice::core::ids::{AttemptId, DeliveryId, DestinationId, EventId, TenantId};
    use sluice::core::log::ShardRef;
    use sluice::log::index::Index;
    use sluice::log::rows::{EventRow, NewDelivery};
    use sluice::log::shard::Shard;

    use crate::testing::Memory;

    const EVENTS: u32 = 2_000;
    const NOW: i64 = 1_764_000_000_000;

    fn bytes(c: &Connection) -> i64 {
        let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        let size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        let free: i64 = c
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .unwrap();
        (pages - free) * size
    }

    pub fn main() {
        let payload = format!(r#"{{"order":"ord_1001","note":"{}"}}"#, "x".repeat(1_000));
        println!("| destinations per event | shard bytes per event | index bytes per event | per event, total | shard statements per event (store, hand-off taken, records) |");
        println!("|---|---|---|---|---|");
        for fanout in [1u128, 10] {
            let db = Memory::new();
            let shard = Shard::new(&db);
            shard.migrate().unwrap();
            let idx_db = Memory::new();
            let index = Index::new(&idx_db);
            index.migrate().unwrap();
            let empty = (bytes(&db.0), bytes(&idx_db.0));
            let statements = db.statements();
            let tenant = TenantId::parse("acme").unwrap();
            let at = ShardRef {
                bucket: 20_416,
                slot: 0,
            };
            for i in 0..EVENTS {
                let id = EventId::parse(&format!("order-{i:08}-created")).unwrap();
                let t = NOW + i64::from(i);
                let deliveries: Vec<NewDelivery> = (0..fanout)
                    .map(|d| NewDelivery {
                        id: DeliveryId::generate(t as u64, u128::from(i) * 100 + d),
                        destination_id: DestinationId::generate(1, d + 1),
                        status: sluice::core::delivery::DeliveryStatus::Pending,
                    })
                    .collect();
                let event = EventRow {
                    id: id.clone(),
                    topic: "order.created".into(),
                    data: payload.clone(),
                    metadata: r#"{"region":"eu"}"#.into(),
                    created_at: t,
                };
                shard.store(&event, &deliveries, &[], t).unwrap();
                index.claim(&id, at, t, 30 * 86_400_000).unwrap();
                let ids: Vec<_> = deliveries.iter().map(|d| d.id.clone()).collect();
                shard.handed_off(&ids).unwrap();
                let records: Vec<AttemptRecord> = deliveries
                    .iter()
                    .map(|d| AttemptRecord {
                        id: AttemptId::generate(t as u64 + 40, u128::from(i)),
                        delivery_id: d.id.clone(),
                        tenant_id: tenant.clone(),
                        event_id: id.clone(),
                        attempt: 1,
                        started_at: t + 5,
                        duration_ms: 35,
                        status_code: Some(200),
                        outcome: AttemptOutcome::Delivered,
                        error: None,
                        response_body: Some(r#"{"ok":true}"#.into()),
                        next_attempt_at: None,
                        requested_by: None,
                        request_headers: Some(
                            [
                                ("content-type", "application/json"),
                                ("user-agent", "Sluice/0.1.0 (webhook delivery)"),
                                ("webhook-id", "order-00000001-created"),
                                ("webhook-signature", "********"),
                                ("webhook-timestamp", "1796541730"),
                                ("x-sluice-attempt", "1"),
                                ("x-sluice-delivery-id", "dlv_01m953pkx9j1mcb95xssjnrtpe"),
                                ("x-sluice-event-id", "order-00000001-created"),
                                ("x-sluice-topic", "order.created"),
                            ]
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .to_vec(),
                        ),
                        permanent: false,
                        shard: at,
                    })
                    .collect();
                shard.record(&records).unwrap();
            }
            let per = |now: i64, then: i64| (now - then) as f64 / f64::from(EVENTS);
            let (s, x) = (per(bytes(&db.0), empty.0), per(bytes(&idx_db.0), empty.1));
            let sql = (db.statements() - statements) as f64 / f64::from(EVENTS);
            println!("| {fanout} | {s:.0} | {x:.0} | {:.0} | {sql:.1} |", s + x);
        }
    }
}
