//! Payload filters in Hookdeck's syntax (the one Outpost evaluates with `simple-json-match`):
//! a JSON document a destination carries so that it receives only the events that match it.
//! A filter is parsed and bounded once, at the edge, into a typed tree with its regexes
//! compiled (`parse.rs`); matching (`eval.rs`) never fails and never panics.
//!
//! The filter is evaluated against the whole event as one document, like Outpost's:
//! `{"id", "topic", "time", "metadata", "data"}` (see [`document`]), so `$ref` paths start at
//! that root (`data.price`). The meaning of each form, as Hookdeck documents it:
//! - An object matches when every key matches (AND). A plain key descends into the event; a
//!   key starting with `$` is an operator applied to the value at that point.
//! - A primitive (string, number, boolean, null) equals the value; if the value is an array,
//!   some element (at any depth of nested arrays) must equal it.
//! - An array in the filter: the value must be an array in which every listed item is matched
//!   by some element (items may be operators or objects themselves).
//! - A nested object against an array: some element must match the whole object. `{}` matches
//!   any object (or an array holding one), never a primitive or a missing key.
//! - Operators test the value itself, never its elements one by one: `$eq`/`$neq` deep
//!   (in)equality; `$gt`/`$gte`/`$lt`/`$lte` between two numbers or two strings; `$in`/`$nin`
//!   a list holding a primitive value, or a string operand contained in a string value;
//!   `$startsWith`/`$endsWith` a string or any of a list of strings; `$exist`; `$and`/`$or`
//!   over any filter forms, plain values included; `$not` around any form; `$ref` a field of
//!   the same document, as a value to match or as another operator's operand.
//! - Sluice adds `$regex` (a string value matching a pattern) and `$contains` (a substring of
//!   a string, or an element of an array), which Hookdeck's syntax does not have.
//!
//! Where Sluice deliberately differs (no type coercion: `"5"` never equals `5`; a missing key
//! fails every operator but `$exist: false` and `$not`; nothing under a missing key exists;
//! a referenced array or object must equal the value; a filter that could never match is
//! refused when it is saved; the regex bounds) the README says so.

use std::collections::BTreeMap;
use std::fmt;

use crate::core::json;
use regex_lite::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

mod eval;
mod parse;
mod reference;

#[cfg(test)]
mod hookdeck_tests;
#[cfg(test)]
mod tests;

use parse::RegexBudget;
use reference::RefPath;

/// Deepest nesting of objects and arrays in a filter document, the top object being level 1.
/// It bounds the recursion of parsing and of matching along the filter.
pub const MAX_DEPTH: usize = 16;
/// Most JSON values (objects, arrays and scalars alike) in one filter: with `MAX_DEPTH` it
/// bounds the work that every published event costs per destination.
pub const MAX_NODES: usize = 256;
/// Longest `$regex` pattern, in bytes.
pub const MAX_REGEX_LEN: usize = 256;
/// Most `$regex` operators in one filter: each runs on every publish for every
/// filtered destination, and `/v1/filters/test` is open to any token.
pub const MAX_REGEXES: usize = 8;
/// Compiled size cap of one `$regex`. regex-lite searches in O(compiled size × input), about
/// 0.3 ns per byte of each natively: at 64 KiB, the 16-character `(a{1,20}){1,20}x` took a
/// second on a 100 KB string. 8 KiB keeps realistic patterns (an email check is ~0.6 KiB, an
/// ISO-8601 timestamp ~1.6 KiB, a 25-word alternation ~6.8 KiB) and refuses the ones built
/// to be slow when the filter is saved, instead of costing CPU on every event.
pub const MAX_REGEX_SIZE: usize = 8 * 1024;
/// Compiled size cap of all the `$regex` of one filter together; each is charged the power of
/// two (from 1 KiB) that its compiled form fits in.
pub const MAX_REGEX_TOTAL_SIZE: usize = 16 * 1024;
/// Longest string a `$regex` scans, in bytes: a longer value does not match (and `$not`
/// around it does), so the text an event carries cannot multiply a pattern's cost.
pub const MAX_REGEX_TEXT: usize = 4 * 1024;
/// What one evaluation of a filter lets its regexes scan in all, in bytes of text × KiB of
/// the scanning regex's compiled size: 64 KiB through 1 KiB patterns, 8 KiB through the
/// largest. A `$regex` tested on an array of strings (or inside one) would otherwise scan the
/// whole payload; measured natively, ~10 ms at worst. Past it, a `$regex` does not match.
pub const REGEX_SCAN_BUDGET: usize = 64 * 1024;

