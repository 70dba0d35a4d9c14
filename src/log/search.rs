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

/// The SQL and its values for one page (`limit + 1` rows) of a shard's events, served by
/// `events_by_time` (or `events_by_topic`): `(created_at, id)` order, walked from the cursor
/// with a row-value comparison. A shard holds one tenant's events only.
pub fn search_sql(q: &EventQuery) -> (String, Vec<SqlValue>) {
    use SqlValue::{Int, Str};
    let mut b = Built::default();
    b.push(
        "SELECT id, topic, data, metadata, created_at FROM events e WHERE 1 = 1",
        vec![],
    );
    if let Some(t) = &q.topic {
        b.push(" AND e.topic = ?", vec![Str(t.clone())]);
    }
    if let Some(t) = q.since {
        b.push(" AND e.created_at >= ?", vec![Int(t)]);
    }
    if let Some(t) = q.until {
        b.push(" AND e.created_at < ?", vec![Int(t)]);
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
    let (cmp, dir) = if q.newest_first {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some((t, id)) = &q.after {
        b.push(
            &format!(" AND (e.created_at, e.id) {cmp} (?, ?)"),
            vec![Int(*t), Str(id.clone())],
        );
    }
    b.push(
        &format!(" ORDER BY e.created_at {dir}, e.id {dir} LIMIT ?"),
        vec![Int(q.limit as i64 + 1)],
    );
    (b.text, b.values)
}
