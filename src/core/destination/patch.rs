//! Merging a PATCH into a destination's write form without wiping what the client could not see.

use super::MASK;
use crate::core::redact::is_masked_url_of;
use serde_json::Value;

/// JSON Merge Patch (RFC 7396), except that a string equal to `MASK` (or to the shown form of
/// a URL whose path is masked) keeps the current value: a client may send back what it read
/// without wiping the credentials it could not see.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let map = target.as_object_mut().expect("made an object above");
            for (k, v) in fields {
                match v {
                    Value::Null => {
                        map.remove(k);
                    }
                    Value::String(s) if s == MASK && map.contains_key(k) => {}
                    // A URL shown with its path masked (`core::redact::shown_config`).
                    Value::String(s)
                        if map
                            .get(k)
                            .and_then(Value::as_str)
                            .is_some_and(|cur| is_masked_url_of(s, cur)) => {}
                    _ => merge_patch(map.entry(k.clone()).or_insert(Value::Null), v),
                }
            }
        }
        other => *target = other.clone(),
    }
}
