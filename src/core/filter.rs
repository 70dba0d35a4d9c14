//! Payload filters (issue 4 §2), in the style of Hookdeck's: a JSON document a destination
//! carries so that it receives only the events whose `data`, `metadata` or `topic` match.
//! A filter is parsed and bounded once, at the edge, into a typed tree with its regexes
//! compiled; matching an event then never allocates a path, never fails and never panics.
//!
//! Semantics, decided here once:
//! - A filter object matches when every key matches (AND). A plain key descends into the
//!   event; a key starting with `$` is an operator applied to the value at that point.
//! - A scalar in the filter means equality; an array in the filter means array equality.
//! - Where the event holds an array and the filter does not, the filter matches if ANY
//!   element matches (one level: elements that are themselves arrays are not flattened).
//!   For a nested filter object, one element must match the whole object.
//! - Numbers compare as numbers (`5 == 5.0`; integers exactly, others as `f64`), strings by
//!   bytes (so ISO-8601 timestamps order correctly); a number never equals or orders
//!   against a string, and ordering anything else is false.
//! - A key missing from the event matches nothing (not even `$neq` or `$nin`) except
//!   `$exist: false`; `$not` is plain negation, so it matches a missing key. `null` is present.

use std::cmp::Ordering;
use std::fmt;

use regex_lite::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

use super::validate::join_path;

/// Deepest nesting of objects and arrays in a filter document, the top object being level 1.
/// It bounds the recursion of matching, which follows the filter, never the event.
pub const MAX_DEPTH: usize = 16;
/// Most JSON values (objects, arrays and scalars alike) in one filter: with `MAX_DEPTH` it
/// bounds the work that every published event costs per destination.
pub const MAX_NODES: usize = 256;
/// Longest `$regex` pattern, in bytes.
pub const MAX_REGEX_LEN: usize = 256;
/// Compiled size cap of one `$regex`. regex-lite searches in O(compiled size × input), about
/// 0.3 ns per byte of each natively: at 64 KiB, the 16-character `(a{1,20}){1,20}x` took a
/// second on a 100 KB string. 8 KiB keeps realistic patterns (an email check is ~0.6 KiB, an
/// ISO-8601 timestamp ~1.6 KiB, a 25-word alternation ~6.8 KiB) and refuses the ones built
/// to be slow when the filter is saved, instead of costing CPU on every event.
const REGEX_SIZE_LIMIT: usize = 8 * 1024;
/// Deepest group nesting inside one `$regex` pattern (regex-lite's parser recursion).
const REGEX_NEST_LIMIT: u32 = 32;

/// The keys a filter may have at its top, besides `$and`, `$or` and `$not`: the event's fields.
const EVENT_FIELDS: [&str; 3] = ["data", "metadata", "topic"];
const OPERATORS: &str = "$eq, $neq, $gt, $gte, $lt, $lte, $in, $nin, $startsWith, $endsWith, \
                         $contains, $regex, $exist, $and, $or, $not";

/// One problem in a filter, e.g. `{"path": "data.amount.$gt", "operator": "$gt", …}`.
/// `path` is relative to the filter's root ("" for the root itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterError {
    pub path: String,
    pub operator: Option<String>,
    pub message: String,
}

