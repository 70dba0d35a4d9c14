//! Payload transforms: a destination may reshape what it is sent with a small
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

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

mod compile;
use compile::*;

mod render;
use render::*;

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

#[cfg(test)]
mod tests;
