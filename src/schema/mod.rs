//! Generates the committed JSON documents that describe Rust types from the types themselves:
//! the destination-type catalogue (`providers/types.json`) and the OpenAPI document
//! (`api/openapi.json`). Native tests only: the Worker serves the committed files as they are
//! (the catalogue embedded as text, the API document as a static asset), so no schema code is
//! compiled into the wasm.
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

mod render;
mod shape;

use render::render;
use shape::{for_form, patch_of, secret_paths, tidy};
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

/// The committed files and what they must hold.
fn documents() -> Vec<(PathBuf, Value)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    vec![
        (src.join("providers/types.json"), catalogue()),
        (src.join("api/openapi.json"), openapi()),
    ]
}