impl FilterError {
    fn new(path: &str, operator: Option<&str>, message: impl Into<String>) -> Self {
        FilterError {
            path: path.to_string(),
            operator: operator.map(str::to_string),
            message: message.into(),
        }
    }
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "filter: {}", self.message)
        } else {
            write!(f, "filter.{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FilterError {}

/// A validated payload filter. It keeps the JSON it was parsed from, which is what is stored,
/// shown and (de)serialised; the compiled tree is rebuilt from it on deserialisation.
#[derive(Debug, Clone)]
pub struct Filter {
    source: Value,
    root: Node,
}

/// A filter position: an object of fields and operators, or a literal to equal.
#[derive(Debug, Clone)]
enum Node {
    /// Every field (looked up in the event) and every operator (on the value) must match.
    Object {
        fields: Vec<(String, Node)>,
        ops: Vec<Op>,
    },
    /// A scalar or an array: see `literal_matches`.
    Literal(Value),
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Value),
    Neq(Value),
    Cmp(CmpOp, Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    StartsWith(String),
    EndsWith(String),
    Contains(Value),
    Regex(Regex),
    Exist(bool),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
}

#[derive(Debug, Clone, Copy)]
enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
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

impl Filter {
    /// Validates and compiles a filter document, reporting every problem found (or only the
    /// size problem, when the document is too deep or too large to be worth compiling).
    pub fn parse(value: &Value) -> Result<Filter, Vec<FilterError>> {
        let Value::Object(map) = value else {
            return Err(vec![FilterError::new(
                "",
                None,
                "a filter is a JSON object, e.g. {\"data\": {\"type\": \"order\"}}",
            )]);
        };
        let mut nodes = 0;
        check_size(value, "", 1, &mut nodes).map_err(|e| vec![e])?;
        let mut errors = vec![];
        let root = parse_top(map, "", &mut errors);
        if errors.is_empty() {
            Ok(Filter {
                source: value.clone(),
                root,
            })
        } else {
            Err(errors)
        }
    }

    /// Whether `event` (`{"data": …, "metadata": {…}, "topic": "…"}`) passes the filter.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches(Some(event))
    }

    /// The document the filter was parsed from.
    pub fn as_json(&self) -> &Value {
        &self.source
    }
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Filter::parse(&value).map_err(|errors| match errors.first() {
            Some(first) => serde::de::Error::custom(first),
            None => serde::de::Error::custom("invalid filter"),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/// Counts values and levels before anything is compiled, stopping at the first excess so an
/// enormous document costs no more than `MAX_NODES` steps.
fn check_size(
    value: &Value,
    path: &str,
    depth: usize,
    nodes: &mut usize,
) -> Result<(), FilterError> {
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(FilterError::new(
            "",
            None,
            format!("a filter has at most {MAX_NODES} values in total"),
        ));
    }
    let too_deep = || {
        FilterError::new(
            path,
            None,
            format!("a filter nests at most {MAX_DEPTH} levels of objects and arrays"),
        )
    };
    match value {
        Value::Object(map) => {
            if depth > MAX_DEPTH {
                return Err(too_deep());
            }
            for (key, child) in map {
                check_size(child, &join_path(path, key), depth + 1, nodes)?;
            }
        }
        Value::Array(items) => {
            if depth > MAX_DEPTH {
                return Err(too_deep());
            }
            for (i, child) in items.iter().enumerate() {
                check_size(child, &format!("{path}[{i}]"), depth + 1, nodes)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The top of a filter (and of `$and`/`$or`/`$not` there) sees the whole event, so only the
/// event's fields and the logical operators make sense.
fn parse_top(map: &Map<String, Value>, path: &str, errors: &mut Vec<FilterError>) -> Node {
    let mut fields = vec![];
    let mut ops = vec![];
    for (key, value) in map {
        let key_path = join_path(path, key);
        if EVENT_FIELDS.contains(&key.as_str()) {
            fields.push((key.clone(), parse_node(value, &key_path, errors)));
        } else if matches!(key.as_str(), "$and" | "$or" | "$not") {
            ops.extend(parse_logic(key, value, &key_path, true, errors));
        } else {
            let operator = key.starts_with('$').then_some(key.as_str());
            errors.push(FilterError::new(
                &key_path,
                operator,
                format!(
                    "'{key}' is not allowed at the top of a filter: use data, metadata, topic, \
                     $and, $or or $not"
                ),
            ));
        }
    }
    Node::Object { fields, ops }
}

fn parse_node(value: &Value, path: &str, errors: &mut Vec<FilterError>) -> Node {
    match value {
        Value::Object(map) => parse_object(map, path, errors),
        literal => Node::Literal(literal.clone()),
    }
}

fn parse_object(map: &Map<String, Value>, path: &str, errors: &mut Vec<FilterError>) -> Node {
    let mut fields = vec![];
    let mut ops = vec![];
    for (key, value) in map {
        let key_path = join_path(path, key);
        if key.starts_with('$') {
            ops.extend(parse_op(key, value, &key_path, errors));
        } else {
            fields.push((key.clone(), parse_node(value, &key_path, errors)));
        }
    }
    Node::Object { fields, ops }
}

fn parse_op(op: &str, value: &Value, path: &str, errors: &mut Vec<FilterError>) -> Option<Op> {
    let mut wrong = |message: String| {
        errors.push(FilterError::new(path, Some(op), message));
        None
    };
    match (op, value) {
        ("$eq", v) => Some(Op::Eq(v.clone())),
        ("$neq", v) => Some(Op::Neq(v.clone())),
        ("$gt" | "$gte" | "$lt" | "$lte", Value::Number(_) | Value::String(_)) => {
            let cmp = match op {
                "$gt" => CmpOp::Gt,
                "$gte" => CmpOp::Gte,
                "$lt" => CmpOp::Lt,
                _ => CmpOp::Lte,
            };
            Some(Op::Cmp(cmp, value.clone()))
        }
        ("$gt" | "$gte" | "$lt" | "$lte", _) => wrong(format!("{op} takes a number or a string")),
        ("$in", Value::Array(items)) => Some(Op::In(items.clone())),
        ("$nin", Value::Array(items)) => Some(Op::Nin(items.clone())),
        ("$in" | "$nin", _) => wrong(format!("{op} takes an array of values")),
        ("$startsWith", Value::String(s)) => Some(Op::StartsWith(s.clone())),
        ("$endsWith", Value::String(s)) => Some(Op::EndsWith(s.clone())),
        ("$startsWith" | "$endsWith", _) => wrong(format!("{op} takes a string")),
        ("$contains", v) => Some(Op::Contains(v.clone())),
        ("$regex", Value::String(pattern)) => match compile_regex(pattern) {
            Ok(re) => Some(Op::Regex(re)),
            Err(message) => wrong(message),
        },
        ("$regex", _) => wrong("$regex takes a string".into()),
        ("$exist", Value::Bool(b)) => Some(Op::Exist(*b)),
        ("$exist", _) => wrong("$exist takes true or false".into()),
        ("$and" | "$or" | "$not", _) => parse_logic(op, value, path, false, errors),
        _ => wrong(format!(
            "'{op}' is not an operator; the operators are {OPERATORS}"
        )),
    }
}

fn parse_logic(
    op: &str,
    value: &Value,
    path: &str,
    top: bool,
    errors: &mut Vec<FilterError>,
) -> Option<Op> {
    let parse = |map: &Map<String, Value>, path: &str, errors: &mut Vec<FilterError>| {
        if top {
            parse_top(map, path, errors)
        } else {
            parse_object(map, path, errors)
        }
    };
    if op == "$not" {
        let Value::Object(map) = value else {
            errors.push(FilterError::new(
                path,
                Some(op),
                "$not takes a filter object",
            ));
            return None;
        };
        return Some(Op::Not(Box::new(parse(map, path, errors))));
    }
    let objects: Option<Vec<&Map<String, Value>>> = match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(Value::as_object).collect(),
        _ => None,
    };
    let Some(objects) = objects else {
        errors.push(FilterError::new(
            path,
            Some(op),
            format!("{op} takes a non-empty array of filter objects"),
        ));
        return None;
    };
    let nodes = objects
        .into_iter()
        .enumerate()
        .map(|(i, map)| parse(map, &format!("{path}[{i}]"), errors))
        .collect();
    Some(if op == "$and" {
        Op::And(nodes)
    } else {
        Op::Or(nodes)
    })
}

fn compile_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!("$regex patterns are at most {MAX_REGEX_LEN} bytes"));
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
        .map_err(|e| format!("$regex is not a valid pattern or is too costly to run: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Matching: recursion follows the filter (at most MAX_DEPTH), never the event's own depth.

impl Node {
    /// `value` is `None` when the key is missing from the event.
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            Node::Literal(literal) => value.is_some_and(|v| literal_matches(literal, v)),
            Node::Object { fields, ops } => {
                ops.iter().all(|op| op.matches(value)) && fields_match(fields, value)
            }
        }
    }
}

/// A nested filter object against an array: one element must match all its fields.
fn fields_match(fields: &[(String, Node)], value: Option<&Value>) -> bool {
    if fields.is_empty() {
        return true;
    }
    let all = |v: Option<&Value>| {
        fields.iter().all(|(key, node)| {
            let child = v.and_then(Value::as_object).and_then(|m| m.get(key));
            node.matches(child)
        })
    };
    match value {
        Some(Value::Array(items)) => items.iter().any(|item| all(Some(item))),
        other => all(other),
    }
}

impl Op {
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            Op::Exist(want) => value.is_some() == *want,
            Op::And(nodes) => nodes.iter().all(|n| n.matches(value)),
            Op::Or(nodes) => nodes.iter().any(|n| n.matches(value)),
            Op::Not(node) => !node.matches(value),
            _ => value.is_some_and(|v| self.matches_present(v)),
        }
    }

    fn matches_present(&self, v: &Value) -> bool {
        match self {
            Op::Eq(literal) => literal_matches(literal, v),
            Op::Neq(literal) => !literal_matches(literal, v),
            Op::Cmp(cmp, bound) => {
                any_element(v, |x| compare(x, bound).is_some_and(|o| cmp.accepts(o)))
            }
            Op::In(list) => list.iter().any(|literal| literal_matches(literal, v)),
            Op::Nin(list) => !list.iter().any(|literal| literal_matches(literal, v)),
            Op::StartsWith(prefix) => {
                any_element(v, |x| x.as_str().is_some_and(|s| s.starts_with(prefix)))
            }
            Op::EndsWith(suffix) => {
                any_element(v, |x| x.as_str().is_some_and(|s| s.ends_with(suffix)))
            }
            Op::Contains(needle) => match v {
                Value::String(s) => needle.as_str().is_some_and(|n| s.contains(n)),
                Value::Array(items) => items.iter().any(|item| json_eq(item, needle)),
                _ => false,
            },
            Op::Regex(re) => any_element(v, |x| x.as_str().is_some_and(|s| re.is_match(s))),
            Op::Exist(_) | Op::And(_) | Op::Or(_) | Op::Not(_) => self.matches(Some(v)),
        }
    }
}

/// `test` on the value, or on any of its elements if it is an array.
fn any_element(v: &Value, test: impl Fn(&Value) -> bool) -> bool {
    match v {
        Value::Array(items) => items.iter().any(test),
        other => test(other),
    }
}

/// Equality as the filter means it: an array literal equals the whole value; any other
/// literal equals the value or, if the value is an array, one of its elements.
fn literal_matches(literal: &Value, v: &Value) -> bool {
    match (literal, v) {
        (Value::Array(_), _) => json_eq(literal, v),
        (_, Value::Array(items)) => items.iter().any(|item| json_eq(literal, item)),
        _ => json_eq(literal, v),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, Instant};

    fn event(data: Value) -> Value {
        json!({
            "data": data,
            "metadata": {"source": "shop", "region": "eu-west"},
            "topic": "order.created",
        })
    }

    fn order() -> Value {
        json!({
            "type": "order",
            "amount": 5,
            "price": 12.5,
            "big": 9007199254740993u64,
            "currency": "EUR",
            "note": null,
            "tags": ["vip", "new", 7],
            "items": [{"sku": "A1", "qty": 1}, {"sku": "B2", "qty": 3}],
            "email": "ann@example.com",
            "customer": {"name": "Ann", "address": {"country": "FR"}},
            "created_at": "2024-05-01T10:00:00Z",
            "matrix": [[1, 2], [3]],
        })
    }

    #[test]
    fn matching_table() {
        let cases: Vec<(bool, Value)> = vec![
            // Literal and nested equality, implicit AND.
            (true, json!({})),
            (true, json!({"data": {"type": "order"}})),
            (false, json!({"data": {"type": "refund"}})),
            (true, json!({"data": {"type": "order", "amount": 5}})),
            (false, json!({"data": {"type": "order", "amount": 6}})),
            (true, json!({"data": {"amount": 5.0}})),
            (
                true,
                json!({"data": {"customer": {"address": {"country": "FR"}}}}),
            ),
            (
                false,
                json!({"data": {"customer": {"address": {"country": "DE"}}}}),
            ),
            (true, json!({"data": {"note": null}})),
            // Integers beyond 2^53 compare exactly, not through f64.
            (false, json!({"data": {"big": 9007199254740992u64}})),
            (true, json!({"data": {"big": 9007199254740993u64}})),
            // Missing keys.
            (false, json!({"data": {"nope": 1}})),
            (false, json!({"data": {"nope": {"deeper": 1}}})),
            // A missing key fails even the negative operators.
            (false, json!({"data": {"nope": {"$neq": 1}}})),
            (false, json!({"data": {"nope": {"$nin": [1]}}})),
            (false, json!({"data": {"amount": {"x": 1}}})),
            // Type mismatch: no coercion.
            (false, json!({"data": {"amount": "5"}})),
            (false, json!({"data": {"currency": 1}})),
            (false, json!({"data": {"amount": {"$gt": "1"}}})),
            (false, json!({"data": {"type": {"$gt": 1}}})),
            (false, json!({"data": {"amount": {"$startsWith": "5"}}})),
            (false, json!({"data": {"amount": {"$eq": {"a": 1}}}})),
            // $eq / $neq.
            (true, json!({"data": {"amount": {"$eq": 5}}})),
            (
                false,
                json!({"data": {"customer": {"$eq": {"name": "Ann"}}}}),
            ),
            (true, json!({"data": {"note": {"$eq": null}}})),
            (true, json!({"data": {"amount": {"$neq": 4}}})),
            (false, json!({"data": {"amount": {"$neq": 5}}})),
            // $neq on an array: no element may equal.
            (false, json!({"data": {"tags": {"$neq": "vip"}}})),
            (true, json!({"data": {"tags": {"$neq": "old"}}})),
            // Ordering.
            (true, json!({"data": {"amount": {"$gt": 4}}})),
            (false, json!({"data": {"amount": {"$gt": 5}}})),
            (true, json!({"data": {"amount": {"$gte": 5}}})),
            (true, json!({"data": {"price": {"$lt": 12.6}}})),
            (false, json!({"data": {"price": {"$lt": 12}}})),
            (true, json!({"data": {"price": {"$lte": 12.5}}})),
            (true, json!({"data": {"amount": {"$gte": 1, "$lt": 10}}})),
            (false, json!({"data": {"amount": {"$gte": 1, "$lt": 5}}})),
            (true, json!({"data": {"created_at": {"$gt": "2024-01-01"}}})),
            (
                false,
                json!({"data": {"created_at": {"$lt": "2024-01-01"}}}),
            ),
            (true, json!({"data": {"tags": {"$gt": 6}}})),
            (false, json!({"data": {"tags": {"$gt": 7}}})),
            // $in / $nin.
            (true, json!({"data": {"currency": {"$in": ["USD", "EUR"]}}})),
            (false, json!({"data": {"currency": {"$in": ["USD"]}}})),
            (false, json!({"data": {"currency": {"$in": []}}})),
            (true, json!({"data": {"tags": {"$in": ["new", "x"]}}})),
            (true, json!({"data": {"amount": {"$in": [1, 5.0]}}})),
            (true, json!({"data": {"currency": {"$nin": ["USD"]}}})),
            (false, json!({"data": {"currency": {"$nin": ["EUR"]}}})),
            (false, json!({"data": {"tags": {"$nin": ["vip"]}}})),
            // Strings.
            (true, json!({"data": {"email": {"$startsWith": "ann@"}}})),
            (false, json!({"data": {"email": {"$startsWith": "bob"}}})),
            (true, json!({"data": {"email": {"$endsWith": ".com"}}})),
            (false, json!({"data": {"email": {"$endsWith": ".org"}}})),
            (true, json!({"data": {"tags": {"$startsWith": "vi"}}})),
            (true, json!({"data": {"email": {"$contains": "@example"}}})),
            (false, json!({"data": {"email": {"$contains": "@other"}}})),
            (true, json!({"data": {"tags": {"$contains": "vip"}}})),
            (true, json!({"data": {"tags": {"$contains": 7.0}}})),
            // $contains on an array compares whole elements.
            (false, json!({"data": {"tags": {"$contains": "vi"}}})),
            (
                true,
                json!({"data": {"items": {"$contains": {"sku": "A1", "qty": 1}}}}),
            ),
            (false, json!({"data": {"amount": {"$contains": 5}}})),
            (
                true,
                json!({"data": {"email": {"$regex": "^[a-z]+@example\\.com$"}}}),
            ),
            (false, json!({"data": {"currency": {"$regex": "^US"}}})),
            (true, json!({"data": {"currency": {"$regex": "U"}}})),
            (true, json!({"data": {"tags": {"$regex": "^ne"}}})),
            (false, json!({"data": {"amount": {"$regex": "5"}}})),
            // $exist.
            (true, json!({"data": {"amount": {"$exist": true}}})),
            (true, json!({"data": {"note": {"$exist": true}}})),
            (false, json!({"data": {"nope": {"$exist": true}}})),
            (true, json!({"data": {"nope": {"$exist": false}}})),
            (false, json!({"data": {"amount": {"$exist": false}}})),
            // Under a missing parent, every key is missing.
            (true, json!({"data": {"nope": {"x": {"$exist": false}}}})),
            // Arrays: any element, array literal means array equality.
            (true, json!({"data": {"tags": "new"}})),
            (false, json!({"data": {"tags": "old"}})),
            (true, json!({"data": {"tags": ["vip", "new", 7]}})),
            (false, json!({"data": {"tags": ["new", "vip", 7]}})),
            // An array literal is array equality, not "any".
            (false, json!({"data": {"tags": ["vip"]}})),
            (true, json!({"data": {"items": {"sku": "B2"}}})),
            (true, json!({"data": {"items": {"sku": "B2", "qty": 3}}})),
            // One element must match the whole nested object.
            (false, json!({"data": {"items": {"sku": "A1", "qty": 3}}})),
            (true, json!({"data": {"items": {"qty": {"$gt": 2}}}})),
            // Only one level of array is searched.
            (false, json!({"data": {"matrix": 3}})),
            (true, json!({"data": {"matrix": {"$contains": [3]}}})),
            (true, json!({"data": {"matrix": {"$eq": [[1, 2], [3]]}}})),
            // Logic.
            (true, json!({"data": {"type": {"$not": {"$eq": "refund"}}}})),
            (false, json!({"data": {"type": {"$not": {"$eq": "order"}}}})),
            // $not is plain negation, so it matches a missing key.
            (true, json!({"data": {"nope": {"$not": {"$eq": 1}}}})),
            (true, json!({"$not": {"topic": "order.deleted"}})),
            (
                true,
                json!({"$or": [{"data": {"amount": 1}}, {"data": {"amount": 5}}]}),
            ),
            (
                false,
                json!({"$or": [{"data": {"amount": 1}}, {"topic": "x"}]}),
            ),
            (
                true,
                json!({"$and": [{"data": {"amount": 5}}, {"topic": "order.created"}]}),
            ),
            (
                false,
                json!({"$and": [{"data": {"amount": 5}}, {"topic": "x"}]}),
            ),
            (
                true,
                json!({"$or": [
                    {"$and": [{"data": {"currency": "USD"}}, {"data": {"amount": {"$gt": 100}}}]},
                    {"$and": [{"data": {"currency": "EUR"}}, {"data": {"amount": {"$lt": 10}}}]},
                ]}),
            ),
            (
                false,
                json!({"$or": [
                    {"$and": [{"data": {"currency": "USD"}}, {"data": {"amount": {"$gt": 1}}}]},
                    {"$and": [{"data": {"currency": "EUR"}}, {"data": {"amount": {"$gt": 10}}}]},
                ]}),
            ),
            (
                true,
                json!({"data": {"currency": {"$or": [{"$eq": "USD"}, {"$eq": "EUR"}]}}}),
            ),
            (
                true,
                json!({"data": {"$and": [{"type": "order"}, {"amount": 5}]}}),
            ),
            // Metadata and topic.
            (true, json!({"metadata": {"source": "shop"}})),
            (false, json!({"metadata": {"source": "pos"}})),
            (
                true,
                json!({"metadata": {"region": {"$startsWith": "eu-"}}}),
            ),
            (true, json!({"metadata": {"tenant": {"$exist": false}}})),
            (true, json!({"topic": "order.created"})),
            (false, json!({"topic": "order.updated"})),
            (
                true,
                json!({"topic": {"$in": ["order.created", "order.paid"]}}),
            ),
            (true, json!({"topic": {"$regex": "^order\\."}})),
            (
                true,
                json!({
                    "topic": "order.created",
                    "metadata": {"source": "shop"},
                    "data": {"type": "order"},
                }),
            ),
        ];
        let ev = event(order());
        for (expected, filter) in cases {
            let parsed = Filter::parse(&filter).unwrap_or_else(|e| panic!("{filter}: {e:?}"));
            assert_eq!(parsed.matches(&ev), expected, "{filter}");
        }
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
            ("data.a.$in", "$in", json!({"data": {"a": {"$in": "x"}}})),
            ("data.a.$nin", "$nin", json!({"data": {"a": {"$nin": {}}}})),
            (
                "data.a.$startsWith",
                "$startsWith",
                json!({"data": {"a": {"$startsWith": 1}}}),
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
            ("$and", "$and", json!({"$and": {"data": {}}})),
            ("$and", "$and", json!({"$and": []})),
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
            ("data.$not", "$not", json!({"data": {"$not": 5}})),
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
        let errors = Filter::parse(&json!({"data": {"a": {"$gt": []}, "b": {"$in": 1}}, "x": 1}))
            .unwrap_err();
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

    #[test]
    fn catastrophic_regex_runs_in_bounded_time() {
        let filter = Filter::parse(&json!({"data": {"s": {"$regex": "(a+)+$"}}}))
            .expect("regex-lite has no backtracking, so this pattern is safe");
        let mut s = "a".repeat(10_000);
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
        ];
        let events = [
            Value::Null,
            json!([]),
            json!("data"),
            json!({"data": null}),
            json!({"data": [[[1]], {"a": [null, {"b": "2"}]}]}),
            json!({"data": {"a": 1e308, "b": -0.0}, "topic": 5, "metadata": []}),
        ];
        for f in &filters {
            let filter = Filter::parse(f).unwrap();
            for e in &events {
                let _ = filter.matches(e);
            }
        }
        // A non-object event has no fields: only "nothing required" filters match it.
        assert!(Filter::parse(&json!({})).unwrap().matches(&Value::Null));
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
}
