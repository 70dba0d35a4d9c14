//! Reshaping what schemars derives into what the documents hold: patch forms, `null`able
//! fields, integer formats dropped, the dashboard's form hints, and the paths of secret fields.

use super::SECRET;
use serde_json::{json, Value};

/// The patch form of a config schema: the same fields, none required, each also `null`.
pub(super) fn patch_of(schema: &Value) -> Value {
    let mut patch = schema.clone();
    let object = patch.as_object_mut().expect("an object schema");
    object.remove("required");
    object.remove("default");
    if let Some(Value::Object(props)) = object.get_mut("properties") {
        for prop in props.values_mut() {
            prop.as_object_mut().map(|p| p.remove("default"));
            *prop = nullable(prop.take());
        }
    }
    patch
}

/// `schema` or `null`.
pub(super) fn nullable(schema: Value) -> Value {
    match &schema["type"] {
        Value::String(t) if t != "null" && schema.get("enum").is_none() => {
            let mut s = schema.clone();
            s["type"] = json!([t, "null"]);
            s
        }
        Value::Array(ts) if ts.contains(&json!("null")) => schema,
        _ if schema.get("anyOf").is_some_and(|a| {
            a.as_array()
                .is_some_and(|a| a.contains(&json!({ "type": "null" })))
        }) =>
        {
            schema
        }
        _ => json!({ "anyOf": [schema, { "type": "null" }] }),
    }
}

/// What every derived schema loses: integer `format`s (`uint32`, …), which JSON Schema does
/// not define and the type's range already says; and the line breaks of doc comments inside
/// a paragraph.
pub(super) fn tidy(schema: &mut Value) {
    walk(schema, &mut |s| {
        if let Some(Value::String(d)) = s.get_mut("description") {
            *d = d
                .split("\n\n")
                .map(|p| p.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join("\n\n");
        }
        if s["type"] == "integer" || s["type"] == json!(["integer", "null"]) {
            if let Some(o) = s.as_object_mut() {
                o.remove("format");
            }
        }
    });
}

/// The catalogue's schemas as the dashboard's form builder reads them: a field left out is
/// simply not set (no `null` alternative), a closed set of strings is an `enum` (its values'
/// docs join the field's description), and labels come from the field names (no `title`).
pub(super) fn for_form(schema: &mut Value) {
    walk(schema, &mut |s| {
        let Some(o) = s.as_object_mut() else { return };
        o.remove("title");
        if let Some(Value::Array(any)) = o.get("anyOf") {
            if any.len() == 2 && any[1] == json!({ "type": "null" }) {
                let inner = any[0].clone();
                o.remove("anyOf");
                for (k, v) in inner.as_object().expect("a schema") {
                    o.entry(k.clone()).or_insert(v.clone());
                }
            }
        }
        if let Some(Value::Array(ts)) = o.get("type") {
            let rest: Vec<&Value> = ts.iter().filter(|t| *t != "null").collect();
            if rest.len() == 1 {
                let t = rest[0].clone();
                o.insert("type".into(), t);
            }
        }
        if let Some(Value::Array(one)) = o.get("oneOf") {
            if one.iter().all(|v| v.get("const").is_some()) {
                let values: Vec<Value> = one.iter().map(|v| v["const"].clone()).collect();
                let docs: Vec<String> = one
                    .iter()
                    .filter_map(|v| {
                        let d = v.get("description")?.as_str()?;
                        Some(format!(
                            "`{}`: {d}",
                            v["const"].as_str().unwrap_or_default()
                        ))
                    })
                    .collect();
                o.remove("oneOf");
                o.insert("enum".into(), values.into());
                if !docs.is_empty() {
                    let mut d = o
                        .get("description")
                        .and_then(Value::as_str)
                        .map(|d| vec![d.to_string()])
                        .unwrap_or_default();
                    d.extend(docs);
                    o.insert("description".into(), d.join(" ").into());
                }
            }
        }
    });
}

/// Applies `f` to `schema` and every schema inside it, parents first.
pub(super) fn walk(schema: &mut Value, f: &mut impl FnMut(&mut Value)) {
    f(schema);
    let Some(o) = schema.as_object_mut() else {
        return;
    };
    for (key, value) in o.iter_mut() {
        match key.as_str() {
            "properties" | "$defs" => {
                for v in value
                    .as_object_mut()
                    .into_iter()
                    .flat_map(|m| m.values_mut())
                {
                    walk(v, f);
                }
            }
            "items" | "additionalProperties" | "not" => walk(value, f),
            "oneOf" | "anyOf" | "allOf" => {
                for v in value.as_array_mut().into_iter().flatten() {
                    walk(v, f);
                }
            }
            _ => {}
        }
    }
}

/// The dotted paths of a config's secret fields (`auth.token`, `headers.*`), found through
/// objects and variants; the API masks and guards these.
pub(super) fn secret_paths(schema: &Value, prefix: &str, out: &mut Vec<String>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    if let Some(props) = schema["properties"].as_object() {
        for (k, v) in props {
            if v[SECRET] == true {
                push_once(out, join(k));
            }
            secret_paths(v, &join(k), out);
        }
    }
    if schema["additionalProperties"][SECRET] == true {
        push_once(out, join("*"));
    }
    for variant in schema["oneOf"].as_array().into_iter().flatten() {
        secret_paths(variant, prefix, out);
    }
}

pub(super) fn push_once(out: &mut Vec<String>, path: String) {
    if !out.contains(&path) {
        out.push(path);
    }
}
