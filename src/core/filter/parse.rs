//! Parsing a filter document into its typed tree: the size and depth bounds first, then every
//! position, collecting every problem with its path, and the regex budget (each `$regex`
//! runs on every publish for every filtered destination, so their number and compiled size
//! are capped).

use regex_lite::{Regex, RegexBuilder};
use serde_json::{Map, Value};

use super::reference::RefPath;
use super::{
    CmpOp, FilterError, Node, Op, Operand, EVENT_FIELDS, MAX_DEPTH, MAX_NODES, MAX_REGEXES,
    MAX_REGEX_LEN, MAX_REGEX_SIZE, MAX_REGEX_TOTAL_SIZE, OPERATORS,
};
use crate::core::validate::join_path;

/// Deepest group nesting inside one `$regex` pattern (regex-lite's parser recursion).
const REGEX_NEST_LIMIT: u32 = 32;
/// The smallest compiled size a `$regex` is charged against `MAX_REGEX_TOTAL_SIZE`.
const REGEX_SIZE_STEP: usize = 1024;

/// Whether the count and total size caps of `$regex` apply: when a filter is saved or tested,
/// not to one already stored (see `Filter::parse_stored`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum RegexBudget {
    Enforced,
    Waived,
}

pub(super) fn parse(value: &Value, budget: RegexBudget) -> Result<Node, Vec<FilterError>> {
    let Value::Object(map) = value else {
        return Err(vec![FilterError::new(
            "",
            None,
            "a filter is a JSON object, e.g. {\"data\": {\"type\": \"order\"}}",
        )]);
    };
    let mut nodes = 0;
    check_size(value, "", 1, &mut nodes).map_err(|e| vec![e])?;
    let mut parser = Parser {
        budget,
        errors: vec![],
        regexes: 0,
        regex_size: 0,
    };
    let root = parser.top(map, "");
    if parser.errors.is_empty() {
        Ok(root)
    } else {
        Err(parser.errors)
    }
}

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

/// The problems found so far and what the filter's regexes have used of their budget.
struct Parser {
    budget: RegexBudget,
    errors: Vec<FilterError>,
    regexes: usize,
    regex_size: usize,
}

impl Parser {
    fn wrong(&mut self, path: &str, op: &str, message: impl Into<String>) -> Option<Op> {
        self.errors.push(FilterError::new(path, Some(op), message));
        None
    }

    /// The top of a filter (and of `$and`/`$or`/`$not` there) sees the whole event, so only
    /// the event's fields and the logical operators make sense; anything else could never
    /// match and is refused, so that a typo does not silently drop every event.
    fn top(&mut self, map: &Map<String, Value>, path: &str) -> Node {
        let mut fields = vec![];
        let mut ops = vec![];
        for (key, value) in map {
            let key_path = join_path(path, key);
            if EVENT_FIELDS.contains(&key.as_str()) {
                fields.push((key.clone(), self.node(value, &key_path)));
            } else if matches!(key.as_str(), "$and" | "$or" | "$not") {
                ops.extend(self.top_logic(key, value, &key_path));
            } else {
                let operator = key.starts_with('$').then_some(key.as_str());
                self.errors.push(FilterError::new(
                    &key_path,
                    operator,
                    format!(
                        "'{key}' is not allowed at the top of a filter: use {}, $and, $or or $not",
                        EVENT_FIELDS.join(", ")
                    ),
                ));
            }
        }
        Node::Object { fields, ops }
    }

    fn top_logic(&mut self, op: &str, value: &Value, path: &str) -> Option<Op> {
        if op == "$not" {
            let Value::Object(map) = value else {
                return self.wrong(path, op, "$not at the top takes a filter object");
            };
            return Some(Op::Not(Box::new(self.top(map, path))));
        }
        let items: Option<Vec<&Map<String, Value>>> = match value {
            Value::Array(items) => items.iter().map(Value::as_object).collect(),
            _ => None,
        };
        let Some(items) = items else {
            return self.wrong(
                path,
                op,
                format!("{op} at the top takes an array of filter objects"),
            );
        };
        let nodes = items
            .into_iter()
            .enumerate()
            .map(|(i, map)| self.top(map, &format!("{path}[{i}]")))
            .collect();
        Some(if op == "$and" {
            Op::And(nodes)
        } else {
            Op::Or(nodes)
        })
    }

    fn node(&mut self, value: &Value, path: &str) -> Node {
        match value {
            Value::Object(map) => {
                let mut fields = vec![];
                let mut ops = vec![];
                for (key, child) in map {
                    let key_path = join_path(path, key);
                    if key.starts_with('$') {
                        ops.extend(self.op(key, child, &key_path));
                    } else {
                        fields.push((key.clone(), self.node(child, &key_path)));
                    }
                }
                Node::Object { fields, ops }
            }
            Value::Array(items) => Node::All(self.nodes(items, path)),
            literal => Node::Literal(literal.clone()),
        }
    }

