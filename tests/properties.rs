//! Property tests of everything that parses untrusted input (issue 6 §4): payload filters,
//! payload transforms, topic patterns, destination configs of every type, and tenant tokens. Whatever the input,
//! parsing answers Ok or a named error, never panics, and runs in bounded time; what the edge
//! accepts cannot inject headers or leak credentials further on.
//!
//! `PROPTEST_CASES=5000 cargo test --test properties` searches harder than the defaults here,
//! which keep the whole file to a few seconds.
#![cfg(not(target_arch = "wasm32"))]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use sluice::core::destination::{SecretBundle, SigningKey, TargetConfig};
use sluice::core::engine::{Provider, QueuedDelivery};
use sluice::core::filter::{self, Filter};
use sluice::core::ids::{DeliveryId, EventId, TenantId};
use sluice::core::tokens::{self, TokenKey};
use sluice::core::topics::{validate_topic, TopicPattern};
use sluice::core::transform::{self, Subject, Transform};
use sluice::core::validate::{
    check_header_name, check_header_value, check_metadata, from_slice, BodyError,
};
use sluice::core::wire::Outbound;
use sluice::providers::pubsub::AccessToken;
use sluice::providers::{for_target, Target, TYPES};

const NOW: i64 = 1_700_000_000_000;

/// `cases` per property, unless `PROPTEST_CASES` asks for another number.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Generators

/// Strings that matter to these parsers: operators, field names, wildcards, dots, control and
/// header-breaking characters, non-ASCII, and the odd long one.
fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z.*$_:\\- ]{0,12}",
        2 => prop::sample::select(vec![
            "$eq", "$neq", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$startsWith",
            "$endsWith", "$contains", "$regex", "$exist", "$and", "$or", "$not", "$bogus",
            "data", "metadata", "topic", "*", ".*", "order.*", "a..b", "", "********",
        ])
        .prop_map(str::to_string),
        1 => "[\\x00-\\x1f\\r\\n\\t\\u{7f}a:]{0,6}",
        1 => any::<String>(),
        1 => "[a\\r\\n]{200,300}",
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(0)),
        Just(json!(-0.0)),
    ]
}

/// Any JSON value, at most `depth` levels of nesting (deeper than the filter limit of 16 when
/// asked, to reach the size checks).
fn arb_json(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        nasty_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(depth, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((nasty_string(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Regex-shaped text: mostly metacharacters, so that patterns built to explode come up.
fn regex_text() -> impl Strategy<Value = String> {
    // Well-formed patterns: atoms, quantifiers (counted ones too), groups, alternations.
    let atom = prop::sample::select(vec![
        "a", "b", ".", "\\d", "\\w", "[a-c]", "[^x]", "^", "$", "(?i)a",
    ])
    .prop_map(str::to_string);
    let well_formed = atom.prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec![
                    "*", "+", "?", "{2}", "{1,9}", "{0,99}", "{50,100}", "*?"
                ])
            )
                .prop_map(|(a, q)| format!("({a}){q}")),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
            prop::collection::vec(inner, 2..4).prop_map(|v| format!("({})", v.join("|"))),
        ]
    });
    prop_oneof![
        3 => well_formed,
        1 => "[a()*+?{}\\[\\]|^$.\\\\dws0-9,]{0,40}",
        1 => "[a()*+?{}0-9,]{0,300}",
        // Nested counted repetitions: the classic way to build a huge automaton.
        1 => (1u32..60, 1u32..60, 1u32..6).prop_map(|(a, b, n)| {
            let mut p = "a".to_string();
            for _ in 0..n {
                p = format!("({p}{{{a},{b}}})");
            }
            p
        }),
    ]
}

