//! The semantics table, written from Hookdeck's filter documentation and the README of
//! `simple-json-match` (the library Outpost evaluates filters with): each case is a payload,
//! a filter on that payload and the documented answer. Sluice evaluates filters against the
//! whole event, so each filter is put under `data` (and `$ref` paths start with `data.`);
//! every case is also run inside `$not`, which must invert it.

use super::*;
use serde_json::json;

/// (payload, filter of the payload, matches)
fn cases() -> Vec<(Value, Value, bool)> {
    let product = json!({"product": {"title": "Gift Card", "inventory": 5, "tags": ["gift", "something", "another"]}});
    let order = json!({"order": {"id": 123, "items": [{"id": 456, "title": "My product"}, {"id": 789, "title": "Other", "qty": 3}]}});
    let numbers = json!([1, 2, 3]);
    vec![
        // Simple primitives: matched if equal.
        (
            json!({"type": "order/created", "order": {"id": 123}}),
            json!({"type": "order/created"}),
            true,
        ),
        (
            json!({"type": "order/updated"}),
            json!({"type": "order/created"}),
            false,
        ),
        (json!({"type": 1}), json!({"type": "created"}), false),
        (json!({"type": 1}), json!({"type": 1}), true),
        (json!({"type": 1.0}), json!({"type": 1}), true),
        (json!({}), json!({"type": "created"}), false),
        (
            json!({"count": 1, "type": "created"}),
            json!({"count": 1}),
            true,
        ),
        (
            json!({"count": 1, "type": "created"}),
            json!({"count": 1, "type": "created"}),
            true,
        ),
        (
            json!({"count": 1}),
            json!({"count": 1, "type": "created"}),
            false,
        ),
        (json!({"ok": true}), json!({"ok": true}), true),
        (json!({"ok": true}), json!({"ok": false}), false),
        (json!({"ok": false}), json!({"ok": false}), true),
        (json!({"gone": null}), json!({"gone": null}), true),
        (json!({"gone": null}), json!({"gone": false}), false),
        (json!({"gone": false}), json!({"gone": null}), false),
        (json!({"zero": 0}), json!({"zero": false}), false),
        (json!({"empty": ""}), json!({"empty": ""}), true),
        (json!({"empty": ""}), json!({"empty": null}), false),
        // The payload itself may be a primitive ("Non-object match").
        (json!("/test"), json!("/test"), true),
        (json!("/test"), json!("/test2"), false),
        (json!(false), json!(false), true),
        (json!(1), json!(2), false),
        (json!(10), json!({"$gte": 5}), true),
        (json!({"test": true}), json!(true), false),
        // Nested objects.
        (product.clone(), json!({"product": {"inventory": 5}}), true),
        (product.clone(), json!({"product": {"inventory": 0}}), false),
        (
            product.clone(),
            json!({"product": {"title": "Gift Card", "inventory": 5}}),
            true,
        ),
        (product.clone(), json!({"product": {"missing": 5}}), false),
        (
            json!({"type": {"something": "created"}}),
            json!({"type": {"something": "created"}}),
            true,
        ),
        (
            json!({"type": {"something": "created"}}),
            json!({"type": {"something": "updated"}}),
            false,
        ),
        (
            json!({"type": {"something": "created"}}),
            json!({"type": 1}),
            false,
        ),
        (
            json!({"type": "created"}),
            json!({"type": {"something": "created"}}),
            false,
        ),
        (
            json!({"a": {"b": {"c": {"d": 1}}}}),
            json!({"a": {"b": {"c": {"d": 1}}}}),
            true,
        ),
        (
            json!({"a": {"b": {"c": {"d": 1}}}}),
            json!({"a": {"b": {"c": {"d": 2}}}}),
            false,
        ),
        // `{}` matches any object, never a primitive or a missing key.
        (json!({"a": 1}), json!({}), true),
        (json!(1), json!({}), false),
        (json!({"a": {"b": 1}}), json!({"a": {}}), true),
        (json!({"a": 1}), json!({"a": {}}), false),
        (json!({"a": 1}), json!({"b": {}}), false),
        (json!({"a": [{"b": 1}]}), json!({"a": {}}), true),
        (json!({"a": [1, 2]}), json!({"a": {}}), false),
        // Arrays are matched partially: a primitive is contained.
        (product.clone(), json!({"product": {"tags": "gift"}}), true),
        (product.clone(), json!({"product": {"tags": "nope"}}), false),
        (json!({"tags": []}), json!({"tags": "gift"}), false),
        (json!({"ids": [1, 2, 3]}), json!({"ids": 2}), true),
        (json!({"ids": [1, 2, 3]}), json!({"ids": 4}), false),
        (json!({"ids": [[1, 2], [3]]}), json!({"ids": 3}), true),
        (numbers.clone(), json!(3), true),
        (numbers.clone(), json!(4), false),
        // An array in the filter: every listed element must be contained.
        (
            product.clone(),
            json!({"product": {"tags": ["gift", "something"]}}),
            true,
        ),
        (
            product.clone(),
            json!({"product": {"tags": ["something", "gift"]}}),
            true,
        ),
        (
            product.clone(),
            json!({"product": {"tags": ["gift", "whatever"]}}),
            false,
        ),
        (
            product.clone(),
            json!({"product": {"tags": ["gift"]}}),
            true,
        ),
        (product.clone(), json!({"product": {"tags": []}}), true),
        (
            product.clone(),
            json!({"product": {"title": ["Gift Card"]}}),
            false,
        ),
        (json!({"ids": [1, 2, 3]}), json!({"ids": [3, 1]}), true),
        (
            json!({"ids": [1, 2, 3]}),
            json!({"ids": [1, 2, 3, 4]}),
            false,
        ),
        (numbers.clone(), json!([{"$eq": 3}]), true),
        (numbers.clone(), json!([{"$eq": 4}]), false),
        (numbers.clone(), json!([{"$gt": 2}, {"$lt": 2}]), true),
        (numbers.clone(), json!([{"$gt": 3}]), false),
        (json!({"m": [[1, 2], [3]]}), json!({"m": [[2, 1]]}), true),
        // ... and nested objects: one element matches the whole object.
        (
            order.clone(),
            json!({"order": {"items": {"id": 456}}}),
            true,
        ),
        (order.clone(), json!({"order": {"items": {"id": 1}}}), false),
        (
            order.clone(),
            json!({"order": {"items": {"id": 789, "qty": 3}}}),
            true,
        ),
        (
            order.clone(),
            json!({"order": {"items": {"id": 456, "qty": 3}}}),
            false,
        ),
        (
            order.clone(),
            json!({"order": {"items": [{"id": 456}, {"qty": 3}]}}),
            true,
        ),
        (
            order.clone(),
            json!({"order": {"items": [{"id": 456}, {"qty": 4}]}}),
            false,
        ),
        (
            order.clone(),
            json!({"order": {"items": {"qty": {"$gte": 3}}}}),
            true,
        ),
        (
            json!({"items": [{"inventory": 9}, {"inventory": 11}]}),
            json!({"items": {"inventory": {"$lte": 10}}}),
            true,
        ),
        (
            json!({"items": [{"inventory": 12}, {"inventory": 11}]}),
            json!({"items": {"inventory": {"$lte": 10}}}),
            false,
        ),
        // $eq / $neq: (deep) equality with the value itself.
        (json!({"count": 2}), json!({"count": {"$eq": 2}}), true),
        (json!({"count": 2}), json!({"count": {"$eq": 3}}), false),
        (json!({"count": 2}), json!({"count": {"$neq": 2}}), false),
        (json!({"count": 2}), json!({"count": {"$neq": 3}}), true),
        (
            json!({"type": "created"}),
            json!({"type": {"$eq": "created"}}),
            true,
        ),
        (
            json!({"type": "created"}),
            json!({"type": {"$neq": "created"}}),
            false,
        ),
        (
            json!({"tags": ["a", "b"]}),
            json!({"tags": {"$eq": ["a", "b"]}}),
            true,
        ),
        (
            json!({"tags": ["a", "b", "c"]}),
            json!({"tags": {"$eq": ["a", "b"]}}),
            false,
        ),
        (
            json!({"tags": ["a", "b"]}),
            json!({"tags": {"$eq": ["b", "a"]}}),
            false,
        ),
        (
            json!({"tags": ["a", "b"]}),
            json!({"tags": {"$neq": ["a", "b"]}}),
            false,
        ),
        (numbers.clone(), json!({"$eq": 3}), false),
        (numbers.clone(), json!({"$neq": 3}), true),
        (
            json!({"o": {"a": 1, "b": 2}}),
            json!({"o": {"$eq": {"b": 2, "a": 1}}}),
            true,
        ),
        (
            json!({"o": {"a": 1, "b": 2}}),
            json!({"o": {"$eq": {"a": 1}}}),
            false,
        ),
        (json!({"n": null}), json!({"n": {"$eq": null}}), true),
        (json!({"n": null}), json!({"n": {"$neq": null}}), false),
        (json!({"n": 0}), json!({"n": {"$neq": null}}), true),
        // $gt / $gte / $lt / $lte: numbers and strings.
        (json!({"count": 0}), json!({"count": {"$lt": 1}}), true),
        (json!({"count": 2}), json!({"count": {"$lt": 1}}), false),
        (
            json!({"count": 2}),
            json!({"count": {"$gt": 1, "$lt": 3}}),
            true,
        ),
        (
            json!({"count": 4}),
            json!({"count": {"$gt": 1, "$lt": 3}}),
            false,
        ),
        (json!({"count": 3}), json!({"count": {"$gte": 3}}), true),
        (json!({"count": 3}), json!({"count": {"$gt": 3}}), false),
        (json!({"count": 3}), json!({"count": {"$lte": 3}}), true),
        (json!({"price": 12.5}), json!({"price": {"$gt": 12}}), true),
        (
            json!({"price": 12.5}),
            json!({"price": {"$lt": 12.5}}),
            false,
        ),
        (
            product.clone(),
            json!({"product": {"inventory": {"$lte": 10}}}),
            true,
        ),
        (json!({"title": "a"}), json!({"title": {"$gt": "b"}}), false),
        (json!({"title": "c"}), json!({"title": {"$gt": "b"}}), true),
        (
            json!({"at": "2024-05-01T10:00:00Z"}),
            json!({"at": {"$gte": "2024-01-01"}}),
            true,
        ),
        (json!({"test": 1}), json!({"test": {"$gt": "0"}}), false),
        (json!({"ids": [5, 6]}), json!({"ids": {"$gt": 1}}), false),
        (json!({"o": {"a": 1}}), json!({"o": {"$gt": 0}}), false),
        // $in / $nin: a list holding the value, or a string contained in the value.
        (json!({"id": 123}), json!({"id": {"$in": [123, 456]}}), true),
        (
            json!({"id": 789}),
            json!({"id": {"$in": [123, 456]}}),
            false,
        ),
        (
            json!({"id": 123}),
            json!({"id": {"$nin": [123, 456]}}),
            false,
        ),
        (
            json!({"id": 789}),
            json!({"id": {"$nin": [123, 456]}}),
            true,
        ),
        (
            json!({"op": "created"}),
            json!({"op": {"$in": ["created", "deleted"]}}),
            true,
        ),
        (
            json!({"op": "updated"}),
            json!({"op": {"$nin": ["updated", "truncated"]}}),
            false,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$in": "text"}}),
            true,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$in": "nope"}}),
            false,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$nin": "some"}}),
            false,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$nin": "nope"}}),
            true,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$in": ["some", "text"]}}),
            false,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$in": ["some-text", "other"]}}),
            true,
        ),
        (
            json!({"tags": ["test", "other"]}),
            json!({"tags": {"$nin": "test"}}),
            false,
        ),
        (
            json!({"tags": ["test", "other"]}),
            json!({"tags": {"$in": ["test"]}}),
            false,
        ),
        (json!({"id": 123}), json!({"id": {"$in": "12"}}), false),
        (json!({"id": "1"}), json!({"id": {"$in": [1]}}), false),
        (json!({"n": null}), json!({"n": {"$in": [null, 1]}}), true),
        (json!({"ok": true}), json!({"ok": {"$in": [true]}}), true),
        // $startsWith / $endsWith: a string, or any of a list.
        (
            json!({"test": "some-text"}),
            json!({"test": {"$startsWith": "some"}}),
            true,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$startsWith": "text"}}),
            false,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$endsWith": "text"}}),
            true,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$endsWith": "some"}}),
            false,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$startsWith": ["some", "else"]}}),
            true,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$startsWith": ["something", "else"]}}),
            false,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$endsWith": ["some", "else"]}}),
            false,
        ),
        (
            json!({"test": "some-text"}),
            json!({"test": {"$endsWith": ["text", "else"]}}),
            true,
        ),
        (
            json!({"test": {"more": true}}),
            json!({"test": {"$startsWith": "text"}}),
            false,
        ),
        (
            json!({"test": 123}),
            json!({"test": {"$startsWith": "1"}}),
            false,
        ),
        (
            json!({"tags": ["some-text"]}),
            json!({"tags": {"$startsWith": "some"}}),
            false,
        ),
        // $exist.
        (
            json!({"test": "else"}),
            json!({"test": {"$exist": true}}),
            true,
        ),
        (
            json!({"test": "else"}),
            json!({"test": {"$exist": false}}),
            false,
        ),
        (
            json!({"test1": "else"}),
            json!({"test": {"$exist": true}}),
            false,
        ),
        (
            json!({"test1": "else"}),
            json!({"test": {"$exist": false}}),
            true,
        ),
        (
            json!({"test": null}),
            json!({"test": {"$exist": true}}),
            true,
        ),
        (
            json!({"test": {"a": 1}}),
            json!({"test": {"$exist": true}}),
            true,
        ),
        (
            json!({"a": {"b": {"c": "x"}}}),
            json!({"a": {"b": {"c": {"$exist": true}}}}),
            true,
        ),
        (
            json!({"a": {"b": {"c": "x"}}}),
            json!({"a": {"b": {"c": {"$exist": false}}}}),
            false,
        ),
        (
            json!({"a": {"b": {"d": "x"}}}),
            json!({"a": {"b": {"c": {"$exist": false}}}}),
            true,
        ),
        (
            json!({"a": {"b": {"d": "x"}}}),
            json!({"a": {"b": {"c": {"$exist": true}}}}),
            false,
        ),
        (
            json!({"a": {"t": "else"}}),
            json!({"a": {"t": {"$exist": true, "$in": "el"}}}),
            true,
        ),
        (
            json!({"a": {"t": "else"}}),
            json!({"a": {"t": {"$exist": true, "$in": "no"}}}),
            false,
        ),
        // $or / $and: any filter form, plain values included.
        (
            product.clone(),
            json!({"product": {"inventory": {"$or": [1, 5]}}}),
            true,
        ),
        (
            product.clone(),
            json!({"product": {"inventory": {"$or": [1, 2]}}}),
            false,
        ),
        (
            json!({"hello": "world"}),
            json!({"$or": [{"hello": "johny"}, {"hello": "mark"}]}),
            false,
        ),
        (
            json!({"hello": "world"}),
            json!({"$or": [{"hello": "johny"}, {"hello": "world"}]}),
            true,
        ),
        (
            json!({"test": true}),
            json!({"$or": [{"test": true}]}),
            true,
        ),
        (
            json!({"test": true}),
            json!({"$or": [{"test": false}]}),
            false,
        ),
        (
            json!({"test": true}),
            json!({"$and": [{"test": true}]}),
            true,
        ),
        (json!(1), json!({"$or": [1, 2]}), true),
        (json!(1), json!({"$or": [2, 3]}), false),
        (json!(1), json!({"$and": [1, 2]}), false),
        (json!(1), json!({"$and": [1, {"$lt": 2}]}), true),
        (
            json!({"t": {"s": "else"}}),
            json!({"t": {"$or": [{"s": true}, {"s": {"$in": "else"}}]}}),
            true,
        ),
        (
            json!({"t": {"s": "else"}}),
            json!({"t": {"$or": [{"s": true}, {"s": {"$in": "no"}}]}}),
            false,
        ),
        (
            json!({"t": {"s": "else"}}),
            json!({"t": {"$and": [{"s": {"$neq": null}}, {"s": {"$in": "else"}}]}}),
            true,
        ),
        (
            json!({"t": {"s": null}}),
            json!({"t": {"$and": [{"s": {"$neq": null}}, {"s": {"$in": "else"}}]}}),
            false,
        ),
        (
            json!({"t": {"a": "else"}}),
            json!({"t": {"a": {"$exist": true, "$or": ["else", "not"]}}}),
            true,
        ),
        (
            json!({"t": {"a": "else1"}}),
            json!({"t": {"a": {"$exist": true, "$or": ["else", "not"]}}}),
            false,
        ),
        (
            json!({"t": {"a": "else", "b": "not"}}),
            json!({"t": {"a": {"$or": ["else", "not"]}, "$and": [{"a": "else"}, {"b": "not"}]}}),
            true,
        ),
        (
            json!({"t": {"a": "else", "b": "not"}}),
            json!({"t": {"$and": [{"a": "else"}, {"b": "not1"}]}}),
            false,
        ),
        (
            json!({"age": 12, "type": "daily", "cities": ["lagos"]}),
            json!({"$and": [{"age": {"$gte": 10}}, {"$or": [{"type": "weekly"}, {"cities": "lagos"}]}]}),
            true,
        ),
        (
            json!({"age": 9, "type": "weekly"}),
            json!({"$and": [{"age": {"$gte": 10}}, {"$or": [{"type": "weekly"}, {"cities": "lagos"}]}]}),
            false,
        ),
        (
            json!({"t": {"b": "x"}}),
            json!({"$or": [{"t": {"a": {"$exist": true}}}, {"t": {"b": "x"}}]}),
            true,
        ),
        (
            json!({"t": {"b": "x"}}),
            json!({"$or": [{"t": {"a": {"$exist": true}}}, {"t": {"b": "y"}}]}),
            false,
        ),
        (
            json!({"t": {"a": 1}}),
            json!({"$and": [{"t": {"a": {"$exist": true}}}, {"t": {"b": {"$exist": false}}}]}),
            true,
        ),
        (json!({"x": 1}), json!({"x": {"$or": []}}), false),
        (json!({"x": 1}), json!({"x": {"$and": []}}), true),
        // $not: around any form, plain values included.
        (
            json!({"type": "created"}),
            json!({"type": {"$not": "created"}}),
            false,
        ),
        (
            json!({"type": "created"}),
            json!({"type": {"$not": "deleted"}}),
            true,
        ),
        (
            json!({"type": "created"}),
            json!({"type": {"$not": {"$in": ["a", "b"]}}}),
            true,
        ),
        (
            json!({"tags": ["a", "b"]}),
            json!({"tags": {"$not": "a"}}),
            false,
        ),
        (
            json!({"tags": ["a", "b"]}),
            json!({"tags": {"$not": ["b", "c"]}}),
            true,
        ),
        (
            json!({"t": {"a": "else", "b": "not"}}),
            json!({"$not": {"t": {"a": "else2"}}, "$and": [{"t": {"a": "else"}}, {"t": {"b": "not"}}]}),
            true,
        ),
        (
            json!({"t": {"a": "else", "b": "not"}}),
            json!({"$not": {"t": {"a": "else"}}, "$or": [{"t": {"c": {"$exist": true}}}, {"t": {"b": "not"}}]}),
            false,
        ),
        (
            json!({"t": {"a": "else", "b": "not"}}),
            json!({"$not": {"t": {"a": {"$exist": false}}}, "$or": [{"t": {"c": {"$exist": false}}}, {"t": {"b": "x"}}]}),
            true,
        ),
        // $ref: another field of the same document, as a value or as an operand.
        (
            json!({"updated_at": "2020-04-20", "created_at": "2020-04-20"}),
            json!({"updated_at": {"$ref": "data.created_at"}}),
            true,
        ),
        (
            json!({"updated_at": "2020-05-20", "created_at": "2020-04-20"}),
            json!({"updated_at": {"$ref": "data.created_at"}}),
            false,
        ),
        (
            json!({"inventory": 0, "old_inventory": 10}),
            json!({"inventory": {"$lte": {"$ref": "data.old_inventory"}}}),
            true,
        ),
        (
            json!({"inventory": 11, "old_inventory": 10}),
            json!({"inventory": {"$lte": {"$ref": "data.old_inventory"}}}),
            false,
        ),
        (
            json!({"a": true, "b": true}),
            json!({"b": {"$ref": "data.a"}}),
            true,
        ),
        (
            json!({"a": true, "b": false}),
            json!({"b": {"$ref": "data.a"}}),
            false,
        ),
        (
            json!({"a": 1, "b": 2}),
            json!({"b": {"$gt": {"$ref": "data.a"}}}),
            true,
        ),
        (
            json!({"types": ["something", "else"], "t": "else"}),
            json!({"types": {"$ref": "data.t"}}),
            true,
        ),
        (
            json!({"types": ["something", "else"], "t": "else"}),
            json!({"t": {"$ref": "data.types[1]"}}),
            true,
        ),
        (
            json!({"types": ["something", "else"], "t": "else"}),
            json!({"t": {"$ref": "data.types[0]"}}),
            false,
        ),
        (
            json!({"cur": {"s": true}, "other": {"t": true}}),
            json!({"other": {"t": {"$ref": "data.cur.s"}}}),
            true,
        ),
        (
            json!({"a": 1}),
            json!({"a": {"$ref": "data.missing"}}),
            false,
        ),
        (
            json!({"a": 1}),
            json!({"a": {"$eq": {"$ref": "data.missing"}}}),
            false,
        ),
        (
            json!({"variants": [{"updated_at": "2020-05-20", "created_at": "2020-04-20"}, {"updated_at": "2020-04-20", "created_at": "2020-04-20"}]}),
            json!({"variants": {"updated_at": {"$ref": "data.variants[$index].created_at"}}}),
            true,
        ),
        (
            json!({"variants": [{"updated_at": "2020-05-20", "created_at": "2020-04-20"}]}),
            json!({"variants": {"updated_at": {"$ref": "data.variants[$index].created_at"}}}),
            false,
        ),
        (
            json!({"test": [{"a": 2, "b": 1}, {"a": 2, "b": 2}]}),
            json!({"test": {"a": {"$eq": {"$ref": "data.test[$index].b"}}}}),
            true,
        ),
        (
            json!({"test": [{"a": [{"b": 3, "c": 3}]}, {"a": [{"b": 2, "c": 3}]}]}),
            json!({"test": {"a": {"b": {"$ref": "data.test[$index].a[$index].c"}}}}),
            true,
        ),
        (
            json!({"test": [{"a": [{"b": 3, "c": 4}]}, {"a": [{"b": 2, "c": 3}]}]}),
            json!({"test": {"a": {"b": {"$ref": "data.test[$index].a[$index].c"}}}}),
            false,
        ),
        (
            json!({"cur": {"a": "a"}, "prev": {"a": "test"}}),
            json!({"cur": {"$and": [{"a": {"$neq": null}}, {"a": {"$neq": {"$ref": "data.prev.a"}}}]}}),
            true,
        ),
        (
            json!({"cur": {"a": "test"}, "prev": {"a": "test"}}),
            json!({"cur": {"a": {"$neq": {"$ref": "data.prev.a"}}}}),
            false,
        ),
        (
            json!({"p": "ab", "s": "a"}),
            json!({"p": {"$startsWith": {"$ref": "data.s"}}}),
            true,
        ),
        (
            json!({"p": "ab", "l": ["x", "ab"]}),
            json!({"p": {"$in": {"$ref": "data.l"}}}),
            true,
        ),
    ]
}

