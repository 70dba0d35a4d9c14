use super::*;
use serde_json::json;

fn metadata() -> BTreeMap<String, String> {
    [("region".to_string(), "eu".to_string())].into()
}

fn data() -> Value {
    json!({
        "id": "ord_1", "amount": 4200, "paid": true, "note": null, "name": "Jane \"J\" Doe",
        "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}],
        "customer": {"id": "cus_9", "tags": ["vip"]}
    })
}

fn apply(transform: Value) -> Value {
    let t = Transform::compile(&transform).unwrap_or_else(|e| panic!("{transform}: {e:?}"));
    let (d, m) = (data(), metadata());
    let subject = Subject {
        data: &d,
        metadata: &m,
        topic: "order.paid",
        event_id: "evt_1",
        tenant_id: "acme",
        delivery_id: "dlv_1",
        attempt: 2,
        timestamp: "2026-11-23T12:00:00.000Z",
    };
    serde_json::from_str(&t.apply(&subject).unwrap()).unwrap()
}

#[test]
fn rendering_table() {
    let cases: Vec<(Value, Value)> = vec![
        // No placeholders: copied as is.
        (
            json!({"a": [1, {"b": null}], "c": "text"}),
            json!({"a": [1, {"b": null}], "c": "text"}),
        ),
        // A whole-string placeholder keeps the value's type.
        (json!("{{ data }}"), data()),
        (json!({"n": "{{data.amount}}"}), json!({"n": 4200})),
        (json!({"b": "{{ data.paid }}"}), json!({"b": true})),
        (
            json!({"o": "{{ data.customer }}"}),
            json!({"o": {"id": "cus_9", "tags": ["vip"]}}),
        ),
        (
            json!({"a": "{{ data.items }}"}),
            json!({"a": [{"sku": "A-1", "qty": 2}, {"sku": "B-2", "qty": 1}]}),
        ),
        (json!({"n": "  {{ data.amount }} "}), json!({"n": 4200})),
        // Nested paths and arrays.
        (
            json!({"sku": "{{ data.items[1].sku }}"}),
            json!({"sku": "B-2"}),
        ),
        (
            json!({"t": "{{ data.customer.tags[0] }}"}),
            json!({"t": "vip"}),
        ),
        (
            json!(["{{ topic }}", ["{{ data.id }}"]]),
            json!(["order.paid", ["ord_1"]]),
        ),
        // Text interpolation: strings raw, null/missing as nothing, the rest as JSON.
        (
            json!({"text": "Order {{data.id}} paid: {{data.amount}}"}),
            json!({"text": "Order ord_1 paid: 4200"}),
        ),
        (json!("by {{ data.name }}"), json!("by Jane \"J\" Doe")),
        (json!("[{{ data.note }}|{{ data.nope }}]"), json!("[|]")),
        (
            json!("c={{ data.customer }}"),
            json!("c={\"id\":\"cus_9\",\"tags\":[\"vip\"]}"),
        ),
        (json!("{{ data.id }}{{ data.amount }}"), json!("ord_14200")),
        // Missing paths: null as a whole value.
        (
            json!({"x": "{{ data.nope.deeper }}", "y": "{{ data.items[9] }}"}),
            json!({"x": null, "y": null}),
        ),
        (json!({"x": "{{ data.id.sub }}"}), json!({"x": null})),
        // Every root.
        (
            json!({"m": "{{ metadata }}", "r": "{{ metadata.region }}", "e": "{{ event_id }}",
                   "t": "{{ tenant_id }}", "d": "{{ delivery_id }}", "a": "{{ attempt }}",
                   "ts": "{{ timestamp }}", "missing": "{{ metadata.nope }}"}),
            json!({"m": {"region": "eu"}, "r": "eu", "e": "evt_1", "t": "acme", "d": "dlv_1",
                   "a": 2, "ts": "2026-11-23T12:00:00.000Z", "missing": null}),
        ),
        // Filters.
        (
            json!({"x": "{{ data.nope | default: \"n/a\" }}"}),
            json!({"x": "n/a"}),
        ),
        (
            json!({"x": "{{ data.note | default: 0 }}"}),
            json!({"x": 0}),
        ),
        (
            json!({"x": "{{ data.amount | default: 0 }}"}),
            json!({"x": 4200}),
        ),
        (
            json!("v={{ data.nope | default: \"a|b}}\" }}"),
            json!("v=a|b}}"),
        ),
        (
            json!({"x": "{{ data.name | truncate: 5 }}"}),
            json!({"x": "Jane…"}),
        ),
        (
            json!({"x": "{{ data.amount | truncate: 10 }}"}),
            json!({"x": "4200"}),
        ),
        (
            json!({"x": "{{ data.nope | default: \"abcdef\" | truncate: 3 }}"}),
            json!({"x": "ab…"}),
        ),
        // Escapes and stray braces.
        (json!("\\{{ data.id }}"), json!("{{ data.id }}")),
        (json!("a }} b { c"), json!("a }} b { c")),
        (json!("\\{{{{ data.id }}"), json!("{{ord_1")),
        // Object keys are literal.
        (json!({"{{ data.id }}": 1}), json!({"{{ data.id }}": 1})),
    ];
    for (transform, want) in cases {
        assert_eq!(apply(transform.clone()), want, "transform {transform}");
    }
}