/// A filter-shaped document: the right keys in the right places, argument types mostly
/// right and sometimes wrong, so that both the compiler and the matcher get exercised.
fn arb_filter_node(depth: u32) -> BoxedStrategy<Value> {
    let literal = arb_json(2);
    if depth == 0 {
        return literal.boxed();
    }
    let inner = arb_filter_node(depth - 1);
    let op = prop_oneof![
        (
            prop::sample::select(vec!["$eq", "$neq", "$contains"]),
            arb_json(2)
        )
            .prop_map(|(k, v)| (k.to_string(), v)),
        (
            prop::sample::select(vec!["$gt", "$gte", "$lt", "$lte"]),
            prop_oneof![
                number(),
                nasty_string().prop_map(Value::String),
                arb_json(1)
            ]
        )
            .prop_map(|(k, v)| (k.to_string(), v)),
        (
            prop::sample::select(vec!["$in", "$nin"]),
            prop::collection::vec(arb_json(1), 0..5)
        )
            .prop_map(|(k, v)| (k.to_string(), Value::Array(v))),
        (
            prop::sample::select(vec!["$startsWith", "$endsWith"]),
            nasty_string()
        )
            .prop_map(|(k, v)| (k.to_string(), Value::String(v))),
        regex_text().prop_map(|r| ("$regex".to_string(), Value::String(r))),
        any::<bool>().prop_map(|b| ("$exist".to_string(), Value::Bool(b))),
        (
            prop::sample::select(vec!["$and", "$or"]),
            prop::collection::vec(inner.clone(), 0..3)
        )
            .prop_map(|(k, v)| (k.to_string(), Value::Array(v))),
        inner.clone().prop_map(|v| ("$not".to_string(), v)),
        ref_path().prop_map(|p| ("$ref".to_string(), Value::String(p))),
        (
            prop::sample::select(vec![
                "$eq",
                "$neq",
                "$gt",
                "$lte",
                "$in",
                "$startsWith",
                "$contains"
            ]),
            ref_path()
        )
            .prop_map(|(k, p)| (k.to_string(), json!({ "$ref": p }))),
        (nasty_string(), inner.clone()),
    ];
    prop_oneof![
        1 => literal,
        3 => prop::collection::vec(op, 0..4)
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
    ]
    .boxed()
}

/// A `$ref` path: mostly valid ones into the event document, some not.
fn ref_path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "data", "data.a", "data.a[0]", "data.a[$index]", "data.a[$index].b[$index]",
            "metadata.k", "topic", "time", "id",
        ])
        .prop_map(str::to_string),
        1 => nasty_string(),
    ]
}

fn arb_filter() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(vec![
        "data", "metadata", "topic", "id", "time", "$and", "$or", "$not", "x",
    ]);
    prop_oneof![
        4 => prop::collection::vec((field, arb_filter_node(4)), 0..4).prop_map(|kv| {
            Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        }),
        1 => arb_json(20),
    ]
}

fn arb_event() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (arb_json(5), prop::collection::btree_map(nasty_string(), nasty_string(), 0..4), nasty_string())
            .prop_map(|(data, metadata, topic)| filter::document("evt_1", &topic, "2026-12-06T10:00:00.000Z", &metadata, data)),
        1 => arb_json(5),
    ]
}

fn valid_topic() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_:-]{1,8}(\\.[A-Za-z0-9_:-]{1,8}){0,4}"
}

// ---------------------------------------------------------------------------------------------
// Payload filters

