//! Generates the committed JSON documents that describe Rust types from the types themselves:
//! the destination-type catalogue (`providers/types.json`) and the OpenAPI document
//! (`api/openapi.json`). Native tests only: the Worker serves the committed files as text, so
//! no schema code is compiled into the wasm.
//!
//! A test compares the committed files with what the generator produces and fails on any
//! difference; `SLUICE_BLESS=1 cargo test schema::` rewrites them instead.
//!
//! Hand-written inputs, for what no Rust type says:
//! - `destination_types.json`: each type's title, description and example configs (what the
//!   dashboard shows beside the derived form);
//! - `api/openapi/base.json`: info, paths, parameters, responses, and the schemas of shapes
//!   not yet derived (responses; ids, topics, metadata, filters and transforms, which the
//!   derived bodies refer to by name).
//!
//! Derived: the request bodies that are Rust types (`DestinationFields` from
//! `DestinationInput`, the publish, tenant, portal, topic, bulk retry and test-send bodies) and the settings they hold. The
//! generator makes `DestinationCreate` from `DestinationFields`, one branch per type with that
//! type's config schema, and gives `DestinationUpdate` the types' patch schemas.

use crate::core::breaker::BreakerSettings;
use crate::core::delivery::BulkRetry;
use crate::core::destination::DestinationInput;
use crate::core::engine::TestRequest;
use crate::core::publish::PublishBatchRequest;
use crate::core::rate_limit::RateLimit;
use crate::core::retry::RetryPolicy;
use crate::core::tenant::{PortalRequest, TenantCreate, TenantUpdate};
use crate::core::topics::TopicCreate;
use crate::providers::{config_schemas, TYPES};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::Schema;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

#[cfg(test)]
mod tests;

/// Marks a config field whose value is a credential: sealed at rest, masked in responses.
const SECRET: &str = "x-secret";
/// Where OpenAPI keeps reusable schemas.
const COMPONENTS: &str = "/components/schemas";

/// Puts the schemas of the types that the hand-written part of the OpenAPI document refers to
/// by name among the generator's definitions.
fn shared_schemas(generator: &mut SchemaGenerator) {
    generator.subschema_for::<RetryPolicy>();
    generator.subschema_for::<BreakerSettings>();
    generator.subschema_for::<RateLimit>();
    generator.subschema_for::<DestinationInput>();
    generator.subschema_for::<PublishBatchRequest>();
    generator.subschema_for::<TenantCreate>();
    generator.subschema_for::<TenantUpdate>();
    generator.subschema_for::<PortalRequest>();
    generator.subschema_for::<TopicCreate>();
    generator.subschema_for::<BulkRetry>();
    generator.subschema_for::<TestRequest>();
}

/// The catalogue served at `GET /v1/destination-types`: per type the hand-written title,
/// description and examples, the derived schema of its `config` (self-contained, so the
/// dashboard builds a form from it), and the paths of its secret fields.
fn catalogue() -> Value {
    let hand: Vec<Value> =
        serde_json::from_str(include_str!("destination_types.json")).expect("valid JSON");
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schemas = config_schemas(&mut generator);
    assert_eq!(
        hand.len(),
        schemas.len(),
        "destination_types.json lists every type"
    );
    let data: Vec<Value> = schemas
        .into_iter()
        .zip(hand)
        .map(|((kind, schema), hand)| {
            assert_eq!(hand["type"], kind, "destination_types.json follows TYPES");
            let mut schema = schema.to_value();
            tidy(&mut schema);
            for_form(&mut schema);
            let mut secrets = vec![];
            secret_paths(&schema, "", &mut secrets);
            // Kept for clients that read the list of required fields unconditionally.
            if schema.get("required").is_none() {
                schema["required"] = json!([]);
            }
            schema["examples"] = hand["examples"].clone();
            json!({
                "type": kind,
                "title": hand["title"],
                "description": hand["description"],
                "secrets": secrets,
                "config_schema": schema,
            })
        })
        .collect();
    json!({ "data": data })
}

/// The OpenAPI document: `base.json` with the derived component schemas added, and the
/// destination bodies' `config` given per type.
fn openapi() -> Value {
    let mut doc: Value =
        serde_json::from_str(include_str!("../api/openapi/base.json")).expect("valid JSON");
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = COMPONENTS.into())
        .into_generator();
    let configs = config_schemas(&mut generator);
    shared_schemas(&mut generator);
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("components.schemas");
    for (name, mut schema) in generator.take_definitions(true) {
        tidy(&mut schema);
        let clash = schemas.insert(name.clone(), schema);
        assert!(clash.is_none(), "base.json also describes {name}");
    }
    let kinds: Vec<Value> = TYPES.iter().map(|&k| k.into()).collect();
    add_examples(schemas);
    let fields = &mut schemas["DestinationFields"];
    create_body_fields(fields);
    fields["properties"]["type"]["enum"] = kinds.clone().into();
    let create = destination_create(fields, &configs);
    schemas.insert("DestinationCreate".into(), create);
    let update = &mut schemas["DestinationUpdate"];
    update["properties"]["type"]["enum"] = kinds.clone().into();
    update["properties"]["config"] = config_patch(&configs);
    schemas["Destination"]["properties"]["type"]["enum"] = kinds.into();
    let patches: Vec<(String, Value)> = schemas
        .iter()
        .filter(|(name, _)| {
            configs
                .iter()
                .any(|(_, c)| c.as_value()["$ref"] == format!("#{COMPONENTS}/{name}"))
        })
        .map(|(name, schema)| (format!("{name}Patch"), patch_of(schema)))
        .collect();
    for (name, patch) in patches {
        let clash = schemas.insert(name.clone(), patch);
        assert!(clash.is_none(), "base.json also describes {name}");
    }
    doc
}

