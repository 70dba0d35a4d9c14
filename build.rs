//! Embeds the committed JSON documents the Worker serves (`src/api/openapi.json`,
//! `src/providers/types.json`) without their indentation: they are committed pretty for
//! review, and the whitespace would be a third of their size in the wasm. Key order is kept
//! as committed (the dashboard shows config fields in that order).

use std::path::Path;

const DOCUMENTS: &[(&str, &str)] = &[
    ("src/api/openapi.json", "openapi.json"),
    ("src/providers/types.json", "types.json"),
];

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for (source, name) in DOCUMENTS {
        println!("cargo:rerun-if-changed={source}");
        let text = std::fs::read_to_string(source).expect("committed document");
        std::fs::write(Path::new(&out_dir).join(name), minify(&text)).expect("OUT_DIR");
    }
}

/// Drops the whitespace between JSON tokens; strings are copied as they are.
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}