proptest! {
    #![proptest_config(config(400))]

    /// Any document parses to a filter or to named errors, and a filter matches any event
    /// without panicking, in bounded time, and the same after a round trip through JSON.
    #[test]
    fn filters_parse_and_match_anything(filter in arb_filter(), events in prop::collection::vec(arb_event(), 1..4)) {
        let started = Instant::now();
        match Filter::parse(&filter) {
            Ok(f) => {
                let again: Filter = serde_json::from_value(serde_json::to_value(&f).unwrap()).unwrap();
                for e in &events {
                    prop_assert_eq!(f.matches(e), again.matches(e));
                }
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                prop_assert!(errors.iter().all(|e| !e.message.is_empty()));
            }
        }
        prop_assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    }

    /// Any `$regex` is refused or compiles to something that scans a 4 KiB string quickly:
    /// patterns built to explode are capped when the filter is saved, not when events flow.
    #[test]
    fn regexes_are_refused_or_cheap(pattern in regex_text(), fill in "[a0-9 ]{1,3}") {
        // Tested on the longest string a `$regex` scans, directly and inside an array.
        let filter = json!({"data": {"s": {"$regex": pattern}, "items": {"s": {"$regex": pattern}}}});
        if let Ok(f) = Filter::parse(&filter) {
            let mut s = fill.repeat((filter::MAX_REGEX_TEXT - 1) / fill.len());
            s.push('!');
            let event = json!({"data": {"s": s.clone(), "items": [{"s": s.clone()}, {"s": s}]}});
            let started = Instant::now();
            let _ = f.matches(&event);
            // Debug build: the release build is ~20 times faster.
            prop_assert!(started.elapsed() < Duration::from_millis(500), "{:?} took {:?}", filter, started.elapsed());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Payload transforms (the `{{ path }}` template language)

/// A placeholder path: a root (mostly a real one), then `.key` and `[index]` steps.
fn template_path() -> impl Strategy<Value = String> {
    let root = prop_oneof![
        4 => prop::sample::select(transform::ROOTS.to_vec()).prop_map(str::to_string),
        1 => "[a-z_]{0,6}",
    ];
    let step = prop_oneof![
        "\\.[a-z0-9_-]{0,6}",
        (0u32..5).prop_map(|i| format!("[{i}]")),
        Just("[x]".to_string()),
        Just("..".to_string()),
    ];
    (root, prop::collection::vec(step, 0..5))
        .prop_map(|(r, steps)| format!("{r}{}", steps.concat()))
}

/// Template text: literal text, placeholders with filters (valid and not), escapes, and
/// stray or unbalanced braces.
fn template_string() -> impl Strategy<Value = String> {
    let filter = prop_oneof![
        Just(String::new()),
        Just(" | default: \"none\"".to_string()),
        Just(" | default: {\"a\": [1]}".to_string()),
        (0u32..40).prop_map(|n| format!(" | truncate: {n}")),
        Just(" | truncate: -1".to_string()),
        Just(" | default:".to_string()),
        Just(" | upper".to_string()),
        Just(" |".to_string()),
    ];
    let piece = prop_oneof![
        3 => "[a-z :,.\u{e9}]{0,8}",
        3 => (template_path(), filter.clone(), filter)
            .prop_map(|(p, f, g)| format!("{{{{ {p}{f}{g} }}}}")),
        1 => prop::sample::select(vec!["\\{{", "{{", "}}", "{{ data", "{{}}", "{ {", "\\", "{{{{ data }}}}"])
            .prop_map(str::to_string),
        1 => any::<String>(),
    ];
    prop::collection::vec(piece, 0..5).prop_map(|v| v.concat())
}

/// A transform-shaped document: any JSON whose strings are mostly template text.
fn arb_transform() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => template_string().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => number(),
        1 => any::<bool>().prop_map(Value::Bool),
    ];
    leaf.prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-z{} ]{0,6}", inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn subject<'a>(data: &'a Value, metadata: &'a BTreeMap<String, String>) -> Subject<'a> {
    Subject {
        data,
        metadata,
        topic: "order.created",
        event_id: "evt_1",
        tenant_id: "acme",
        delivery_id: "dlv_1",
        attempt: 2,
        timestamp: "2026-11-23T12:00:00Z",
    }
}

/// Whether `text` holds no placeholder syntax at all (so a transform of it is a literal).
fn plain(text: &str) -> bool {
    !text.contains('{') && !text.contains('\\')
}

fn all_strings_plain(v: &Value) -> bool {
    match v {
        Value::String(s) => plain(s),
        Value::Array(a) => a.iter().all(all_strings_plain),
        Value::Object(o) => o.values().all(all_strings_plain),
        _ => true,
    }
}

