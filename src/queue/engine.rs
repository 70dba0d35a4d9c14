//! The engine's `QueueStore` on the queue: the due rows read, and a round's writes (reschedules,
//! removals, attempt records) held until the engine commits them, then written as one
//! statement.

use super::*;
use crate::core::breaker::Breaker;
use crate::core::engine::QueueStore;
use crate::core::json;
use crate::core::rate_limit::Bucket;

/// Queue changes and attempt records held until the engine commits them, then written as one
/// statement for the whole round (`json_each` over the rows) rather than a few per delivery.
#[derive(Default)]
pub(super) struct Held {
    /// By delivery, in the order first touched.
    rows: Vec<HeldRow>,
}

struct HeldRow {
    delivery_id: String,
    change: Change,
    /// Attempt records, as JSON text, in order.
    records: Vec<String>,
}

/// What happens to a delivery's row.
#[derive(Clone, Copy)]
enum Change {
    /// Only records are added.
    Keep,
    /// Due again at this time, with this many attempts made.
    Queue { attempts: u32, due_at: Millis },
    /// Done at this time: off the queue, remembered.
    Done { at: Millis },
}

impl Held {
    fn row(&mut self, id: &DeliveryId) -> &mut HeldRow {
        let at = match self.rows.iter().position(|r| r.delivery_id == id.as_str()) {
            Some(at) => at,
            None => {
                self.rows.push(HeldRow {
                    delivery_id: id.as_str().to_string(),
                    change: Change::Keep,
                    records: vec![],
                });
                self.rows.len() - 1
            }
        };
        &mut self.rows[at]
    }
}

#[derive(Deserialize)]
struct QueueRow {
    due_at: Millis,
    attempts: u32,
    body: String,
}

#[derive(Deserialize)]
struct MinDue {
    t: Option<Millis>,
}

impl<S: Sql> SqlQueue<S> {
    /// Writes the held changes: one statement for every row the round touched.
    pub(super) fn write_held(&self) {
        if self.held.borrow().rows.is_empty() {
            return;
        }
        let held = self.held.take();
        // [id, kind, attempts, due_at, done_at, records]: kind 'k' keeps the row's state,
        // 'q' queues it again, 'd' marks it done (the payload is no longer needed).
        let rows: Vec<serde_json::Value> = held
            .rows
            .into_iter()
            .map(|r| {
                let records = (!r.records.is_empty()).then(|| r.records.join(","));
                match r.change {
                    Change::Keep => {
                        serde_json::json!([r.delivery_id, "k", null, null, null, records])
                    }
                    Change::Queue { attempts, due_at } => {
                        serde_json::json!([r.delivery_id, "q", attempts, due_at, null, records])
                    }
                    Change::Done { at } => {
                        serde_json::json!([r.delivery_id, "d", null, null, at, records])
                    }
                }
            })
            .collect();
        self.exec(
            "UPDATE deliveries SET \
             attempts = CASE json_extract(j.value, '$[1]') WHEN 'q' THEN json_extract(j.value, '$[2]') ELSE attempts END, \
             due_at = CASE json_extract(j.value, '$[1]') WHEN 'q' THEN json_extract(j.value, '$[3]') \
               WHEN 'd' THEN NULL ELSE due_at END, \
             done_at = CASE json_extract(j.value, '$[1]') WHEN 'd' THEN json_extract(j.value, '$[4]') ELSE done_at END, \
             body = CASE json_extract(j.value, '$[1]') WHEN 'd' THEN '' ELSE body END, \
             records = CASE WHEN json_extract(j.value, '$[5]') IS NULL THEN records \
               WHEN records IS NULL THEN json_extract(j.value, '$[5]') \
               ELSE records || ',' || json_extract(j.value, '$[5]') END \
             FROM json_each(?) AS j WHERE deliveries.delivery_id = json_extract(j.value, '$[0]')",
            &[serde_json::Value::Array(rows).to_string().into()],
        );
    }
}

const BREAKER_KEY: &str = "breaker";
const STREAK_KEY: &str = "failure_streak";
const BUCKET_KEY: &str = "rate_bucket";

impl<S: Sql> QueueStore for SqlQueue<S> {
    fn due(&self, now: Millis, limit: usize) -> Vec<QueuedDelivery> {
        let rows: Vec<QueueRow> = self.query(
            "SELECT due_at, attempts, body FROM deliveries WHERE due_at <= ? \
             ORDER BY due_at, delivery_id LIMIT ?",
            &[now.into(), (limit as i64).into()],
        );
        rows.into_iter()
            .filter_map(|r| {
                let mut d: QueuedDelivery = json::from_str(&r.body).ok()?;
                d.due_at = r.due_at;
                d.attempts = r.attempts;
                Some(d)
            })
            .collect()
    }

    fn reschedule(&self, id: &DeliveryId, attempts: u32, due_at: Millis) {
        self.held.borrow_mut().row(id).change = Change::Queue { attempts, due_at };
    }

    fn remove(&self, id: &DeliveryId, at: Millis) {
        self.held.borrow_mut().row(id).change = Change::Done { at };
    }

    fn record(&self, attempt: &AttemptRecord) {
        let json = serde_json::to_string(attempt).unwrap_or_default();
        self.held
            .borrow_mut()
            .row(&attempt.delivery_id)
            .records
            .push(json);
    }

    fn commit(&self) {
        self.write_held();
    }

    fn next_due(&self) -> Option<Millis> {
        let rows: Vec<MinDue> = self.query(
            "SELECT MIN(due_at) AS t FROM deliveries WHERE due_at IS NOT NULL",
            &[],
        );
        rows.into_iter().next().and_then(|r| r.t)
    }

    fn breaker(&self) -> Breaker {
        self.get(BREAKER_KEY).unwrap_or_default()
    }

    fn save_breaker(&self, breaker: &Breaker) {
        self.put(BREAKER_KEY, breaker);
    }

    fn failure_streak(&self) -> u32 {
        self.get(STREAK_KEY).unwrap_or(0)
    }

    fn save_failure_streak(&self, n: u32) {
        self.put(STREAK_KEY, &n);
    }

    fn bucket(&self) -> Bucket {
        self.get(BUCKET_KEY).unwrap_or_default()
    }

    fn save_bucket(&self, bucket: &Bucket) {
        self.put(BUCKET_KEY, bucket);
    }
}