    fn nodes(&mut self, items: &[Value], path: &str) -> Vec<Node> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| self.node(item, &format!("{path}[{i}]")))
            .collect()
    }

    fn op(&mut self, op: &str, value: &Value, path: &str) -> Option<Op> {
        if let Some((make, takes, what)) = comparison(op) {
            return match reference(value) {
                Some(Ok(reference)) => Some(make(Operand::Ref(reference))),
                Some(Err(message)) => self.wrong(&join_path(path, "$ref"), "$ref", message),
                None if takes(value) => Some(make(Operand::Fixed(value.clone()))),
                None => self.wrong(path, op, format!("{op} takes {what}")),
            };
        }
        match op {
            "$regex" => match value {
                Value::String(pattern) => self.regex(pattern, path),
                _ => self.wrong(path, op, "$regex takes a string"),
            },
            "$exist" => match value {
                Value::Bool(b) => Some(Op::Exist(*b)),
                _ => self.wrong(path, op, "$exist takes true or false"),
            },
            "$ref" => match value {
                Value::String(raw) => match RefPath::parse(raw) {
                    Ok(path) => Some(Op::Ref(path)),
                    Err(message) => self.wrong(path, op, message),
                },
                _ => self.wrong(
                    path,
                    op,
                    "$ref takes a path string, e.g. \"data.created_at\"",
                ),
            },
            "$and" | "$or" => match value {
                Value::Array(items) => {
                    let nodes = self.nodes(items, path);
                    Some(if op == "$and" {
                        Op::And(nodes)
                    } else {
                        Op::Or(nodes)
                    })
                }
                _ => self.wrong(path, op, format!("{op} takes an array of conditions")),
            },
            "$not" => Some(Op::Not(Box::new(self.node(value, path)))),
            _ => self.wrong(
                path,
                op,
                format!("'{op}' is not an operator; the operators are {OPERATORS}"),
            ),
        }
    }

    /// Compiles a `$regex` within the filter's budget: at most `MAX_REGEXES` of them, each at
    /// most `MAX_REGEX_SIZE` compiled, `MAX_REGEX_TOTAL_SIZE` together. Past the count or
    /// the total, the first pattern over is named and the rest are not compiled.
    fn regex(&mut self, pattern: &str, path: &str) -> Option<Op> {
        if pattern.len() > MAX_REGEX_LEN {
            return self.wrong(
                path,
                "$regex",
                format!("$regex patterns are at most {MAX_REGEX_LEN} bytes"),
            );
        }
        self.regexes += 1;
        let enforced = self.budget == RegexBudget::Enforced;
        if enforced && self.regexes > MAX_REGEXES {
            if self.regexes == MAX_REGEXES + 1 {
                return self.wrong(
                    path,
                    "$regex",
                    format!("a filter has at most {MAX_REGEXES} $regex operators"),
                );
            }
            return None;
        }
        let re = match compile(pattern, MAX_REGEX_SIZE) {
            Ok(re) => re,
            Err(e) => {
                return self.wrong(
                    path,
                    "$regex",
                    format!("$regex is not a valid pattern or is too costly to run: {e}"),
                )
            }
        };
        // regex-lite does not report a compiled size: find the power of two it fits in.
        let mut charged = REGEX_SIZE_STEP;
        while charged < MAX_REGEX_SIZE && compile(pattern, charged).is_err() {
            charged *= 2;
        }
        let before = self.regex_size;
        self.regex_size += charged;
        if enforced && self.regex_size > MAX_REGEX_TOTAL_SIZE {
            if before <= MAX_REGEX_TOTAL_SIZE {
                return self.wrong(
                    path,
                    "$regex",
                    format!(
                        "a filter's $regex patterns compile to at most {} KiB together: use \
                         fewer or simpler ones",
                        MAX_REGEX_TOTAL_SIZE / 1024
                    ),
                );
            }
            return None;
        }
        Some(Op::Regex(re, charged / 1024))
    }
}

/// What tests the value against an operand (written, or `{"$ref": path}`): the operator, the
/// written operands it takes, and how to say so.
type Comparison = (fn(Operand) -> Op, fn(&Value) -> bool, &'static str);

fn comparison(op: &str) -> Option<Comparison> {
    const ANY: fn(&Value) -> bool = |_| true;
    const ORDERED: fn(&Value) -> bool = |v| v.is_number() || v.is_string();
    const LIST: fn(&Value) -> bool = |v| v.is_array() || v.is_string();
    const ORDERED_TEXT: &str = "a number or a string";
    const LIST_TEXT: &str = "an array of values, or a string to find in the value";
    const AFFIX_TEXT: &str = "a string or an array of strings";
    Some(match op {
        "$eq" => (Op::Eq, ANY, "any value"),
        "$neq" => (Op::Neq, ANY, "any value"),
        "$contains" => (Op::Contains, ANY, "any value"),
        "$gt" => (|o| Op::Cmp(CmpOp::Gt, o), ORDERED, ORDERED_TEXT),
        "$gte" => (|o| Op::Cmp(CmpOp::Gte, o), ORDERED, ORDERED_TEXT),
        "$lt" => (|o| Op::Cmp(CmpOp::Lt, o), ORDERED, ORDERED_TEXT),
        "$lte" => (|o| Op::Cmp(CmpOp::Lte, o), ORDERED, ORDERED_TEXT),
        "$in" => (Op::In, LIST, LIST_TEXT),
        "$nin" => (Op::Nin, LIST, LIST_TEXT),
        "$startsWith" => (Op::StartsWith, is_strings, AFFIX_TEXT),
        "$endsWith" => (Op::EndsWith, is_strings, AFFIX_TEXT),
        _ => return None,
    })
}

fn compile(pattern: &str, size_limit: usize) -> Result<Regex, regex_lite::Error> {
    RegexBuilder::new(pattern)
        .size_limit(size_limit)
        .nest_limit(REGEX_NEST_LIMIT)
        .build()
}

/// `{"$ref": "…"}` as an operand: `None` if `value` is not of that shape.
fn reference(value: &Value) -> Option<Result<RefPath, String>> {
    let map = value.as_object().filter(|m| m.len() == 1)?;
    Some(match map.get("$ref")? {
        Value::String(raw) => RefPath::parse(raw),
        _ => Err("$ref takes a path string, e.g. \"data.created_at\"".into()),
    })
}

fn is_strings(value: &Value) -> bool {
    match value {
        Value::String(_) => true,
        Value::Array(items) => items.iter().all(Value::is_string),
        _ => false,
    }
}