proptest! {
    #![proptest_config(config(200))]

    /// Any document compiles or is refused with errors that each point at a value of the
    /// document; what compiles applies to any event without panicking, in bounded time, to
    /// JSON within the output cap (or to the named "too large" error).
    #[test]
    fn transforms_compile_or_point_at_the_fault_and_apply_to_anything(
        source in arb_transform(),
        data in arb_json(4),
        metadata in arb_metadata(),
    ) {
        let started = Instant::now();
        match Transform::compile(&source) {
            Ok(t) => {
                match t.apply(&subject(&data, &metadata)) {
                    Ok(out) => {
                        prop_assert!(out.len() <= transform::MAX_OUTPUT_BYTES);
                        prop_assert!(serde_json::from_str::<Value>(&out).is_ok(), "not JSON: {}", out);
                    }
                    Err(e) => prop_assert!(e.contains("bytes allowed"), "{}", e),
                }
                if all_strings_plain(&source) {
                    // No placeholder anywhere: the payload is the transform itself.
                    let out: Value = serde_json::from_str(&t.apply(&subject(&data, &metadata)).unwrap()).unwrap();
                    prop_assert_eq!(out, source.clone());
                }
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    prop_assert!(!e.message.is_empty());
                    prop_assert!(source.pointer(&e.pointer).is_some(), "{:?} points nowhere in {}", e, source);
                }
            }
        }
        // Debug build.
        prop_assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    }

    /// `"{{ data }}"` is the data itself, whatever it is; a path into it, the value there.
    #[test]
    fn a_whole_placeholder_is_the_value_with_its_type(data in arb_json(4), key in "[a-z]{1,6}") {
        let metadata = BTreeMap::new();
        let whole = Transform::compile(&json!("{{ data }}")).unwrap();
        let out: Value = serde_json::from_str(&whole.apply(&subject(&data, &metadata)).unwrap()).unwrap();
        prop_assert_eq!(&out, &data);
        let wrapped = json!({ key.clone(): data.clone() });
        let picked = Transform::compile(&json!({ "v": format!("{{{{ data.{key} }}}}") })).unwrap();
        let out: Value = serde_json::from_str(&picked.apply(&subject(&wrapped, &metadata)).unwrap()).unwrap();
        prop_assert_eq!(&out["v"], &data);
    }

    /// A transform built to explode (every placeholder the limit allows, each the whole
    /// payload) is cut off at the output cap, quickly, with a named error.
    #[test]
    fn exploding_transforms_are_capped(copies in 1usize..=transform::MAX_PLACEHOLDERS, size in 1usize..64) {
        let data = json!({ "blob": "x".repeat(size * 1024) });
        let metadata = BTreeMap::new();
        let source = Value::Array(vec![json!("{{ data }}"); copies]);
        let t = Transform::compile(&source).unwrap();
        let started = Instant::now();
        let result = t.apply(&subject(&data, &metadata));
        let expected = copies * (size * 1024 + 12);
        match result {
            Ok(out) => prop_assert!(expected <= transform::MAX_OUTPUT_BYTES + 64 && out.len() <= transform::MAX_OUTPUT_BYTES),
            Err(e) => {
                prop_assert!(expected > transform::MAX_OUTPUT_BYTES - 64, "{} for {} bytes", e, expected);
                prop_assert!(e.contains("bytes allowed"), "{}", e);
            }
        }
        prop_assert!(started.elapsed() < Duration::from_millis(500), "took {:?}", started.elapsed());
    }
}

// ---------------------------------------------------------------------------------------------
// Topics and subscription patterns

