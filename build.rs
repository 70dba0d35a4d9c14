//! Embeds the committed type catalogue the Worker serves (`src/providers/types.json`) without
//! its indentation: it is committed pretty for review, and the whitespace would be a third of
//! its size in the wasm. Key order is kept as committed (the dashboard shows config fields in
//! that order). The API document is not embedded: it goes out as a static asset
//! (`scripts/build.sh`).

use std::path::Path;

const DOCUMENTS: &[(&str, &str)] = &[("src/providers/types.json", "types.json")];

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
