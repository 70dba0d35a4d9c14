//! Payload transforms (issue 4 §8): a destination may reshape what it is sent with a small
//! JSON template language, the same for every destination type.
//!
//! A transform is any JSON value. Its strings may hold `{{ path }}` placeholders; everything
//! else is copied as is. The language, decided here once:
//! - A path starts at one of `ROOTS` (`data`, `metadata`, `topic`, `event_id`, `tenant_id`,
//!   `delivery_id`, `attempt`, `timestamp`) and goes on with `.key` and `[index]` steps:
//!   `data.items[0].sku`. Keys are letters, digits, `_` and `-`.
//! - A string that is exactly one placeholder (spaces around it allowed) becomes the value
//!   itself, with its JSON type: `"{{ data }}"` is the whole object, `"{{ data.amount }}"` a
//!   number. A missing path gives `null`.
//! - A placeholder inside text is rendered as text: a string as is, `null` or a missing path
//!   as nothing, anything else as compact JSON (`42`, `true`, `{"a":1}`).
//! - Filters after `|`: `default: <JSON literal>` replaces a missing or `null` value;
//!   `truncate: N` cuts the value's text to N characters (ending with `…`), which makes it
//!   text. `{{ data.note | default: "none" | truncate: 100 }}`.
//! - `\{{` is a literal `{{`; object keys are literal.
//!
//! A transform is compiled once when it is saved (every problem reported with the JSON
//! pointer of the string at fault) and applied at delivery without re-parsing; applying
//! fails only when the output exceeds `MAX_OUTPUT_BYTES`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Largest transform document, as compact JSON (16 KiB is several Slack Block Kit messages).
pub const MAX_TEMPLATE_BYTES: usize = 16 * 1024;
/// Deepest nesting of objects and arrays, the top value being level 1.
pub const MAX_DEPTH: usize = 16;
/// Most placeholders in one transform: with the size limits, it bounds the work per delivery.
pub const MAX_PLACEHOLDERS: usize = 128;
/// Most `.key`/`[index]` steps after the root of one path.
pub const MAX_PATH_STEPS: usize = 16;
/// Largest transformed payload. Publish takes at most `MAX_BODY_BYTES` (256 KiB by default)
/// of data; a transform that embeds it twice, or as escaped text, may grow it, but past
/// 512 KiB no destination type we send to would take it (SQS and EventBridge: 256 KiB).
pub const MAX_OUTPUT_BYTES: usize = 512 * 1024;

/// What a path may start with: the fields a delivery carries.
pub const ROOTS: [&str; 8] = [
    "data",
    "metadata",
    "topic",
    "event_id",
    "tenant_id",
    "delivery_id",
    "attempt",
    "timestamp",
];

/// One problem in a transform: `pointer` is the RFC 6901 JSON pointer of the string at fault
/// ("" for the whole document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransformError {
    pub pointer: String,
    pub message: String,
}

impl TransformError {
    fn new(pointer: &str, message: impl Into<String>) -> Self {
        TransformError {
            pointer: pointer.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transform{}: {}", self.pointer, self.message)
    }
}

impl std::error::Error for TransformError {}

/// What a transform is applied to: one delivery of one event.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub data: &'a Value,
    pub metadata: &'a BTreeMap<String, String>,
    pub topic: &'a str,
    pub event_id: &'a str,
    pub tenant_id: &'a str,
    pub delivery_id: &'a str,
    /// The attempt this payload is for (1 for the first).
    pub attempt: u32,
    /// The event's time, RFC 3339.
    pub timestamp: &'a str,
}

/// A compiled transform. It keeps the JSON it was compiled from, which is what is stored,
/// shown and (de)serialised.
#[derive(Debug, Clone)]
pub struct Transform {
    source: Value,
    root: Node,
}

