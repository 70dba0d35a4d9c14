//! Compiled payload filters, kept per isolate so that publishes reuse them instead of parsing
//! the JSON and compiling regexes for every event.

use crate::core::filter::Filter;
use crate::core::ids::DestinationId;
use crate::store::destinations::DestinationRow;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::console_error;

thread_local! {
    /// Compiled filters by (destination, version): publishes reuse them instead of parsing
    /// the JSON and compiling regexes for every event.
    static FILTERS: RefCell<HashMap<(DestinationId, i64), Rc<Filter>>> = RefCell::new(HashMap::new());
}
/// Compiled filters kept per isolate; past this the cache starts over.
const FILTER_CACHE_LIMIT: usize = 1_000;

/// Whether the event (its `core::filter::document`) passes the destination's filter. A stored
/// filter that no longer parses lets everything through (and is logged): losing events to
/// a filter we cannot read would be worse. One stored before the regex caps still compiles
/// (`Filter::parse_stored`).
pub fn passes_filter(d: &DestinationRow, subject: &Value) -> bool {
    let Some(raw) = &d.filter else { return true };
    let key = (d.id.clone(), d.updated_at);
    let cached = FILTERS.with(|c| c.borrow().get(&key).cloned());
    let filter = match cached {
        Some(f) => f,
        None => {
            let parsed = serde_json::from_str::<Value>(raw)
                .ok()
                .and_then(|v| Filter::parse_stored(&v).ok());
            let Some(f) = parsed.map(Rc::new) else {
                console_error!(
                    "{}",
                    json!({ "event": "stored_filter_invalid", "destination_id": d.id })
                );
                return true;
            };
            FILTERS.with(|c| {
                let mut c = c.borrow_mut();
                if c.len() >= FILTER_CACHE_LIMIT {
                    c.clear();
                }
                c.insert(key, f.clone());
            });
            f
        }
    };
    filter.matches(subject)
}
