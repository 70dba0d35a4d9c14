//! Micro-benchmark of payload transforms: the Slack template's transform and a typical
//! field-picking transform applied to a ~2 KiB event, reported in ns per delivery, with
//! parsing the same payload (serde_json, which applying needs first) as the baseline in the
//! same run. `bash bench/transform.sh` runs it (release build) and prints the table.

#[path = "timing.rs"]
mod timing;
use timing::{best, time_per_iter};

use serde_json::{json, Value};
use sluice::core::transform::{Subject, Transform};
use std::collections::BTreeMap;
use std::hint::black_box;

/// An order event's data of about 2 KiB.
fn payload() -> String {
    let items: Vec<Value> = (0..28)
        .map(|i| json!({"sku": format!("SKU-{i:04}"), "qty": i % 3 + 1, "price": 1999 + i * 100, "tags": ["gift", "eu"]}))
        .collect();
    json!({"order": {"id": "ord_1001", "amount": 12_500, "currency": "EUR", "items": items,
           "customer": {"id": "cus_42", "email": "jane@example.com", "country": "DE"}}})
    .to_string()
}

fn main() {
    let raw = payload();
    let catalogue: Value = serde_json::from_str(sluice::core::template::CATALOGUE).unwrap();
    let slack_source = catalogue["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "slack")
        .unwrap()["transform"]
        .clone();
    let slack = Transform::compile(&slack_source).unwrap();
    let pick = Transform::compile(&json!({
        "text": "Order {{ data.order.id }} paid: {{ data.order.amount }} {{ data.order.currency }}",
        "customer": "{{ data.order.customer.id }}", "first_sku": "{{ data.order.items[0].sku }}",
        "event": "{{ event_id }}", "topic": "{{ topic }}"
    }))
    .unwrap();
    let metadata: BTreeMap<String, String> = [("region".into(), "eu".into())].into();
    let apply = |t: &Transform, raw: &str| {
        let data: Value = serde_json::from_str(raw).unwrap();
        t.apply(&Subject {
            data: &data,
            metadata: &metadata,
            topic: "order.paid",
            event_id: "evt_01jf3z5a1b2c3d4e5f6g7h8j9k",
            tenant_id: "acme",
            delivery_id: "dlv_01jf3z5a1b2c3d4e5f6g7h8j9k",
            attempt: 1,
            timestamp: "2026-11-23T12:00:00.000Z",
        })
        .unwrap()
    };
    let slack_out = apply(&slack, &raw);
    assert!(
        slack_out.contains("ord_1001"),
        "the transform renders the event"
    );

    let iters = 20_000;
    // Warm up, then measure each seven times and keep the best (least disturbed) run.
    time_per_iter(iters / 10, || {
        black_box(apply(&slack, black_box(&raw)));
    });
    let parse = best(7, || {
        time_per_iter(iters, || {
            black_box(serde_json::from_str::<Value>(black_box(&raw)).unwrap());
        })
    });
    let slack_ns = best(7, || {
        time_per_iter(iters, || {
            black_box(apply(&slack, black_box(&raw)));
        })
    });
    let pick_ns = best(7, || {
        time_per_iter(iters, || {
            black_box(apply(&pick, black_box(&raw)));
        })
    });
    let data: Value = serde_json::from_str(&raw).unwrap();
    let apply_only = |t: &Transform| {
        t.apply(&Subject {
            data: &data,
            metadata: &metadata,
            topic: "order.paid",
            event_id: "evt_01jf3z5a1b2c3d4e5f6g7h8j9k",
            tenant_id: "acme",
            delivery_id: "dlv_01jf3z5a1b2c3d4e5f6g7h8j9k",
            attempt: 1,
            timestamp: "2026-11-23T12:00:00.000Z",
        })
        .unwrap()
    };
    let slack_only = best(7, || {
        time_per_iter(iters, || {
            black_box(apply_only(black_box(&slack)));
        })
    });
    let pick_only = best(7, || {
        time_per_iter(iters, || {
            black_box(apply_only(black_box(&pick)));
        })
    });
    let serialize = best(7, || {
        time_per_iter(iters, || {
            black_box(serde_json::to_string(black_box(&data)).unwrap());
        })
    });
    let compile = best(7, || {
        time_per_iter(iters, || {
            black_box(Transform::compile(black_box(&slack_source)).unwrap());
        })
    });
    println!("| measure | ns per delivery |");
    println!("|---|---|");
    println!(
        "| parse the {} B payload (serde_json, baseline) | {parse:.0} |",
        raw.len()
    );
    println!(
        "| parse + apply the Slack template ({} B out) | {slack_ns:.0} |",
        slack_out.len()
    );
    println!("| parse + apply a 5-placeholder field-picking transform | {pick_ns:.0} |");
    println!(
        "| ratio: Slack parse+apply / parse | {:.2} |",
        slack_ns / parse
    );
    println!(
        "| ratio: field-picking parse+apply / parse | {:.2} |",
        pick_ns / parse
    );
    println!("| apply alone (data already parsed): Slack template | {slack_only:.0} |");
    println!("| apply alone (data already parsed): field-picking | {pick_only:.0} |");
    println!("| serialise the parsed data back (serde_json::to_string) | {serialize:.0} |");
    println!("| compile the Slack transform (once per save / scheduler load) | {compile:.0} |");
}
