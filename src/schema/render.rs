//! The text a generated document is committed as.

use serde_json::Value;

/// The text a document is committed as: pretty JSON, keys sorted, except that an object's
/// `properties` list its required fields first, in the order the type declares them (the
/// order the dashboard's forms show them in), then the optional ones by name.
pub(super) fn render(doc: &Value) -> String {
    let mut text = String::new();
    write_value(doc, None, 0, &mut text);
    text.push('\n');
    text
}

fn write_value(v: &Value, required: Option<&Vec<Value>>, depth: usize, out: &mut String) {
    let pad = |d: usize| "  ".repeat(d);
    match v {
        Value::Object(o) if !o.is_empty() => {
            let mut keys: Vec<&String> = o.keys().collect();
            if let Some(required) = required {
                let rank = |k: &str| {
                    required
                        .iter()
                        .position(|r| r == k)
                        .unwrap_or(required.len())
                };
                keys.sort_by_key(|k| rank(k));
            }
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                out.push_str(&Value::String(k.to_string()).to_string());
                out.push_str(": ");
                let inner = match (k.as_str(), o.get("required")) {
                    ("properties", Some(Value::Array(r))) => Some(r),
                    ("properties", _) => Some(&NONE_REQUIRED),
                    _ => None,
                };
                write_value(&o[k.as_str()], inner, depth + 1, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push('}');
        }
        Value::Array(a) if !a.is_empty() => {
            out.push_str("[\n");
            for (i, item) in a.iter().enumerate() {
                out.push_str(&pad(depth + 1));
                write_value(item, None, depth + 1, out);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(depth));
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The required list of an object schema that has none.
static NONE_REQUIRED: Vec<Value> = Vec::new();
