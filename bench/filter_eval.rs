//! Micro-benchmark of payload filter evaluation: a 5-clause filter against a ~2 KiB event,
//! reported in ns per event, with parsing the same payload (serde_json) as the baseline in
//! the same run. `bash bench/filter.sh` runs it (release build) and prints the table.

#[path = "timing.rs"]
mod timing;
use timing::{best, time_per_iter};

use serde_json::{json, Value};
use sluice::core::filter::Filter;
use std::hint::black_box;

/// An order event of about 2 KiB.
fn payload() -> String {
    let items: Vec<Value> = (0..28)
        .map(|i| json!({"sku": format!("SKU-{i:04}"), "qty": i % 3 + 1, "price": 1999 + i * 100, "tags": ["gift", "eu"]}))
        .collect();
    json!({
        "data": {"order": {"id": "ord_1001", "amount": 12_500, "currency": "EUR", "items": items,
                 "customer": {"id": "cus_42", "email": "jane@example.com", "country": "DE"}}},
        "metadata": {"region": "eu", "source": "checkout"},
        "topic": "order.paid"
    })
    .to_string()
}

fn main() {
    let raw = payload();
    let event: Value = serde_json::from_str(&raw).unwrap();
    let filter = Filter::parse(&json!({
        "data": {"order": {
            "amount": {"$gte": 10_000},
            "currency": {"$in": ["EUR", "USD"]},
            "customer": {"email": {"$regex": "@example\\.com$"}},
            "items": {"sku": {"$startsWith": "SKU-00"}}
        }},
        "metadata": {"region": "eu"}
    }))
    .unwrap();
    assert!(
        filter.matches(&event),
        "the benchmark filter matches its event"
    );

    let iters = 200_000;
    // Warm up, then measure each three times and keep the best (least disturbed) run.
    time_per_iter(iters / 10, || {
        black_box(filter.matches(black_box(&event)));
    });
    let eval = best(3, || {
        time_per_iter(iters, || {
            black_box(filter.matches(black_box(&event)));
        })
    });
    let parse = best(3, || {
        time_per_iter(iters / 10, || {
            black_box(serde_json::from_str::<Value>(black_box(&raw)).unwrap());
        })
    });
    println!("| measure | ns per event |");
    println!("|---|---|");
    println!(
        "| parse the {} B payload (serde_json, baseline) | {parse:.0} |",
        raw.len()
    );
    println!("| evaluate a 5-clause filter (incl. a regex and an array) | {eval:.0} |");
    println!("| ratio: filter / parse | {:.3} |", eval / parse);
}
