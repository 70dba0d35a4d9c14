//! Unit tests of filter parsing and its bounds (depth, size, the regex budget), and of the
//! matcher's robustness. The semantics table written from Hookdeck's documentation is in
//! `hookdeck_tests.rs`.

use super::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn event(data: Value) -> Value {
    let metadata = BTreeMap::from([
        ("source".to_string(), "shop".to_string()),
        ("region".to_string(), "eu-west".to_string()),
    ]);
    document(
        "evt_1",
        "order.created",
        "2026-12-06T10:00:00.000Z",
        &metadata,
        data,
    )
}

#[test]
fn the_document_is_the_whole_event() {
    let metadata = BTreeMap::from([("k".to_string(), "v".to_string())]);
    let doc = document(
        "evt_1",
        "order.paid",
        "2026-12-06T10:00:00.123Z",
        &metadata,
        json!({"a": 1}),
    );
    assert_eq!(
        doc,
        json!({
            "id": "evt_1",
            "topic": "order.paid",
            "time": "2026-12-06T10:00:00.123Z",
            "metadata": {"k": "v"},
            "data": {"a": 1},
        })
    );
}

#[test]
fn invalid_table() {
    // (path, operator or "", filter)
    let cases: Vec<(&str, &str, Value)> = vec![
        ("", "", json!([])),
        ("", "", json!("data")),
        ("payload", "", json!({"payload": {}})),
        ("$eq", "$eq", json!({"$eq": 1})),
        ("$foo", "$foo", json!({"$foo": 1})),
        ("data.x.$foo", "$foo", json!({"data": {"x": {"$foo": 1}}})),
        ("data.a.$gt", "$gt", json!({"data": {"a": {"$gt": {}}}})),
        ("data.a.$gte", "$gte", json!({"data": {"a": {"$gte": [1]}}})),
        ("data.a.$lt", "$lt", json!({"data": {"a": {"$lt": null}}})),
        (
            "data.a.$lte",
            "$lte",
            json!({"data": {"a": {"$lte": true}}}),
        ),
        ("data.a.$in", "$in", json!({"data": {"a": {"$in": 1}}})),
        ("data.a.$nin", "$nin", json!({"data": {"a": {"$nin": {}}}})),
        (
            "data.a.$startsWith",
            "$startsWith",
            json!({"data": {"a": {"$startsWith": 1}}}),
        ),
        (
            "data.a.$startsWith",
            "$startsWith",
            json!({"data": {"a": {"$startsWith": ["a", 1]}}}),
        ),
        (
            "data.a.$endsWith",
            "$endsWith",
            json!({"data": {"a": {"$endsWith": null}}}),
        ),
        (
            "data.a.$regex",
            "$regex",
            json!({"data": {"a": {"$regex": 1}}}),
        ),
        (
            "data.a.$regex",
            "$regex",
            json!({"data": {"a": {"$regex": "(unclosed"}}}),
        ),
        (
            "data.a.$regex",
            "$regex",
            json!({"data": {"a": {"$regex": "a".repeat(MAX_REGEX_LEN + 1)}}}),
        ),
        (
            "data.a.$regex",
            "$regex",
            json!({"data": {"a": {"$regex": "((a{50}){50}){50}"}}}),
        ),
        (
            "data.a.$regex",
            "$regex",
            json!({"data": {"a": {"$regex": "(a{1,20}){1,20}x"}}}),
        ),
        (
            "data.a.$exist",
            "$exist",
            json!({"data": {"a": {"$exist": "yes"}}}),
        ),
        ("data.a.$ref", "$ref", json!({"data": {"a": {"$ref": 1}}})),
        // `$ref` paths start at the event document.
        (
            "data.a.$ref",
            "$ref",
            json!({"data": {"a": {"$ref": "price"}}}),
        ),
        (
            "data.a.$gt.$ref",
            "$ref",
            json!({"data": {"a": {"$gt": {"$ref": "data.x[y]"}}}}),
        ),
        (
            "data.a.$and",
            "$and",
            json!({"data": {"a": {"$and": {"b": 1}}}}),
        ),
        ("$and", "$and", json!({"$and": {"data": {}}})),
        // At the top, the items are filters of the whole event: a plain value never matches.
        ("$or", "$or", json!({"$or": [1]})),
        ("$not", "$not", json!({"$not": []})),
        (
            "$or[1].oops",
            "",
            json!({"$or": [{"data": {}}, {"oops": 1}]}),
        ),
        ("$not.$gt", "$gt", json!({"$not": {"$gt": 1}})),
        (
            "data.$or[0].a.$bad",
            "$bad",
            json!({"data": {"$or": [{"a": {"$bad": 1}}]}}),
        ),
        (
            "data.a[0].$bad",
            "$bad",
            json!({"data": {"a": [{"$bad": 1}]}}),
        ),
    ];
    for (path, operator, filter) in cases {
        let errors = Filter::parse(&filter).expect_err(&filter.to_string());
        let first = &errors[0];
        assert_eq!(first.path, path, "{filter}: {errors:?}");
        let expected = (!operator.is_empty()).then_some(operator);
        assert_eq!(first.operator.as_deref(), expected, "{filter}: {errors:?}");
        assert!(!first.message.is_empty());
    }
}

