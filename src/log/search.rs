//! The event log's query in one log shard, built from optional conditions. Plain Rust (no
//! runtime types), so the shard's native tests run it on SQLite and check its query plan.

use crate::core::ids::DestinationId;
use crate::core::time::Millis;
pub use crate::store::SqlValue;

/// What the event log can be narrowed to. Every condition is optional but the tenant.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct EventQuery {
    pub topic: Option<String>,
    /// Events with at least one delivery in this status (and to `destination`, if given).
    pub status: Option<String>,
    pub destination: Option<DestinationId>,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// A JSON path into `data` (`$.order.id`) and the value it must equal, as text.
    pub path_equals: Option<(String, String)>,
    /// Text the serialised `data` contains.
    pub contains: Option<String>,
    pub newest_first: bool,
    /// Continue after this (created_at, id).
    pub after: Option<(Millis, String)>,
    pub limit: usize,
}

#[derive(Default)]
struct Built {
    text: String,
    values: Vec<SqlValue>,
}

impl Built {
    /// Appends a fragment whose `?`s are numbered in order from the values given.
    fn push(&mut self, fragment: &str, values: Vec<SqlValue>) {
        let mut out = String::with_capacity(fragment.len() + 8);
        let mut values = values.into_iter();
        for c in fragment.chars() {
            if c == '?' {
                self.values
                    .push(values.next().expect("one value per placeholder"));
                out.push_str(&format!("?{}", self.values.len()));
            } else {
                out.push(c);
            }
        }
        self.text.push_str(&out);
    }
}

/// Events one shard examines per call for a search that looks inside them (delivery status
/// or destination, a JSON path, text): past it the shard answers where it stopped, and the
/// page continues from there on the next call.
pub const SCAN_BUDGET: usize = 5_000;

impl EventQuery {
    /// Whether the search looks at more than the indexed columns (topic, time).
    pub fn scans(&self) -> bool {
        self.status.is_some()
            || self.destination.is_some()
            || self.path_equals.is_some()
            || self.contains.is_some()
    }
}

/// The conditions served by the indexes (topic, time range, cursor): what a scan walks.
fn walk(b: &mut Built, q: &EventQuery) {
    use SqlValue::{Int, Str};
    if let Some(t) = &q.topic {
        b.push(" AND e.topic = ?", vec![Str(t.clone())]);
    }
    if let Some(t) = q.since {
        b.push(" AND e.created_at >= ?", vec![Int(t)]);
    }
    if let Some(t) = q.until {
        b.push(" AND e.created_at < ?", vec![Int(t)]);
    }
    if let Some((t, id)) = &q.after {
        let cmp = if q.newest_first { "<" } else { ">" };
        b.push(
            &format!(" AND (e.created_at, e.id) {cmp} (?, ?)"),
            vec![Int(*t), Str(id.clone())],
        );
    }
}

fn order(q: &EventQuery) -> &'static str {
    if q.newest_first {
        " ORDER BY e.created_at DESC, e.id DESC"
    } else {
        " ORDER BY e.created_at ASC, e.id ASC"
    }
}

/// The SQL and its values for one page (`limit + 1` rows) of a shard's events, without their
/// payloads (a page of the log does not show them; 8 shards × 101 events of 256 KiB would be
/// 200 MB in one call), served by
/// `events_by_time` (or `events_by_topic`): `(created_at, id)` order, walked from the cursor
/// with a row-value comparison. A search that looks inside events examines at most
/// `SCAN_BUDGET` of them (`scan_end_sql` tells where that scan ends). A shard holds one
/// tenant's events only.
pub fn search_sql(q: &EventQuery) -> (String, Vec<SqlValue>) {
    use SqlValue::{Int, Str};
    let mut b = Built::default();
    if q.scans() {
        b.push(
            "SELECT id, topic, '' AS data, metadata, created_at FROM (SELECT * FROM events e WHERE 1 = 1",
            vec![],
        );
        walk(&mut b, q);
        b.push(order(q), vec![]);
        b.push(" LIMIT ?) e WHERE 1 = 1", vec![Int(SCAN_BUDGET as i64)]);
    } else {
        b.push(
            "SELECT id, topic, '' AS data, metadata, created_at FROM events e WHERE 1 = 1",
            vec![],
        );
        walk(&mut b, q);
    }
    if q.status.is_some() || q.destination.is_some() {
        b.push(
            " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id",
            vec![],
        );
        if let Some(s) = &q.status {
            b.push(" AND d.status = ?", vec![Str(s.clone())]);
        }
        if let Some(d) = &q.destination {
            b.push(" AND d.destination_id = ?", vec![Str(d.to_string())]);
        }
        b.push(")", vec![]);
    }
    if let Some((path, value)) = &q.path_equals {
        b.push(
            " AND CAST(json_extract(e.data, ?) AS TEXT) = ?",
            vec![Str(path.clone()), Str(value.clone())],
        );
    }
    if let Some(text) = &q.contains {
        b.push(" AND instr(e.data, ?) > 0", vec![Str(text.clone())]);
    }
    b.push(order(q), vec![]);
    b.push(" LIMIT ?", vec![Int(q.limit as i64 + 1)]);
    (b.text, b.values)
}

/// The last event a budgeted scan examines (`created_at`, `id`), if the budget ends it
/// before the shard's events do.
pub fn scan_end_sql(q: &EventQuery) -> (String, Vec<SqlValue>) {
    let mut b = Built::default();
    b.push("SELECT created_at, id FROM events e WHERE 1 = 1", vec![]);
    walk(&mut b, q);
    b.push(order(q), vec![]);
    b.push(
        " LIMIT 1 OFFSET ?",
        vec![SqlValue::Int(SCAN_BUDGET as i64 - 1)],
    );
    (b.text, b.values)
}
