//! Compiling a transform when it is saved: every string parsed into literal text and
//! placeholders (paths and filters), every problem reported with the JSON pointer of the
//! string at fault, and the size and depth limits enforced.

use super::*;
use crate::core::json;
use serde_json::Value;

/// The pointer of the first value nested deeper than `MAX_DEPTH`, if any.
pub(super) fn too_deep(v: &Value, pointer: &str, level: usize) -> Option<String> {
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
pub(super) fn push_pointer(pointer: &str, key: &str) -> String {
    format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"))
}

#[derive(Default)]
pub(super) struct Compiler {
    pub(super) errors: Vec<TransformError>,
    pub(super) placeholders: usize,
}

impl Compiler {
    pub(super) fn node(&mut self, v: &Value, pointer: &str) -> Node {
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
pub(super) fn parse_text(s: &str) -> Result<Vec<Piece>, String> {
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

pub(super) fn char_index(s: &str, byte: usize) -> usize {
    s[..byte].chars().count()
}

/// Parses `path | filter: arg … }}` (after the opening braces); returns the rest after `}}`.
pub(super) fn parse_placeholder(input: &str) -> Result<(Placeholder, &str), String> {
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
                let value: Value = json::from_str(arg).map_err(|_| {
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
pub(super) fn split_literal(input: &str) -> Result<(&str, &str), String> {
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

pub(super) fn preview(s: &str) -> String {
    s.chars().take(20).collect()
}

pub(super) fn parse_path(raw: &str) -> Result<(Root, Vec<Step>), String> {
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