#[test]
fn every_error_is_reported() {
    let errors =
        Filter::parse(&json!({"data": {"a": {"$gt": []}, "b": {"$in": 1}}, "x": 1})).unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["data.a.$gt", "data.b.$in", "x"]);
}

fn nested(levels: usize) -> Value {
    // `levels` objects in all: the top one, `data`, then `a`s, ending in a literal.
    let mut value = json!(1);
    for _ in 0..levels.saturating_sub(1) {
        value = json!({"a": value});
    }
    json!({"data": value})
}

#[test]
fn nesting_is_bounded() {
    assert!(Filter::parse(&nested(MAX_DEPTH)).is_ok());
    let errors = Filter::parse(&nested(MAX_DEPTH + 1)).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].path,
        format!("data{}", ".a".repeat(MAX_DEPTH - 1))
    );
    // Depth counts arrays in literals too, and a very deep document is refused quickly.
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    assert!(Filter::parse(&json!({"data": {"a": {"$eq": deep}}})).is_err());
}

#[test]
fn size_is_bounded() {
    let list: Vec<u32> = (0..MAX_NODES as u32).collect();
    let errors = Filter::parse(&json!({"data": {"a": {"$in": list}}})).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("256"), "{errors:?}");
    let list: Vec<u32> = (0..(MAX_NODES - 4) as u32).collect();
    assert!(Filter::parse(&json!({"data": {"a": {"$in": list}}})).is_ok());
}

/// `{"data": {"f0": {"$regex": p}, "f1": …}}` with `n` regexes.
fn regexes(n: usize, pattern: &str) -> Value {
    let fields: Map<String, Value> = (0..n)
        .map(|i| (format!("f{i}"), json!({"$regex": pattern})))
        .collect();
    json!({"data": fields})
}

#[test]
fn regexes_per_filter_are_capped() {
    assert!(Filter::parse(&regexes(MAX_REGEXES, "^a")).is_ok());
    let errors = Filter::parse(&regexes(MAX_REGEXES + 5, "^a")).unwrap_err();
    // Named once, at the first one over the cap (keys sort: f0, f1, f10, f11, f12, f2, …).
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].operator.as_deref(), Some("$regex"));
    assert!(errors[0].path.starts_with("data.f"), "{errors:?}");
    assert!(errors[0].message.contains("at most 8 $regex"), "{errors:?}");
    // Anywhere in the filter: under $or, $not and arrays alike.
    let spread = json!({"$or": [
        {"data": {"a": {"$regex": "x"}, "b": {"$not": {"$regex": "y"}}}},
        {"topic": {"$regex": "z"}, "data": {"c": [{"$regex": "1"}, {"$regex": "2"}]}},
        {"metadata": {"d": {"$regex": "3"}, "e": {"$regex": "4"}, "f": {"$regex": "5"}, "g": {"$regex": "6"}}},
    ]});
    let errors = Filter::parse(&spread).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "$or[2].metadata.g.$regex");
}