/// The keys a filter may have at its top, besides `$and`, `$or` and `$not`: the event's fields.
const EVENT_FIELDS: [&str; 5] = ["id", "topic", "time", "metadata", "data"];
const OPERATORS: &str = "$eq, $neq, $gt, $gte, $lt, $lte, $in, $nin, $startsWith, $endsWith, \
                         $contains, $regex, $exist, $ref, $and, $or, $not";

/// The document a destination's filter is evaluated against: the whole event, as Outpost
/// builds it. `time` is the publish time (RFC 3339 with milliseconds). The payload is moved
/// in, not copied; take it back out of `"data"` if the caller needs it again.
pub fn document(
    id: &str,
    topic: &str,
    time_rfc3339: &str,
    metadata: &BTreeMap<String, String>,
    data: Value,
) -> Value {
    let metadata = json::object_of_strings(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut doc = Map::new();
    doc.insert("id".into(), Value::String(id.into()));
    doc.insert("topic".into(), Value::String(topic.into()));
    doc.insert("time".into(), Value::String(time_rfc3339.into()));
    doc.insert("metadata".into(), metadata);
    doc.insert("data".into(), data);
    Value::Object(doc)
}

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

/// A filter position.
#[derive(Debug, Clone)]
enum Node {
    /// A primitive to equal (or to find in an array).
    Literal(Value),
    /// Each item must match some element of an array value.
    All(Vec<Node>),
    /// Every field (looked up in the value) and every operator (on the value) must match.
    Object {
        fields: Vec<(String, Node)>,
        ops: Vec<Op>,
    },
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Operand),
    Neq(Operand),
    Cmp(CmpOp, Operand),
    In(Operand),
    Nin(Operand),
    StartsWith(Operand),
    EndsWith(Operand),
    Contains(Operand),
    /// The pattern, and its compiled size in KiB (what a byte it scans costs the budget).
    Regex(Regex, usize),
    Exist(bool),
    /// `{"$ref": "data.x"}` in place of a value: the value must match the referenced one.
    Ref(RefPath),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
}

/// An operator's operand: written in the filter, or `{"$ref": path}` read from the event.
#[derive(Debug, Clone)]
enum Operand {
    Fixed(Value),
    Ref(RefPath),
}

#[derive(Debug, Clone, Copy)]
enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Filter {
    /// Validates and compiles a filter document, reporting every problem found (or only the
    /// size problem, when the document is too deep or too large to be worth compiling).
    pub fn parse(value: &Value) -> Result<Filter, Vec<FilterError>> {
        Self::parse_with(value, RegexBudget::Enforced)
    }

    /// Compiles a filter that was stored before the `$regex` count and total size caps
    /// (`MAX_REGEXES`, `MAX_REGEX_TOTAL_SIZE`): it keeps working as saved, its cost bounded by
    /// `REGEX_SCAN_BUDGET` at each evaluation; the caps bind when it is next changed.
    pub fn parse_stored(value: &Value) -> Result<Filter, Vec<FilterError>> {
        Self::parse_with(value, RegexBudget::Waived)
    }

    fn parse_with(value: &Value, budget: RegexBudget) -> Result<Filter, Vec<FilterError>> {
        parse::parse(value, budget).map(|root| Filter {
            source: value.clone(),
            root,
        })
    }

    /// Whether the event's [`document`] passes the filter.
    pub fn matches(&self, document: &Value) -> bool {
        eval::matches(&self.root, document)
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
