//! Which field a `serde_json` error is about, from where in the text it was found.
//!
//! `serde_json` says where it stopped (line and column) but not in which field. Reading the
//! text up to that point tells: the keys and indices of the objects and arrays still open
//! there. This replaces wrapping every reader in `serde_path_to_error`, whose second copy of
//! each type's reading cost 21 KB of the gzipped wasm (3 %); only a failed read pays here.

/// One open object or array at the error.
enum Frame {
    /// An object, with the key last read in it (`None` before the first, and after a comma).
    Object { key: Option<String> },
    /// An array, with the index of the element being read (`None` before the first).
    Array { index: Option<usize> },
}

/// The byte offset of a `serde_json` error's line (1-based) and column (bytes into the line).
pub(super) fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + column).min(text.len())
}

/// The path (`auth.token`, `events[2].topic`) of what a reader was reading at byte `at` of
/// `text` (text that parses as JSON up to there): the keys and indices of the objects and
/// arrays open there.
pub(super) fn path_at(text: &str, at: usize) -> String {
    let bytes = text.as_bytes();
    let mut frames: Vec<Frame> = Vec::new();
    // Whether the object on top expects a key next (after `{` or a comma).
    let mut expects_key = false;
    let mut i = 0;
    let at = at.min(bytes.len());
    while i < at {
        match bytes[i] {
            b'"' => {
                let end = string_end(bytes, i);
                if let (Some(Frame::Object { key }), true) = (frames.last_mut(), expects_key) {
                    *key = Some(unquote(&text[i..end]));
                    expects_key = false;
                } else {
                    start_value(&mut frames);
                }
                i = end;
                continue;
            }
            b'{' => {
                start_value(&mut frames);
                frames.push(Frame::Object { key: None });
                expects_key = true;
            }
            b'[' => {
                start_value(&mut frames);
                frames.push(Frame::Array { index: None });
            }
            b'}' | b']' => {
                frames.pop();
                expects_key = false;
            }
            b',' => match frames.last_mut() {
                Some(Frame::Object { key }) => {
                    *key = None;
                    expects_key = true;
                }
                Some(Frame::Array { index }) => *index = Some(index.map_or(0, |n| n + 1)),
                None => {}
            },
            b':' | b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => start_value(&mut frames),
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &frames {
        match frame {
            Frame::Object { key: Some(key) } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Array { index: Some(n) } => path.push_str(&format!("[{n}]")),
            _ => {}
        }
    }
    path
}

/// A value starts: in an array, its first element (later ones are counted at the commas).
fn start_value(frames: &mut [Frame]) {
    if let Some(Frame::Array { index }) = frames.last_mut() {
        index.get_or_insert(0);
    }
}

/// The offset just past the string that opens at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// A key as it reads once its escapes are undone (`"a\u0062"` is `ab`).
fn unquote(quoted: &str) -> String {
    crate::core::json::from_str(quoted).unwrap_or_else(|_| quoted.trim_matches('"').to_string())
}