proptest! {
    #![proptest_config(config(1000))]

    /// Whatever the text: a pattern or an error, never a panic. What is accepted is bounded,
    /// printable, header-safe, and survives the round trip through its stored form.
    #[test]
    fn patterns_parse_anything(raw in nasty_string(), topic in nasty_string()) {
        if let Ok(p) = TopicPattern::parse(&raw) {
            let stored: String = p.clone().into();
            prop_assert_eq!(&stored, &raw);
            prop_assert_eq!(TopicPattern::parse(&stored), Ok(p.clone()));
            prop_assert!(raw.len() <= 130);
            prop_assert!(check_header_value(&raw).is_ok());
            prop_assert!(raw.chars().all(|c| c.is_ascii_alphanumeric() || "._:-*".contains(c)));
            let _ = p.matches(&topic);
        }
        if validate_topic(&raw).is_ok() {
            // A topic travels in headers (x-sluice-topic, message attributes).
            prop_assert!(check_header_value(&raw).is_ok());
            prop_assert!(!raw.is_empty() && raw.len() <= 128);
            prop_assert!(TopicPattern::parse(&raw).unwrap().matches(&raw));
        }
    }

    /// The semantics: exact names match themselves only; `p.*` matches below `p`, not `p`.
    #[test]
    fn pattern_semantics(t in valid_topic(), rest in valid_topic(), other in valid_topic()) {
        let exact = TopicPattern::parse(&t).unwrap();
        prop_assert!(exact.matches(&t));
        prop_assert_eq!(exact.matches(&other), t == other);
        let prefix = TopicPattern::parse(&format!("{t}.*")).unwrap();
        let below = format!("{t}.{rest}");
        prop_assert!(prefix.matches(&below));
        prop_assert!(!prefix.matches(&t));
        let glued = format!("{}{}", t, rest);
        prop_assert!(!prefix.matches(&glued), "{:?} matched {}", prefix, glued);
        prop_assert!(TopicPattern::parse("*").unwrap().matches(&other));
    }
}

// ---------------------------------------------------------------------------------------------
// Destination configs, every type

const SECRET: &str = "SeCrEt-MaRkEr";
const PUBSUB_KEY: &str = include_str!("../src/providers/testdata/pubsub_test_key.pem");

/// A valid config per type, every credential a marker (the Pub/Sub key a real test key).
fn base_config(kind: &str) -> Value {
    let s = |n: &str| format!("{SECRET}-{n}");
    match kind {
        "webhook" => json!({
            "url": "https://example.com/hooks",
            "headers": {"x-tenant": s("header")},
            "auth": {"type": "basic", "username": "sluice", "password": s("password")},
            "signing": {"scheme": "standard_webhooks"}
        }),
        "aws_sqs" => json!({
            "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/orders",
            "region": "eu-west-1", "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": s("aws"), "session_token": s("session")
        }),
        "aws_eventbridge" => json!({
            "event_bus_name": "orders-bus", "source": "acme.sluice",
            "region": "eu-west-1", "access_key_id": "AKIAEXAMPLE", "secret_access_key": s("aws")
        }),
        "aws_s3" => json!({
            "bucket": "acme-events", "region": "eu-west-1",
            "access_key_id": "AKIAEXAMPLE", "secret_access_key": s("aws")
        }),
        "gcp_pubsub" => json!({
            "topic": "orders",
            "service_account": {
                "type": "service_account", "project_id": "acme-project",
                "private_key_id": "k1", "private_key": PUBSUB_KEY,
                "client_email": "publisher@acme-project.iam.gserviceaccount.com",
                "token_uri": "https://oauth2.googleapis.com/token"
            }
        }),
        "kafka" => json!({
            "endpoint": "https://rest-proxy.example.com:8082/kafka", "cluster_id": "lkc-1",
            "topic": "orders", "key_field": "customer.id",
            "auth": {"type": "basic", "username": "key", "password": s("kafka")}
        }),
        "rabbitmq" => json!({
            "endpoint": "https://rabbit.example.com:15672", "vhost": "/", "exchange": "orders",
            "routing_key": "sluice.{topic}", "username": "sluice", "password": s("rabbit")
        }),
        "websocket" => json!({"max_clients": 10}),
        "slack" => {
            json!({"url": format!("https://hooks.slack.com/services/T000/B000/{}", s("slack"))})
        }
        "discord" => {
            json!({"url": format!("https://discord.com/api/webhooks/123/{}", s("discord"))})
        }
        // A routing key is letters and digits only: the marker without its hyphen.
        "pagerduty" => json!({"routing_key": SECRET.replace('-', "")}),
        "email" => json!({"from": "alerts@sluice.example.com", "to": ["ops@acme.example"]}),
        // Any other type: its first catalogue example, every credential the catalogue names a
        // marker (a type whose credentials have a format of their own gets an arm above).
        other => catalogue_example_with_markers(other),
    }
}