#[derive(Debug, Clone)]
enum Node {
    /// No placeholder below: copied as is.
    Literal(Value),
    /// A string that is one placeholder: the value with its type.
    Whole(Placeholder),
    /// A string with placeholders in text.
    Text(Vec<Piece>),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

#[derive(Debug, Clone)]
enum Piece {
    Literal(String),
    Placeholder(Placeholder),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Data,
    Metadata,
    Topic,
    EventId,
    TenantId,
    DeliveryId,
    Attempt,
    Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone)]
struct Placeholder {
    root: Root,
    steps: Vec<Step>,
    default: Option<Value>,
    truncate: Option<usize>,
}

impl Transform {
    /// Checks and compiles a transform, reporting every problem found (or only the size
    /// problem, when the document is too large or too deep to be worth compiling).
    pub fn compile(source: &Value) -> Result<Transform, Vec<TransformError>> {
        let size = serde_json::to_string(source).map_or(usize::MAX, |s| s.len());
        if size > MAX_TEMPLATE_BYTES {
            return Err(vec![TransformError::new(
                "",
                format!("a transform is at most {MAX_TEMPLATE_BYTES} bytes of JSON ({size} given)"),
            )]);
        }
        if let Some(pointer) = too_deep(source, "", 1) {
            return Err(vec![TransformError::new(
                &pointer,
                format!("a transform nests at most {MAX_DEPTH} levels of objects and arrays"),
            )]);
        }
        let mut c = Compiler::default();
        let root = c.node(source, "");
        if c.placeholders > MAX_PLACEHOLDERS {
            c.errors.push(TransformError::new(
                "",
                format!(
                    "at most {MAX_PLACEHOLDERS} placeholders ({} given)",
                    c.placeholders
                ),
            ));
        }
        if c.errors.is_empty() {
            Ok(Transform {
                source: source.clone(),
                root,
            })
        } else {
            Err(c.errors)
        }
    }