#[test]
fn regexes_total_compiled_size_is_capped() {
    // A 25-word alternation compiles to ~6.8 KiB, charged 8 KiB: two fit, the third does not.
    let words: Vec<String> = (0..25).map(|i| format!("word{i:04}")).collect();
    let big = format!("^({})$", words.join("|"));
    assert!(Filter::parse(&regexes(2, &big)).is_ok());
    let errors = Filter::parse(&regexes(3, &big)).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "data.f2.$regex");
    assert!(errors[0].message.contains("16 KiB"), "{errors:?}");
    // Small patterns are charged 1 KiB each: the count cap binds first.
    assert!(Filter::parse(&regexes(MAX_REGEXES, r"^[a-z]+@example\.com$")).is_ok());
}

#[test]
fn a_regex_scans_bounded_text() {
    let filter = Filter::parse(&json!({"data": {"s": {"$regex": "a$"}}})).unwrap();
    let not = Filter::parse(&json!({"data": {"s": {"$not": {"$regex": "a$"}}}})).unwrap();
    let fits = "a".repeat(MAX_REGEX_TEXT);
    assert!(filter.matches(&event(json!({"s": fits}))));
    let longer = "a".repeat(MAX_REGEX_TEXT + 1);
    assert!(!filter.matches(&event(json!({"s": longer}))));
    assert!(not.matches(&event(json!({"s": longer}))));
}

#[test]
fn catastrophic_regex_runs_in_bounded_time() {
    let filter = Filter::parse(&json!({"data": {"s": {"$regex": "(a+)+$"}}}))
        .expect("regex-lite has no backtracking, so this pattern is safe");
    let mut s = "a".repeat(MAX_REGEX_TEXT - 1);
    s.push('!');
    let ev = event(json!({"s": s}));
    let start = Instant::now();
    assert!(!filter.matches(&ev));
    let filter = Filter::parse(&json!({"data": {"s": {"$regex": "^(a+)+$"}}})).unwrap();
    assert!(!filter.matches(&ev));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn realistic_regexes_fit_the_size_limit() {
    let words: Vec<String> = (0..25).map(|i| format!("word{i:04}")).collect();
    let patterns = [
        r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$".to_string(),
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$".to_string(),
        r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$".to_string(),
        r"(?i)^(foo|bar|baz)-[a-z0-9]{1,32}$".to_string(),
        format!("^({})$", words.join("|")),
    ];
    for pattern in patterns {
        let filter = json!({"data": {"s": {"$regex": pattern}}});
        assert!(Filter::parse(&filter).is_ok(), "{pattern}");
    }
}

#[test]
fn odd_events_never_panic() {
    let filters = [
        json!({"data": {"a": {"b": {"$gt": 1}}}, "topic": {"$regex": "x"}}),
        json!({"$or": [{"data": {"$contains": 1}}, {"metadata": {"$exist": false}}]}),
        json!({"$not": {"data": [1, {"a": 2}]}}),
        json!({"data": {"a": {"$in": [[1], {"x": 1}, null]}, "b": {"$nin": []}}}),
        json!({"data": {"a": {"$eq": {"$ref": "data.a[$index][$index].b"}}}}),
        json!({"data": {"a": {"$ref": "data.b[0]"}, "c": {"$gt": {"$ref": "time"}}}}),
    ];
    let events = [
        Value::Null,
        json!([]),
        json!("data"),
        json!({"data": null}),
        json!({"data": [[[1]], {"a": [null, {"b": "2"}]}]}),
        json!({"data": {"a": 1e308, "b": -0.0}, "topic": 5, "metadata": []}),
        json!({"data": {"a": [[{"b": 1}]], "b": {"x": [1]}}}),
    ];
    for f in &filters {
        let filter = Filter::parse(f).unwrap();
        for e in &events {
            let _ = filter.matches(e);
        }
    }
    // A non-object event has no fields: an empty filter asks for an object.
    assert!(Filter::parse(&json!({})).unwrap().matches(&json!({})));
    assert!(!Filter::parse(&json!({})).unwrap().matches(&Value::Null));
    assert!(!Filter::parse(&json!({"topic": "x"}))
        .unwrap()
        .matches(&json!([])));
}

#[test]
fn serde_keeps_the_original_json() {
    let source = json!({"data": {"amount": {"$gte": 1}}, "topic": "order.created"});
    let filter: Filter = serde_json::from_value(source.clone()).unwrap();
    assert_eq!(filter.as_json(), &source);
    assert_eq!(serde_json::to_value(&filter).unwrap(), source);
    assert!(filter.matches(&event(json!({"amount": 3}))));
    let err = serde_json::from_value::<Filter>(json!({"data": {"a": {"$gt": []}}}))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("filter.data.a.$gt: $gt takes"), "{err}");
}