#[test]
fn invalid_table() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"text": "{{ data.id"}), "/text", "no closing"),
        (json!({"text": "{{ }}"}), "/text", "not a path"),
        (
            json!({"a": ["ok", "{{ dat.id }}"]}),
            "/a/1",
            "unknown root 'dat'",
        ),
        (json!("{{ data..id }}"), "", "not a path"),
        (json!("{{ data.items[x] }}"), "", "not a path"),
        (json!("{{ data.items[0 }}"), "", "not a path"),
        (json!("{{ topic.x }}"), "", "only data and metadata"),
        (json!("{{ data | upper: 1 }}"), "", "unknown filter 'upper'"),
        (
            json!("{{ data | default: nope }}"),
            "",
            "not a JSON literal",
        ),
        (json!("{{ data | default: [1] }}"), "", "a string, number"),
        (json!("{{ data | default: {} }}"), "", "not a JSON literal"),
        (json!("{{ data | truncate: 0 }}"), "", "truncate"),
        (json!("{{ data | default }}"), "", "needs an argument"),
        (json!("{{ data x }}"), "", "expected '|'"),
        (
            json!({"a/b": {"c~d": "{{ nope }}"}}),
            "/a~1b/c~0d",
            "unknown root",
        ),
        (
            json!("{{ data.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q }}"),
            "",
            "at most 16 steps",
        ),
    ];
    for (transform, pointer, message) in cases {
        let errors = Transform::compile(&transform).expect_err(&transform.to_string());
        assert_eq!(errors.len(), 1, "{transform}: {errors:?}");
        assert_eq!(errors[0].pointer, pointer, "{transform}");
        assert!(
            errors[0].message.contains(message),
            "{transform}: {} lacks {message}",
            errors[0].message
        );
    }
}

#[test]
fn every_bad_string_is_reported_and_the_position_named() {
    let errors =
        Transform::compile(&json!({"a": "{{ x }}", "b": ["ok {{ y }}"], "c": "fine"})).unwrap_err();
    let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(pointers, vec!["/a", "/b/0"]);
    assert!(
        errors[1].message.starts_with("placeholder at character 3:"),
        "{}",
        errors[1].message
    );
    assert_eq!(
        errors[1].to_string().split(':').next(),
        Some("transform/b/0")
    );
}

#[test]
fn limits() {
    let big = json!({"text": "x".repeat(MAX_TEMPLATE_BYTES)});
    let e = Transform::compile(&big).unwrap_err();
    assert!(e[0].message.contains("at most 16384 bytes"), "{e:?}");

    let mut deep = json!("{{ data }}");
    for _ in 0..MAX_DEPTH {
        deep = json!({ "a": deep });
    }
    assert!(Transform::compile(&deep).is_ok(), "16 levels are allowed");
    let e = Transform::compile(&json!({ "a": deep })).unwrap_err();
    assert_eq!(e[0].pointer, format!("{}", "/a".repeat(MAX_DEPTH)));

    let many: Vec<Value> = (0..=MAX_PLACEHOLDERS)
        .map(|_| json!("{{ topic }}"))
        .collect();
    let e = Transform::compile(&Value::Array(many)).unwrap_err();
    assert!(e[0].message.contains("at most 128 placeholders"), "{e:?}");

    // The output is bounded: a data blob repeated as escaped text grows past the cap.
    let t = Transform::compile(&json!(["{{ data }}", "{{ data }}", "{{ data }}"])).unwrap();
    let blob = json!({"x": "y".repeat(MAX_OUTPUT_BYTES / 3 + 10)});
    let m = metadata();
    let subject = Subject {
        data: &blob,
        metadata: &m,
        topic: "t",
        event_id: "e",
        tenant_id: "t",
        delivery_id: "d",
        attempt: 1,
        timestamp: "",
    };
    let err = t.apply(&subject).unwrap_err();
    assert!(err.contains("more than the 524288 bytes allowed"), "{err}");
    // Inside text too: the string being built stops at the cap.
    let t = Transform::compile(&json!({"t": "{{ data }} {{ data }} {{ data }}"})).unwrap();
    let err = t.apply(&subject).unwrap_err();
    assert!(err.contains("more than the 524288 bytes allowed"), "{err}");
}

#[test]
fn serde_keeps_the_source_and_recompiles() {
    let source = json!({"text": "{{ data.id }}"});
    let t: Transform = serde_json::from_value(source.clone()).unwrap();
    assert_eq!(serde_json::to_value(&t).unwrap(), source);
    assert_eq!(t.as_json(), &source);
    assert!(serde_json::from_value::<Transform>(json!("{{ nope }}")).is_err());
}

#[test]
fn escaped_literals_stay_literal() {
    let filled = escape_literal("a {{ data.id }} b");
    assert_eq!(apply(json!(filled)), json!("a {{ data.id }} b"));
}
