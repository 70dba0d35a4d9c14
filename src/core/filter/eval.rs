//! Matching a parsed filter against an event document. Recursion follows the filter (at most
//! `MAX_DEPTH` levels) and, where a filter value meets nested arrays, the event's arrays
//! (which serde_json bounds at 128 levels when it parses the payload).

use std::cell::Cell;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::reference::Indices;
use super::{CmpOp, Node, Op, Operand, MAX_REGEX_TEXT, REGEX_SCAN_BUDGET};

/// What `$ref` needs (the document and the array elements being matched), and what is left
/// of the evaluation's `REGEX_SCAN_BUDGET`.
#[derive(Clone, Copy)]
struct Scope<'a> {
    root: &'a Value,
    indices: Option<&'a Indices<'a>>,
    regex_budget: &'a Cell<usize>,
}

impl<'a> Scope<'a> {
    /// `test` on some element of `items`, each seen with its index pushed for `$index`.
    fn any_element(&self, items: &'a [Value], test: impl Fn(&'a Value, Scope<'_>) -> bool) -> bool {
        items.iter().enumerate().any(|(index, item)| {
            let inner = Indices {
                index,
                outer: self.indices,
            };
            test(
                item,
                Scope {
                    indices: Some(&inner),
                    ..*self
                },
            )
        })
    }
}

pub(super) fn matches(root: &Node, document: &Value) -> bool {
    let regex_budget = Cell::new(REGEX_SCAN_BUDGET);
    let scope = Scope {
        root: document,
        indices: None,
        regex_budget: &regex_budget,
    };
    node_matches(root, Some(document), scope)
}

/// `value` is `None` when the key is missing from the event.
fn node_matches<'a>(node: &Node, value: Option<&'a Value>, s: Scope<'a>) -> bool {
    match node {
        Node::Literal(literal) => value.is_some_and(|v| value_matches(literal, v)),
        Node::All(items) => match value {
            Some(Value::Array(elements)) => items.iter().all(|item| {
                s.any_element(elements, |element, s| node_matches(item, Some(element), s))
            }),
            _ => false,
        },
        Node::Object { fields, ops } => {
            ops.iter().all(|op| op_matches(op, value, s))
                // Operators alone say nothing of the value's shape; fields, or `{}`, do.
                && ((fields.is_empty() && !ops.is_empty()) || fields_match(fields, value, s))
        }
    }
}

/// The fields of a nested object: against an object, each field; against an array, some
/// element must match them all; under a missing key, every field is missing.
fn fields_match<'a>(fields: &[(String, Node)], value: Option<&'a Value>, s: Scope<'a>) -> bool {
    match value {
        None => !fields.is_empty() && fields.iter().all(|(_, node)| node_matches(node, None, s)),
        Some(Value::Object(map)) => fields
            .iter()
            .all(|(key, node)| node_matches(node, map.get(key), s)),
        Some(Value::Array(elements)) => s.any_element(elements, |element, s| {
            fields_match(fields, Some(element), s)
        }),
        Some(_) => false,
    }
}

