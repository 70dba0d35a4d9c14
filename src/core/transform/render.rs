//! Applying a compiled transform at delivery: placeholders resolved against the delivery,
//! filters applied, and the output serialised straight into a buffer capped at
//! `MAX_OUTPUT_BYTES`.

use super::*;
use crate::core::json;
use serde::{Serialize, Serializer};
use serde_json::Value;
use std::borrow::Cow;

/// A node rendered for one subject, serialised straight from the event's values: nothing is
/// copied into an intermediate document.
pub(super) struct Rendered<'n, 's, 'a> {
    pub(super) node: &'n Node,
    pub(super) subject: &'s Subject<'a>,
}

/// What the serialiser reports when the output passes `MAX_OUTPUT_BYTES`.
pub(super) const TOO_LARGE: &str = "output too large";

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
pub(super) struct Capped(pub(super) Vec<u8>);

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
pub(super) fn push_text(out: &mut String, v: &Value) {
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
                [] => Some(Cow::Owned(json::object_of_strings(
                    s.metadata.iter().map(|(k, v)| (k.clone(), v.clone())),
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

pub(super) fn walk<'a>(mut v: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    for step in steps {
        v = match step {
            Step::Key(k) => v.get(k.as_str())?,
            Step::Index(i) => v.get(*i)?,
        };
    }
    Some(v)
}

/// At most `n` characters; a cut string ends with `…` (counted in the `n`).
pub(super) fn truncate(text: String, n: usize) -> String {
    if text.chars().count() <= n {
        return text;
    }
    let mut out: String = text.chars().take(n - 1).collect();
    out.push('…');
    out
}