/// Filters of the whole event: `id`, `time`, `topic`, `metadata` beside `data`.
fn event_cases() -> Vec<(Value, bool)> {
    vec![
        (json!({"id": "evt_1"}), true),
        (json!({"id": {"$startsWith": "evt_"}}), true),
        (json!({"id": "evt_2"}), false),
        (json!({"time": {"$gte": "2026-12-01T00:00:00.000Z"}}), true),
        (json!({"time": {"$lt": "2026-12-06T10:00:00.000Z"}}), false),
        (json!({"time": {"$exist": true}}), true),
        (json!({"topic": "order.paid"}), true),
        (
            json!({"topic": {"$in": ["order.paid", "order.refunded"]}}),
            true,
        ),
        (
            json!({"topic": {"$endsWith": [".paid", ".refunded"]}}),
            true,
        ),
        (json!({"topic": {"$regex": "^order\\."}}), true),
        (json!({"topic": {"$regex": "^refund"}}), false),
        (json!({"metadata": {"region": "eu"}}), true),
        (json!({"metadata": {"region": {"$neq": "us"}}}), true),
        (json!({"metadata": {"nope": {"$exist": false}}}), true),
        (json!({"metadata": {"nope": "x"}}), false),
        (
            json!({"data": {"price": {"$gte": {"$ref": "data.floor"}}}}),
            true,
        ),
        (
            json!({"data": {"region": {"$ref": "metadata.region"}}}),
            true,
        ),
        (json!({"data": {"kind": {"$ref": "topic"}}}), false),
        (
            json!({"$or": [{"topic": "x"}, {"data": {"price": 20}}]}),
            true,
        ),
        (
            json!({"$and": [{"topic": "order.paid"}, {"metadata": {"region": "us"}}]}),
            false,
        ),
        (json!({"$not": {"topic": "order.refunded"}}), true),
        (
            json!({"data": {"tags": {"$contains": "vip"}}, "topic": "order.paid"}),
            true,
        ),
        (json!({"data": {"email": {"$contains": "@example"}}}), true),
    ]
}

