//! Micro-benchmark of reading a publish body: the event's `data` parsed into a tree and
//! written out again (how Sluice read it before, which also reordered keys and respelled
//! numbers) against kept as the publisher's text (`RawValue`, how it reads it now), for a
//! ~1 KiB and a ~16 KiB event. `bash bench/publish_body.sh` runs it (release) and prints
//! the table; the old way is the baseline of the same run.

#[path = "timing.rs"]
mod timing;
use timing::{best, time_per_iter};

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use sluice::core::validate::from_slice;
use std::hint::black_box;

#[derive(Deserialize)]
#[allow(dead_code)]
struct AsTree {
    tenant_id: String,
    topic: String,
    data: Value,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct AsText {
    tenant_id: String,
    topic: String,
    data: Box<RawValue>,
}

/// A publish body whose data is an order with `items` lines.
fn body(items: usize) -> String {
    let lines: Vec<Value> = (0..items)
        .map(|i| json!({"sku": format!("SKU-{i:04}"), "qty": i % 3 + 1, "price": 19.99 + i as f64, "tags": ["gift", "eu"]}))
        .collect();
    json!({"tenant_id": "acme", "topic": "order.paid",
           "data": {"order": {"id": "ord_1001", "currency": "EUR", "items": lines}}})
    .to_string()
}

fn main() {
    println!("| publish body | parse + serialise `data` (before), ns | keep `data` as text (now), ns | ratio now / before |");
    println!("|---|---|---|---|");
    for items in [12, 200] {
        let raw = body(items);
        let iters = if items > 100 { 5_000 } else { 50_000 };
        let before = best(3, || {
            time_per_iter(iters, || {
                let b: AsTree = from_slice(black_box(raw.as_bytes()), "").unwrap();
                black_box(b.data.to_string());
            })
        });
        let now = best(3, || {
            time_per_iter(iters, || {
                let b: AsText = from_slice(black_box(raw.as_bytes()), "").unwrap();
                black_box(String::from(Box::<str>::from(b.data)));
            })
        });
        println!(
            "| {} B | {before:.0} | {now:.0} | {:.2} |",
            raw.len(),
            now / before
        );
    }
}