/// `DestinationFields` is derived from `DestinationInput`, the form a create body takes once
/// its template is expanded (`core::template`); the body as sent may instead name a
/// `template` (with its `params`) and leave `type` and `config` to it.
fn create_body_fields(fields: &mut Value) {
    fields["required"] = json!([]);
    fields["anyOf"] = json!([{ "required": ["type", "config"] }, { "required": ["template"] }]);
    fields["properties"]["params"] = json!({
        "type": "object",
        "additionalProperties": { "type": "string" },
        "description": "With `template`: the template's parameters (e.g. Linear's `team_id`).",
    });
}

/// The examples shown beside the derived request bodies: what a client typically sends.
fn add_examples(schemas: &mut Map<String, Value>) {
    schemas["DestinationFields"]["examples"] = json!([{
        "type": "webhook",
        "name": "Orders",
        "topics": ["order.*"],
        "config": {
            "url": "https://example.com/hook",
            "headers": { "x-custom": "v" },
            "auth": { "type": "bearer", "token": "s3cret" },
        },
        "retry": {
            "max_retries": 5,
            "backoff": { "type": "exponential", "initial_ms": 1000, "factor": 2.0, "max_ms": 3600000 },
            "jitter": 0.1,
        },
    }]);
    schemas["TenantCreate"]["examples"] = json!([{
        "id": "acme",
        "name": "Acme Corp",
        "metadata": { "plan": "pro" },
    }]);
    schemas["CatalogTopicCreate"]["examples"] = json!([{
        "name": "order.created",
        "description": "An order was placed.",
    }]);
    schemas["DestinationRetryRequest"]["examples"] = json!([{
        "since": "2026-11-23T00:00:00Z",
        "until": "2026-11-23T12:00:00Z",
    }]);
    schemas["PublishRequest"]["examples"] = json!([{
        "tenant_id": "acme",
        "topic": "order.created",
        "id": "order-1234-created",
        "data": { "order_id": 1234, "total": "99.00" },
    }]);
}

/// A create body is one of: a typed body (`type` and that type's `config`), or one that
/// names a `template` and leaves `type` to it (its `config` is merged over the template's).
/// The other fields are the same in every branch: they point at `DestinationFields`.
fn destination_create(fields: &Value, configs: &[(&str, Schema)]) -> Value {
    let shared: Map<String, Value> = fields["properties"]
        .as_object()
        .expect("DestinationFields lists properties")
        .keys()
        .filter(|k| !matches!(k.as_str(), "type" | "config"))
        .map(|k| {
            let pointer = format!("#{COMPONENTS}/DestinationFields/properties/{k}");
            (k.clone(), json!({ "$ref": pointer }))
        })
        .collect();
    let branch = |required: &[&str], extra: Value| {
        let mut properties = shared.clone();
        properties.extend(extra.as_object().expect("properties").clone());
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": properties,
        })
    };
    let mut branches: Vec<Value> = configs
        .iter()
        .map(|(kind, config)| {
            branch(
                &["type", "config"],
                json!({ "type": { "const": kind }, "config": config }),
            )
        })
        .collect();
    branches.push(branch(
        &["template"],
        json!({ "config": {
            "type": "object",
            "description": "Merged over the template's config.",
        }}),
    ));
    json!({
        "description": "A new destination: a `type` with that type's `config`, or a `template` \
            that supplies both. Everything else has a default. Unknown fields are refused (422).",
        "oneOf": branches,
    })
}

/// A PATCH's `config` is merged into the stored one (RFC 7396), so it is one of the types'
/// patch schemas: the config's fields, none required, each nullable.
fn config_patch(configs: &[(&str, Schema)]) -> Value {
    let mut refs: Vec<Value> = vec![];
    for (_, config) in configs {
        let name = config.as_value()["$ref"].as_str().expect("a $ref");
        let patch = json!({ "$ref": format!("{name}Patch") });
        if !refs.contains(&patch) {
            refs.push(patch);
        }
    }
    json!({
        "description": "Merged into the current config (RFC 7396): fields left out are unchanged, \
            `null` removes one (fields with a default return to it), and a string equal to \
            `\"********\"` keeps the current (masked) value. The destination's type says which \
            fields apply.",
        "anyOf": refs,
    })
}

/// The patch form of a config schema: the same fields, none required, each also `null`.
fn patch_of(schema: &Value) -> Value {
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
fn nullable(schema: Value) -> Value {
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
fn tidy(schema: &mut Value) {
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
fn for_form(schema: &mut Value) {
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
fn walk(schema: &mut Value, f: &mut impl FnMut(&mut Value)) {
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
fn secret_paths(schema: &Value, prefix: &str, out: &mut Vec<String>) {
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

fn push_once(out: &mut Vec<String>, path: String) {
    if !out.contains(&path) {
        out.push(path);
    }
}

/// The committed files and what they must hold.
fn documents() -> Vec<(PathBuf, Value)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    vec![
        (src.join("providers/types.json"), catalogue()),
        (src.join("api/openapi.json"), openapi()),
    ]
}

/// The text a document is committed as: pretty JSON, keys sorted, except that an object's
/// `properties` list its required fields first, in the order the type declares them (the
/// order the dashboard's forms show them in), then the optional ones by name.
fn render(doc: &Value) -> String {
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
