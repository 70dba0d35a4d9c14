//! `$ref` paths: `data.items[0].sku`, `data.items[$index].sku`. Parsed when the filter is,
//! resolved against the event document while it is matched; `$index` stands for the index of
//! the array element being matched, the outermost array first.

use serde_json::Value;

use super::EVENT_FIELDS;

/// Longest `$ref` path, in bytes.
const MAX_REF_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct RefPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
    /// `[$index]`: the n-th array being matched, counting `$index`es from the left.
    Current,
}

/// The indices of the array elements being matched, innermost first (a linked list on the
/// stack, so descending into an array allocates nothing).
#[derive(Clone, Copy)]
pub(super) struct Indices<'a> {
    pub index: usize,
    pub outer: Option<&'a Indices<'a>>,
}

impl RefPath {
    /// Parses a path; the first key is one of the document's fields.
    pub fn parse(raw: &str) -> Result<RefPath, String> {
        if raw.len() > MAX_REF_LEN {
            return Err(format!("$ref paths are at most {MAX_REF_LEN} bytes"));
        }
        let mut segments = vec![];
        for part in raw.split('.') {
            let (key, mut rest) = part
                .split_once('[')
                .map_or((part, None), |(k, r)| (k, Some(r)));
            if key.is_empty() && (segments.is_empty() || rest.is_none()) {
                return Err(format!("'{raw}' is not a path like data.items[0].sku"));
            }
            if !key.is_empty() {
                segments.push(Segment::Key(key.to_string()));
            }
            // After a '[': `N]`, `$index]`, each maybe followed by another '['.
            while let Some(bracket) = rest {
                let Some((inside, after)) = bracket.split_once(']') else {
                    return Err(format!("'{raw}': a '[' is not closed"));
                };
                segments.push(match inside {
                    "$index" => Segment::Current,
                    n => Segment::Index(n.parse().map_err(|_| {
                        format!("'{raw}': [{n}] is neither an array index nor [$index]")
                    })?),
                });
                rest =
                    match after {
                        "" => None,
                        more => Some(more.strip_prefix('[').ok_or_else(|| {
                            format!("'{raw}': '{more}' follows ']' without a '.'")
                        })?),
                    };
            }
        }
        match segments.first() {
            Some(Segment::Key(k)) if EVENT_FIELDS.contains(&k.as_str()) => Ok(RefPath(segments)),
            _ => Err(format!(
                "'{raw}': paths start at the event, with one of {}: e.g. data.{raw}",
                EVENT_FIELDS.join(", ")
            )),
        }
    }

    /// The value at this path, or `None` if the document has nothing there (or the path has
    /// more `$index`es than arrays are being matched).
    pub fn resolve<'v>(&self, root: &'v Value, indices: Option<&Indices<'_>>) -> Option<&'v Value> {
        let depth = std::iter::successors(indices, |i| i.outer).count();
        let mut current_seen = 0;
        let mut value = root;
        for segment in &self.0 {
            value = match segment {
                Segment::Key(k) => value.as_object()?.get(k)?,
                Segment::Index(i) => value.as_array()?.get(*i)?,
                Segment::Current => {
                    // The k-th `$index` (outermost first) is the (depth - 1 - k)-th innermost.
                    let from_inner = depth.checked_sub(current_seen + 1)?;
                    current_seen += 1;
                    let index = std::iter::successors(indices, |i| i.outer)
                        .nth(from_inner)?
                        .index;
                    value.as_array()?.get(index)?
                }
            };
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_parse_and_resolve() {
        let doc = json!({"data": {"a": [{"b": [10, 11]}, {"b": [20, 21]}], "k": {"x": 1}}});
        // `idx` outermost first, as the matcher pushes them while descending.
        let at = |raw: &str, idx: &[usize]| {
            let path = RefPath::parse(raw).unwrap();
            match idx {
                [] => path.resolve(&doc, None).cloned(),
                [only] => {
                    let one = Indices {
                        index: *only,
                        outer: None,
                    };
                    path.resolve(&doc, Some(&one)).cloned()
                }
                [outer, inner, ..] => {
                    let outer = Indices {
                        index: *outer,
                        outer: None,
                    };
                    let inner = Indices {
                        index: *inner,
                        outer: Some(&outer),
                    };
                    path.resolve(&doc, Some(&inner)).cloned()
                }
            }
        };
        assert_eq!(at("data.k.x", &[]), Some(json!(1)));
        assert_eq!(at("data.a[1].b[0]", &[]), Some(json!(20)));
        assert_eq!(at("data.a[$index].b[$index]", &[1, 1]), Some(json!(21)));
        assert_eq!(at("data.a[$index].b[$index]", &[0, 1]), Some(json!(11)));
        assert_eq!(at("data.a[$index].b[$index]", &[0]), None);
        assert_eq!(at("data.a[5]", &[]), None);
        assert_eq!(at("data.k[0]", &[]), None);
        assert_eq!(at("data.nope", &[]), None);
        for bad in [
            "",
            "price",
            "data..x",
            "data.a[",
            "data.a[x]",
            "data.a[0]b",
            ".data",
        ] {
            assert!(RefPath::parse(bad).is_err(), "{bad}");
        }
        assert!(RefPath::parse(&format!("data.{}", "a".repeat(MAX_REF_LEN))).is_err());
    }
}