fn op_matches<'a>(op: &Op, value: Option<&'a Value>, s: Scope<'a>) -> bool {
    match op {
        Op::Exist(want) => value.is_some() == *want,
        Op::And(nodes) => nodes.iter().all(|n| node_matches(n, value, s)),
        Op::Or(nodes) => nodes.iter().any(|n| node_matches(n, value, s)),
        Op::Not(node) => !node_matches(node, value, s),
        Op::Ref(path) => match (value, path.resolve(s.root, s.indices)) {
            // A referenced array or object must equal the value: matched as a filter, two
            // arrays of the payload would cost their sizes multiplied.
            (Some(v), Some(referenced @ (Value::Array(_) | Value::Object(_)))) => {
                json_eq(referenced, v)
            }
            (Some(v), Some(referenced)) => value_matches(referenced, v),
            _ => false,
        },
        Op::Regex(re, kib) => value.and_then(Value::as_str).is_some_and(|text| {
            let cost = text.len() * kib;
            let left = s.regex_budget.get();
            if text.len() > MAX_REGEX_TEXT || cost > left {
                return false;
            }
            s.regex_budget.set(left - cost);
            re.is_match(text)
        }),
        Op::Eq(operand) => with_operand(operand, value, s, json_eq),
        Op::Neq(operand) => with_operand(operand, value, s, |v, x| !json_eq(v, x)),
        Op::Cmp(cmp, operand) => with_operand(operand, value, s, |v, x| {
            compare(v, x).is_some_and(|o| cmp.accepts(o))
        }),
        Op::In(operand) => with_operand(operand, value, s, |v, x| contained(v, x) == Some(true)),
        Op::Nin(operand) => with_operand(operand, value, s, |v, x| contained(v, x) == Some(false)),
        Op::StartsWith(operand) => with_operand(operand, value, s, |v, x| {
            affix(v, x, |text, prefix| text.starts_with(prefix))
        }),
        Op::EndsWith(operand) => with_operand(operand, value, s, |v, x| {
            affix(v, x, |text, suffix| text.ends_with(suffix))
        }),
        Op::Contains(operand) => with_operand(operand, value, s, |v, x| match (v, x) {
            (Value::String(text), Value::String(needle)) => text.contains(needle.as_str()),
            (Value::Array(items), needle) => items.iter().any(|item| json_eq(item, needle)),
            _ => false,
        }),
    }
}

/// A comparison needs a value and its operand; a `$ref` to nothing matches nothing.
fn with_operand(
    operand: &Operand,
    value: Option<&Value>,
    s: Scope<'_>,
    test: impl Fn(&Value, &Value) -> bool,
) -> bool {
    let operand = match operand {
        Operand::Fixed(x) => Some(x),
        Operand::Ref(path) => path.resolve(s.root, s.indices),
    };
    matches!((value, operand), (Some(v), Some(x)) if test(v, x))
}

impl CmpOp {
    fn accepts(self, ordering: Ordering) -> bool {
        match self {
            CmpOp::Gt => ordering == Ordering::Greater,
            CmpOp::Gte => ordering != Ordering::Less,
            CmpOp::Lt => ordering == Ordering::Less,
            CmpOp::Lte => ordering != Ordering::Greater,
        }
    }
}

/// A primitive written in the filter (or referenced with `$ref`) against the event's value:
/// equal, or found in an array (at any depth of nested arrays).
fn value_matches(expected: &Value, v: &Value) -> bool {
    match v {
        Value::Array(elements) => elements
            .iter()
            .any(|element| value_matches(expected, element)),
        Value::Object(_) => false,
        v => json_eq(expected, v),
    }
}

/// `$in`/`$nin`: whether a primitive value is in a list, or a string operand is in a string
/// value; `None` when the types do not apply (then neither operator matches).
fn contained(v: &Value, operand: &Value) -> Option<bool> {
    match (v, operand) {
        (Value::Array(_) | Value::Object(_), _) => None,
        (v, Value::Array(list)) => Some(list.iter().any(|item| json_eq(item, v))),
        (Value::String(text), Value::String(part)) => Some(text.contains(part.as_str())),
        _ => None,
    }
}

/// `$startsWith`/`$endsWith`: a string value against one string or any of a list.
fn affix(v: &Value, operand: &Value, test: impl Fn(&str, &str) -> bool) -> bool {
    let Some(text) = v.as_str() else { return false };
    match operand {
        Value::String(s) => test(text, s),
        Value::Array(list) => list.iter().filter_map(Value::as_str).any(|s| test(text, s)),
        _ => false,
    }
}

/// Structural equality in which numbers compare by value (`5 == 5.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y) == Some(Ordering::Equal),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| json_eq(x, y)))
        }
        _ => a == b,
    }
}

/// Two numbers or two strings (by bytes, so ISO-8601 timestamps order correctly).
fn compare(v: &Value, bound: &Value) -> Option<Ordering> {
    match (v, bound) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::String(x), Value::String(y)) => Some(x.as_str().cmp(y.as_str())),
        _ => None,
    }
}

/// Integers (i64 or u64) compare exactly; anything involving a fraction compares as f64.
fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    fn integer(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}