    /// The transformed payload for one delivery, as JSON text.
    pub fn apply(&self, subject: &Subject) -> Result<String, String> {
        let mut out = Capped(Vec::with_capacity(1024));
        let rendered = Rendered {
            node: &self.root,
            subject,
        };
        match serde_json::to_writer(&mut out, &rendered) {
            Ok(()) => String::from_utf8(out.0).map_err(|e| e.to_string()),
            Err(e) if e.to_string().contains(TOO_LARGE) => Err(format!(
                "the transformed payload is more than the {MAX_OUTPUT_BYTES} bytes allowed"
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The document the transform was compiled from.
    pub fn as_json(&self) -> &Value {
        &self.source
    }
}

impl PartialEq for Transform {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Serialize for Transform {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Transform {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Transform::compile(&value).map_err(|errors| match errors.first() {
            Some(first) => serde::de::Error::custom(first),
            None => serde::de::Error::custom("invalid transform"),
        })
    }
}

/// Escapes text so that a transform copies it literally (`{{` becomes `\{{`): for values
/// filled into a transform from elsewhere, such as a template's parameters.
pub fn escape_literal(text: &str) -> String {
    text.replace("{{", "\\{{")
}

// ---------------------------------------------------------------------------------------------
// Compiling

/// The pointer of the first value nested deeper than `MAX_DEPTH`, if any.
fn too_deep(v: &Value, pointer: &str, level: usize) -> Option<String> {
    let children: Box<dyn Iterator<Item = (String, &Value)>> = match v {
        Value::Array(items) => Box::new(items.iter().enumerate().map(|(i, c)| (i.to_string(), c))),
        Value::Object(map) => Box::new(map.iter().map(|(k, c)| (k.clone(), c))),
        _ => return None,
    };
    if level > MAX_DEPTH {
        return Some(pointer.to_string());
    }
    for (key, child) in children {
        if let Some(p) = too_deep(child, &push_pointer(pointer, &key), level + 1) {
            return Some(p);
        }
    }
    None
}

/// RFC 6901: `~` is `~0` and `/` is `~1` in a reference token.
fn push_pointer(pointer: &str, key: &str) -> String {
    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"))
}

#[derive(Default)]
struct Compiler {
    errors: Vec<TransformError>,
    placeholders: usize,
}

impl Compiler {
    fn node(&mut self, v: &Value, pointer: &str) -> Node {
        match v {
            Value::String(s) => self.string(s, pointer),
            Value::Array(items) => {
                let nodes: Vec<Node> = items
                    .iter()
                    .enumerate()
                    .map(|(i, c)| self.node(c, &push_pointer(pointer, &i.to_string())))
                    .collect();
                if nodes.iter().all(|n| matches!(n, Node::Literal(_))) {
                    Node::Literal(v.clone())
                } else {
                    Node::Array(nodes)
                }
            }
            Value::Object(map) => {
                let fields: Vec<(String, Node)> = map
                    .iter()
                    .map(|(k, c)| (k.clone(), self.node(c, &push_pointer(pointer, k))))
                    .collect();
                if fields.iter().all(|(_, n)| matches!(n, Node::Literal(_))) {
                    Node::Literal(v.clone())
                } else {
                    Node::Object(fields)
                }
            }
            other => Node::Literal(other.clone()),
        }
    }

    fn string(&mut self, s: &str, pointer: &str) -> Node {
        match parse_text(s) {
            Err(e) => {
                self.errors.push(TransformError::new(pointer, e));
                Node::Literal(Value::Null)
            }
            Ok(mut pieces) => {
                let count = pieces
                    .iter()
                    .filter(|p| matches!(p, Piece::Placeholder(_)))
                    .count();
                self.placeholders += count;
                match pieces.as_slice() {
                    [] => Node::Literal(Value::String(String::new())),
                    [Piece::Literal(text)] => Node::Literal(Value::String(text.clone())),
                    // Only a string that is one placeholder keeps the value's type.
                    [Piece::Placeholder(_)] => match pieces.pop() {
                        Some(Piece::Placeholder(p)) => Node::Whole(p),
                        _ => unreachable!("matched one placeholder above"),
                    },
                    _ => Node::Text(pieces),
                }
            }
        }
    }
}

/// Splits a string into literal text and placeholders. A string that is one placeholder with
/// only spaces around it is returned as that placeholder alone.
fn parse_text(s: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = vec![];
    let mut literal = String::new();
    let mut rest = s;
    loop {
        let next_escape = rest.find("\\{{");
        let next_open = rest.find("{{");
        match (next_escape, next_open) {
            (Some(e), Some(o)) if e < o => {
                literal.push_str(&rest[..e]);
                literal.push_str("{{");
                rest = &rest[e + 3..];
            }
            (_, Some(o)) => {
                literal.push_str(&rest[..o]);
                let offset = s.len() - rest.len() + o;
                let (placeholder, after) = parse_placeholder(&rest[o + 2..]).map_err(|e| {
                    format!("placeholder at character {}: {e}", char_index(s, offset))
                })?;
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Placeholder(placeholder));
                rest = after;
            }
            (_, None) => {
                literal.push_str(rest);
                break;
            }
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    // "  {{ data }} " counts as the whole value: surrounding spaces are layout, not text.
    if let [Piece::Literal(a), Piece::Placeholder(_)] | [Piece::Placeholder(_), Piece::Literal(a)] =
        pieces.as_slice()
    {
        if a.trim().is_empty() {
            pieces.retain(|p| matches!(p, Piece::Placeholder(_)));
        }
    }
    if let [Piece::Literal(a), Piece::Placeholder(_), Piece::Literal(b)] = pieces.as_slice() {
        if a.trim().is_empty() && b.trim().is_empty() {
            pieces.retain(|p| matches!(p, Piece::Placeholder(_)));
        }
    }
    Ok(pieces)
}

fn char_index(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

/// Parses `path | filter: arg … }}` (after the opening braces); returns the rest after `}}`.
fn parse_placeholder(input: &str) -> Result<(Placeholder, &str), String> {
    let mut rest = input.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || "_-.[]".contains(c)))
        .unwrap_or(rest.len());
    let (root, steps) = parse_path(&rest[..end])?;
    rest = rest[end..].trim_start();
    let mut placeholder = Placeholder {
        root,
        steps,
        default: None,
        truncate: None,
    };
    loop {
        if let Some(after) = rest.strip_prefix("}}") {
            return Ok((placeholder, after));
        }
        let Some(after) = rest.strip_prefix('|') else {
            return Err(if rest.is_empty() {
                "no closing '}}' (write '\\{{' for literal braces)".into()
            } else {
                format!("expected '|' or '}}}}' at '{}'", preview(rest))
            });
        };
        rest = after.trim_start();
        let name_end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        rest = rest[name_end..].trim_start();
        rest = rest
            .strip_prefix(':')
            .ok_or_else(|| format!("filter '{name}' needs an argument after ':'"))?
            .trim_start();
        let (arg, after) = split_literal(rest)?;
        rest = after.trim_start();
        match name {
            "default" => {
                let value: Value = serde_json::from_str(arg).map_err(|_| {
                    format!("default: '{arg}' is not a JSON literal (\"text\", 0, true, null)")
                })?;
                if value.is_object() || value.is_array() {
                    return Err("default: a string, number, boolean or null".into());
                }
                placeholder.default = Some(value);
            }
            "truncate" => {
                let n: usize = arg
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_OUTPUT_BYTES).contains(n))
                    .ok_or_else(|| {
                        format!("truncate: a number of characters, 1 to {MAX_OUTPUT_BYTES}")
                    })?;
                placeholder.truncate = Some(n);
            }
            other => {
                return Err(format!(
                    "unknown filter '{other}'; filters are default and truncate"
                ))
            }
        }
    }
}

/// A filter's argument: a JSON string literal (which may hold `|` and `}}`), or a bare word.
fn split_literal(input: &str) -> Result<(&str, &str), String> {
    if input.starts_with('"') {
        let mut escaped = false;
        for (i, c) in input.char_indices().skip(1) {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return Ok((&input[..=i], &input[i + 1..])),
                _ => {}
            }
        }
        return Err("a string argument has no closing quote".into());
    }
    let end = input
        .find(|c: char| c.is_whitespace() || c == '|' || c == '}')
        .unwrap_or(input.len());
    if end == 0 {
        return Err("a filter needs an argument".into());
    }
    Ok((&input[..end], &input[end..]))
}

fn preview(s: &str) -> String {
    s.chars().take(20).collect()
}

fn parse_path(raw: &str) -> Result<(Root, Vec<Step>), String> {
    let bad = || {
        format!(
            "'{raw}' is not a path: a root ({}) then .key or [index] steps",
            ROOTS.join(", ")
        )
    };
    let first_end = raw.find(['.', '[']).unwrap_or(raw.len());
    let root = match &raw[..first_end] {
        "" => return Err(bad()),
        "data" => Root::Data,
        "metadata" => Root::Metadata,
        "topic" => Root::Topic,
        "event_id" => Root::EventId,
        "tenant_id" => Root::TenantId,
        "delivery_id" => Root::DeliveryId,
        "attempt" => Root::Attempt,
        "timestamp" => Root::Timestamp,
        other => {
            return Err(format!(
                "unknown root '{other}'; a path starts with one of {}",
                ROOTS.join(", ")
            ))
        }
    };
    let mut steps = vec![];
    let mut rest = &raw[first_end..];
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(bad());
            }
            steps.push(Step::Key(key.to_string()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let (index, tail) = after.split_once(']').ok_or_else(bad)?;
            let index = index
                .parse::<usize>()
                .ok()
                .filter(|_| !index.is_empty() && index.chars().all(|c| c.is_ascii_digit()))
                .ok_or_else(bad)?;
            steps.push(Step::Index(index));
            rest = tail;
        } else {
            return Err(bad());
        }
    }
    if steps.len() > MAX_PATH_STEPS {
        return Err(format!("a path has at most {MAX_PATH_STEPS} steps"));
    }
    if !steps.is_empty() && !matches!(root, Root::Data | Root::Metadata) {
        return Err(format!(
            "'{}' is text: only data and metadata have fields",
            &raw[..first_end]
        ));
    }
    Ok((root, steps))
}

// ---------------------------------------------------------------------------------------------
// Applying

/// A node rendered for one subject, serialised straight from the event's values: nothing is
/// copied into an intermediate document.
struct Rendered<'n, 's, 'a> {
    node: &'n Node,
    subject: &'s Subject<'a>,
}