#[test]
fn one_evaluation_scans_bounded_text_in_all() {
    // A 1 KiB regex tested inside an array: 4 KiB strings cost 4 KiB units each, so the
    // budget covers 16 of them; past it, a `$regex` does not match.
    let filter = Filter::parse(&json!({"data": {"items": {"s": {"$regex": "a$"}}}})).unwrap();
    let with_match_at = |at: usize| {
        let items: Vec<Value> = (0..=at)
            .map(|i| {
                let c = if i == at { "a" } else { "b" };
                json!({"s": c.repeat(MAX_REGEX_TEXT)})
            })
            .collect();
        event(json!({ "items": items }))
    };
    let fits = REGEX_SCAN_BUDGET / MAX_REGEX_TEXT;
    assert!(filter.matches(&with_match_at(fits - 1)));
    assert!(!filter.matches(&with_match_at(fits)));
    // The budget is per evaluation, not per filter.
    assert!(filter.matches(&with_match_at(fits - 1)));
}

#[test]
fn a_referenced_array_or_object_must_equal_the_value() {
    let filter = Filter::parse(&json!({"data": {"a": {"$ref": "data.b"}}})).unwrap();
    assert!(filter.matches(&event(json!({"a": [1, 2], "b": [1, 2]}))));
    assert!(!filter.matches(&event(json!({"a": [1, 2], "b": [1]}))));
    assert!(filter.matches(&event(json!({"a": {"x": 1}, "b": {"x": 1.0}}))));
    assert!(!filter.matches(&event(json!({"a": {"x": 1, "y": 2}, "b": {"x": 1}}))));
    // A referenced `$` key is data, not an operator.
    assert!(!filter.matches(&event(json!({"a": 5, "b": {"$gt": 1}}))));
    // Two large arrays of the payload cost their sizes added, not multiplied.
    let big: Vec<u32> = (0..50_000).collect();
    let mut other = big.clone();
    other[49_999] = 0;
    let start = Instant::now();
    assert!(!filter.matches(&event(json!({"a": big, "b": other}))));
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_stored_filter_keeps_working_past_the_regex_caps() {
    // Saved before the caps: it still compiles from storage, and matches as it did.
    let stored = regexes(MAX_REGEXES + 4, "^a");
    assert!(Filter::parse(&stored).is_err());
    let filter = Filter::parse_stored(&stored).unwrap();
    let fields: Map<String, Value> = (0..MAX_REGEXES + 4)
        .map(|i| (format!("f{i}"), json!("abc")))
        .collect();
    assert!(filter.matches(&event(Value::Object(fields))));
    // Every other rule still holds.
    assert!(Filter::parse_stored(&json!({"data": {"a": {"$regex": "("}}})).is_err());
}