/// A type's first example config from the catalogue, with each of its `secrets` paths set to
/// the marker (so a new type is covered here without a line of its own).
fn catalogue_example_with_markers(kind: &str) -> Value {
    let catalogue: Value = serde_json::from_str(sluice::providers::CATALOGUE).unwrap();
    let entry = catalogue["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == kind)
        .unwrap_or_else(|| panic!("type {kind} is not in the catalogue"));
    let mut config = entry["config_schema"]["examples"][0].clone();
    for path in entry["secrets"].as_array().into_iter().flatten() {
        let mut at = &mut config;
        let parts: Vec<&str> = path.as_str().unwrap().split('.').collect();
        for part in &parts[..parts.len() - 1] {
            at = &mut at[*part];
        }
        at[parts[parts.len() - 1]] = json!(format!("{SECRET}-{kind}"));
    }
    config
}

/// The key body of the Pub/Sub test key: what must never show in a masked config.
fn pubsub_key_body() -> &'static str {
    PUBSUB_KEY.lines().nth(1).unwrap()
}

/// Every JSON path (object keys only) in a config, for mutations to aim at.
fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(map) = v {
        for (k, child) in map {
            prefix.push(k.clone());
            out.push(prefix.clone());
            paths(child, prefix, out);
            prefix.pop();
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    None,
    Set(usize, Value),
    Remove(usize),
    Add(String, Value),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    let value = prop_oneof![
        4 => nasty_string().prop_map(Value::String),
        2 => "(https?|ftp)://(127\\.0\\.0\\.1|10\\.1\\.2\\.3|169\\.254\\.169\\.254|\\[::1\\]|0x7f000001|2130706433|localhost|example\\.com)(:[0-9]{1,5})?/[a-z{}\\r\\n]{0,8}"
            .prop_map(Value::String),
        1 => arb_json(3),
    ];
    prop_oneof![
        2 => Just(Mutation::None),
        6 => (any::<usize>(), value.clone()).prop_map(|(i, v)| Mutation::Set(i, v)),
        1 => any::<usize>().prop_map(Mutation::Remove),
        1 => (nasty_string(), value).prop_map(|(k, v)| Mutation::Add(k, v)),
    ]
}

/// Metadata as publishers send it, and now and then something the edge must refuse.
fn arb_metadata() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop_oneof![
        4 => prop::collection::btree_map("[a-z][a-z0-9-]{0,8}", "[ -~]{0,16}", 0..4),
        1 => prop::collection::btree_map(nasty_string(), nasty_string(), 0..4),
    ]
}

fn mutate(mut config: Value, m: &Mutation) -> Value {
    let mut all = vec![];
    paths(&config, &mut vec![], &mut all);
    let at = |i: usize| all[i % all.len()].clone();
    let set = |config: &mut Value, path: &[String], value: Option<Value>| {
        let mut node = &mut *config;
        for k in &path[..path.len() - 1] {
            node = node.get_mut(k).unwrap();
        }
        let map = node.as_object_mut().unwrap();
        match value {
            Some(v) => map.insert(path.last().unwrap().clone(), v),
            None => map.remove(path.last().unwrap()),
        };
    };
    match m {
        Mutation::Set(i, v) if !all.is_empty() => set(&mut config, &at(*i), Some(v.clone())),
        Mutation::Remove(i) if !all.is_empty() => set(&mut config, &at(*i), None),
        Mutation::Add(k, v) => {
            if let Some(map) = config.as_object_mut() {
                map.insert(k.clone(), v.clone());
            }
        }
        _ => {}
    }
    config
}

