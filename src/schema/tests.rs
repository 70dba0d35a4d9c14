//! The committed documents are what the generator makes of the types.

use super::*;

/// Fails when `types.json` or `openapi.json` differ from what the types say; with
/// `SLUICE_BLESS=1` it rewrites them instead.
#[test]
fn committed_documents_are_generated() {
    let bless = std::env::var("SLUICE_BLESS").is_ok_and(|v| v == "1");
    let mut stale = vec![];
    for (path, doc) in documents() {
        let want = render(&doc);
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            if bless {
                std::fs::write(&path, want).expect("write");
            } else {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} differ from what the Rust types say; regenerate with \
         `SLUICE_BLESS=1 cargo test schema::` and review the diff"
    );
}

/// Every `$ref` in the OpenAPI document points at a component it defines.
#[test]
fn openapi_references_resolve() {
    let doc = openapi();
    let mut refs = vec![];
    collect_refs(&doc, &mut refs);
    for r in refs {
        let pointer = r.strip_prefix('#').expect("a local $ref");
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                out.push(r.clone());
            }
            o.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