#[test]
fn hookdeck_documented_semantics() {
    let cases = cases();
    assert!(cases.len() >= 150, "{} cases", cases.len());
    let none = BTreeMap::new();
    for (payload, filter, expected) in cases {
        let doc = document(
            "evt_1",
            "t",
            "2026-12-06T10:00:00.000Z",
            &none,
            payload.clone(),
        );
        let parsed =
            Filter::parse(&json!({ "data": filter })).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
        assert_eq!(parsed.matches(&doc), expected, "{payload} against {filter}");
        let negated = Filter::parse(&json!({"data": {"$not": filter}})).unwrap();
        assert_eq!(
            negated.matches(&doc),
            !expected,
            "{payload} against $not {filter}"
        );
    }
}

#[test]
fn filters_see_the_whole_event() {
    let metadata = BTreeMap::from([("region".to_string(), "eu".to_string())]);
    let data = json!({"price": 20, "floor": 10, "region": "eu", "kind": "other", "tags": ["vip"], "email": "a@example.com"});
    let doc = document(
        "evt_1",
        "order.paid",
        "2026-12-06T10:00:00.000Z",
        &metadata,
        data,
    );
    for (filter, expected) in event_cases() {
        let parsed = Filter::parse(&filter).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
        assert_eq!(parsed.matches(&doc), expected, "{filter}");
    }
}