/// What the serialiser reports when the output passes `MAX_OUTPUT_BYTES`.
const TOO_LARGE: &str = "output too large";

impl Serialize for Rendered<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let s = self.subject;
        match self.node {
            Node::Literal(v) => v.serialize(ser),
            Node::Whole(p) => p.value(s).serialize(ser),
            Node::Text(pieces) => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Literal(t) => out.push_str(t),
                        Piece::Placeholder(p) => push_text(&mut out, &p.value(s)),
                    }
                    if out.len() > MAX_OUTPUT_BYTES {
                        return Err(serde::ser::Error::custom(TOO_LARGE));
                    }
                }
                ser.serialize_str(&out)
            }
            Node::Array(items) => {
                ser.collect_seq(items.iter().map(|node| Rendered { node, subject: s }))
            }
            Node::Object(fields) => ser.collect_map(
                fields
                    .iter()
                    .map(|(k, node)| (k, Rendered { node, subject: s })),
            ),
        }
    }
}

/// Collects the output and stops it at `MAX_OUTPUT_BYTES`, so that a transform repeating a
/// large event never builds an unbounded string.
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT_BYTES {
            return Err(std::io::Error::other(TOO_LARGE));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A value as text: strings as they are, `null` as nothing, the rest as compact JSON.
fn push_text(out: &mut String, v: &Value) {
    match v {
        Value::Null => {}
        Value::String(t) => out.push_str(t),
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

impl Placeholder {
    fn value<'a>(&self, s: &Subject<'a>) -> Cow<'a, Value> {
        let value = match self.lookup(s) {
            Some(v) if !v.is_null() => v,
            _ => Cow::Owned(self.default.clone().unwrap_or(Value::Null)),
        };
        match self.truncate {
            None => value,
            Some(n) => {
                let mut text = String::new();
                push_text(&mut text, &value);
                Cow::Owned(Value::String(truncate(text, n)))
            }
        }
    }

    fn lookup<'a>(&self, s: &Subject<'a>) -> Option<Cow<'a, Value>> {
        let text = |t: &str| Some(Cow::Owned(Value::String(t.to_string())));
        match self.root {
            Root::Data => walk(s.data, &self.steps).map(Cow::Borrowed),
            Root::Metadata => match self.steps.as_slice() {
                [] => Some(Cow::Owned(Value::Object(
                    s.metadata
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect(),
                ))),
                [Step::Key(k)] => s.metadata.get(k).and_then(|v| text(v)),
                _ => None,
            },
            Root::Topic => text(s.topic),
            Root::EventId => text(s.event_id),
            Root::TenantId => text(s.tenant_id),
            Root::DeliveryId => text(s.delivery_id),
            Root::Attempt => Some(Cow::Owned(Value::from(s.attempt))),
            Root::Timestamp => text(s.timestamp),
        }
    }
}

fn walk<'a>(mut v: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    for step in steps {
        v = match step {
            Step::Key(k) => v.get(k.as_str())?,
            Step::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

/// At most `n` characters; a cut string ends with `…` (counted in the `n`).
fn truncate(text: String, n: usize) -> String {
    if text.chars().count() <= n {
        return text;
    }
    let mut out: String = text.chars().take(n - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests;