/// A delivery as the scheduler would hold it, with a topic and metadata that the publish
/// edge accepted (the caller filters them through the edge's own checks).
fn delivery(topic: &str, metadata: BTreeMap<String, String>, payload: &Value) -> QueuedDelivery {
    QueuedDelivery {
        delivery_id: DeliveryId::generate(1, 7),
        tenant_id: TenantId::parse("acme").unwrap(),
        event_id: EventId::parse("evt-1").unwrap(),
        topic: topic.into(),
        payload: payload.to_string(),
        metadata,
        attempts: 0,
        due_at: 0,
        created_at: NOW,
        manual: None,
        shard: Default::default(),
    }
}

/// Every type: the base config is valid (so mutations start from something accepted).
#[test]
fn every_type_has_a_valid_base_config() {
    for kind in TYPES {
        let target =
            Target::parse(kind, base_config(kind)).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
        assert_eq!(target.check(false), vec![], "{kind}");
        let masked = target.masked().to_string();
        assert!(!masked.contains(SECRET), "{kind}: {masked}");
        assert!(
            !masked.contains(&SECRET.replace('-', "")),
            "{kind}: {masked}"
        );
        assert!(!masked.contains(pubsub_key_body()), "{kind}: {masked}");
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Any JSON as the config of any type: a config or an error naming a `config…` field.
    #[test]
    fn any_json_config_parses_or_is_refused(kind in prop::sample::select(TYPES.to_vec()), config in arb_json(4)) {
        match Target::parse(kind, config) {
            Ok(target) => {
                for e in target.check(false).into_iter().chain(target.check(true)) {
                    prop_assert!(e.field.starts_with("config"), "{:?}", e);
                }
                let _ = target.masked();
            }
            Err(e) => prop_assert!(e.field.starts_with("config"), "{:?}", e),
        }
    }
}

proptest! {
    #![proptest_config(config(160))]

    /// A valid config with one field changed to anything: refused with named fields, or
    /// accepted, and then: no credential in its masked form, no private address unless
    /// allowed, and the request built from it carries only header-safe names and values,
    /// whatever topic and metadata the publish edge let through.
    #[test]
    fn mutated_configs_stay_safe(
        kind in prop::sample::select(TYPES.to_vec()),
        mutation in arb_mutation(),
        topic in prop_oneof![4 => valid_topic(), 1 => nasty_string()],
        metadata in arb_metadata(),
        payload in arb_json(3),
    ) {
        let config = mutate(base_config(kind), &mutation);
        let Ok(target) = Target::parse(kind, config) else { return Ok(()) };
        let errors = target.check(false);
        for e in &errors {
            prop_assert!(e.field.starts_with("config"), "{:?}", e);
        }
        if !errors.is_empty() {
            return Ok(());
        }
        let masked = target.masked().to_string();
        prop_assert!(!masked.contains(SECRET), "{}", masked);
        prop_assert!(!masked.contains(&SECRET.replace('-', "")), "{}", masked);
        prop_assert!(!masked.contains(pubsub_key_body()), "{}", masked);

        // What the publish edge accepts (topic and metadata) is all the event adds.
        let edge_ok = validate_topic(&topic).is_ok() && check_metadata("metadata", &metadata).is_empty();
        if !edge_ok {
            return Ok(());
        }
        let secrets = SecretBundle {
            config: target.to_json(),
            signing_keys: vec![SigningKey { secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(), expires_at: None }],
        };
        // An access token in hand, as after a token exchange (Pub/Sub builds need one).
        let tokens = Rc::new(RefCell::new(Some(AccessToken { token: "ya29.token".into(), refresh_at: NOW + 3_600_000 })));
        let provider = for_target(&target, &secrets, &tokens, NOW);
        let batch = [delivery(&topic, metadata, &payload)];
        let n = provider.fit(&batch);
        prop_assert!(n <= batch.len());
        if let Ok(Outbound::Http(req)) = provider.build(&batch, NOW) {
            prop_assert!(url::Url::parse(&req.url).is_ok(), "{}", req.url);
            for (name, value) in &req.headers {
                prop_assert!(check_header_name(name).is_ok(), "header name {:?}", name);
                prop_assert!(!value.contains(['\r', '\n', '\0']), "header {}: {:?}", name, value);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tenant tokens

const KEY: &str = "c2x1aWNlLWRldi1lbmNyeXB0aW9uLWtleS0zMmJ5dGU=";

fn jwt_ish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "eyJ[A-Za-z0-9_\\-]{0,40}\\.[A-Za-z0-9_\\-=+/]{0,60}\\.[A-Za-z0-9_\\-]{0,50}",
        "[A-Za-z0-9_.\\-]{0,120}",
    ]
}

proptest! {
    #![proptest_config(config(500))]

    /// No string verifies without the key, and none panics the verifier.
    #[test]
    fn arbitrary_tokens_are_refused(token in jwt_ish()) {
        let key = TokenKey::derive(KEY).unwrap();
        prop_assert!(tokens::verify(&key, &token, NOW).is_err());
    }

    /// A real token changed at any one place is refused; unchanged it verifies until `exp`.
    #[test]
    fn tampered_or_expired_tokens_are_refused(
        tenant in "[a-z0-9_.:-]{1,20}",
        ttl in tokens::MIN_TTL_SECS..=tokens::MAX_TTL_SECS,
        at in any::<prop::sample::Index>(),
        with in "[A-Za-z0-9_.=+/-]",
    ) {
        let key = TokenKey::derive(KEY).unwrap();
        let (token, claims) = tokens::mint(&key, &tenant, "portal:p", NOW, ttl).unwrap();
        prop_assert_eq!(tokens::verify(&key, &token, NOW), Ok(claims.clone()));
        prop_assert!(tokens::verify(&key, &token, NOW + ttl as i64 * 1000).is_err());
        let i = at.index(token.len());
        let mut forged = token.clone();
        forged.replace_range(i..i + 1, &with);
        if forged != token {
            prop_assert!(tokens::verify(&key, &forged, NOW).is_err(), "{} verified", forged);
        }
        let other = TokenKey::derive("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=").unwrap();
        prop_assert!(tokens::verify(&other, &token, NOW).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies: a failure is named by where the reader stopped (core::validate)

/// A valid body's text with a few bytes cut, doubled or replaced: still read without a panic,
/// and a body of the wrong shape names a field of the body (or the body itself).
fn mangled(text: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let len = text.len();
    prop::collection::vec(
        (
            0..len,
            0u8..3,
            prop::sample::select(b"{}[]:,\"0a \xc3\xa9".to_vec()),
        ),
        1..4,
    )
    .prop_map(move |edits| {
        let mut bytes = text.as_bytes().to_vec();
        for (at, how, byte) in edits {
            let at = at.min(bytes.len().saturating_sub(1));
            match how {
                0 => {
                    bytes.remove(at);
                }
                1 => bytes.insert(at, byte),
                _ => bytes[at] = byte,
            }
        }
        bytes
    })
}

const DESTINATION: &str = r#"{"type":"webhook","topics":["orders.*"],"config":{"url":"https://example.com/h","auth":{"type":"bearer","token":"t"},"headers":{"x-a":"b"}},"filter":{"data":{"n":{"$gt":1}}},"retry":{"max_attempts":3}}"#;
const PUBLISH: &str = r#"{"tenant_id":"acme","topic":"orders.created","data":{"id":[1,2,{"x":"\u00e9"}]},"id":"evt_1","metadata":{"k":"v"}}"#;

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn mangled_bodies_are_refused_with_a_field_or_as_malformed(
        destination in mangled(DESTINATION),
        publish in mangled(PUBLISH),
    ) {
        for result in [
            from_slice::<sluice::core::destination::DestinationInput>(&destination, "").map(|_| ()),
            from_slice::<sluice::core::publish::PublishRequest>(&publish, "").map(|_| ()),
        ] {
            if let Err(BodyError::Field(e)) = result {
                prop_assert!(!e.field.is_empty() && !e.field.starts_with('.'), "{:?}", e);
            }
        }
    }
}
