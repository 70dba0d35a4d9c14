//! Credentials follow their endpoint. A PATCH keeps a credential it leaves out or sends back
//! masked (`********`), so that a destination read from the API can be edited without knowing
//! its secrets. Without a guard, whoever may edit a destination but not read its credentials
//! (a portal user with a tenant token) could point its URL at a host of their own and have
//! Sluice send the stored password there. So when a PATCH moves any endpoint of a destination
//! to another host, every credential the destination keeps must come with that PATCH, in
//! clear. Another path, port or scheme on the same host keeps them: credentials are issued
//! for a host, and whoever runs it already has them.

use serde_json::Value;

use super::destination::MASK;
use super::validate::FieldError;

/// The config fields that say where requests (and so credentials) go, at any depth.
const ENDPOINT_KEYS: [&str; 4] = ["url", "endpoint", "queue_url", "token_uri"];

/// The host of a URL (as the URL parser normalises it), or the text itself when it does not
/// parse.
fn host(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) => u.host_str().unwrap_or_default().to_string(),
        Err(_) => raw.to_string(),
    }
}

/// Every endpoint field of a config with its host, as `(path, host)`.
fn endpoints(config: &Value, path: &str, out: &mut Vec<(String, String)>) {
    if let Value::Object(map) = config {
        for (key, value) in map {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            match value {
                Value::String(s) if ENDPOINT_KEYS.contains(&key.as_str()) => {
                    out.push((here, host(s)))
                }
                Value::Object(_) => endpoints(value, &here, out),
                _ => {}
            }
        }
    }
}

/// The value at a dotted path.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |node, key| node.get(key))
}

/// The concrete paths of `secret_paths` (`auth.token`, `headers.*`) present in `config`.
fn present(config: &Value, secret_paths: &[&str]) -> Vec<String> {
    let mut out = vec![];
    for path in secret_paths {
        match path.strip_suffix(".*") {
            Some(parent) => {
                if let Some(Value::Object(map)) = at(config, parent) {
                    out.extend(map.keys().map(|k| format!("{parent}.{k}")));
                }
            }
            None => {
                if at(config, path).is_some_and(|v| !v.is_null()) {
                    out.push(path.to_string());
                }
            }
        }
    }
    out
}

/// The errors, one per credential that would follow a moved endpoint without being given
/// again. `old` and `new` are the full configs before and after the merge, `patch` the
/// `config` of the PATCH body (if any); `secret_paths` the type's credentials, as the type
/// catalogue lists them (`headers.*` for every custom header).
pub fn check(
    old: &Value,
    new: &Value,
    patch: Option<&Value>,
    secret_paths: &[&str],
) -> Vec<FieldError> {
    let (mut before, mut after) = (vec![], vec![]);
    endpoints(old, "", &mut before);
    endpoints(new, "", &mut after);
    let moved = after
        .iter()
        .any(|(path, o)| before.iter().any(|(p, b)| p == path && b != o))
        || after
            .iter()
            .any(|(path, _)| !before.iter().any(|(p, _)| p == path));
    if !moved {
        return vec![];
    }
    let given = |path: &str| {
        patch
            .and_then(|p| at(p, path))
            .and_then(Value::as_str)
            .is_some_and(|s| s != MASK)
    };
    present(new, secret_paths)
        .into_iter()
        .filter(|path| !given(path))
        .map(|path| {
            FieldError::new(
                format!("config.{path}"),
                "the destination's endpoint moves to another host: give this credential again \
                 in the same request (a kept or masked one does not follow it)",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WEBHOOK: [&str; 5] = [
        "auth.token",
        "auth.password",
        "auth.key",
        "headers.*",
        "signing.secret",
    ];

    fn webhook(url: &str) -> Value {
        json!({"url": url, "auth": {"type": "bearer", "token": "t0p"}, "headers": {"x-key": "h"}})
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn same_host_keeps_credentials() {
        let old = webhook("https://a.example/hooks");
        for url in [
            "https://a.example:443/other?x=1",
            "https://A.EXAMPLE:8443/hooks",
            "http://a.example/hooks",
        ] {
            assert_eq!(check(&old, &webhook(url), None, &WEBHOOK), vec![], "{url}");
        }
        let patch = json!({"auth": {"token": MASK}});
        assert_eq!(check(&old, &old, Some(&patch), &WEBHOOK), vec![]);
    }

    #[test]
    fn another_host_needs_every_credential_again() {
        let old = webhook("https://a.example/hooks");
        let new = webhook("https://evil.example/hooks");
        let patch = json!({"url": "https://evil.example/hooks"});
        assert_eq!(
            fields(check(&old, &new, Some(&patch), &WEBHOOK)),
            ["config.auth.token", "config.headers.x-key"]
        );
        let masked = json!({"url": "https://evil.example/hooks", "auth": {"token": MASK}, "headers": {"x-key": MASK}});
        assert_eq!(check(&old, &new, Some(&masked), &WEBHOOK).len(), 2);
        let given = json!({"url": "https://evil.example/hooks", "auth": {"token": "new"}, "headers": {"x-key": "new"}});
        assert_eq!(check(&old, &new, Some(&given), &WEBHOOK), vec![]);
        // A subdomain, an address or a spelling of the same name is another host.
        for url in [
            "https://b.a.example/hooks",
            "https://93.184.215.14/hooks",
            "https://a.example.evil/hooks",
        ] {
            assert_eq!(check(&old, &webhook(url), None, &WEBHOOK).len(), 2, "{url}");
        }
    }

    #[test]
    fn nested_and_added_endpoints_count() {
        let secrets = ["service_account.private_key"];
        let old = json!({"topic": "t", "service_account": {"private_key": "k", "token_uri": "https://oauth2.googleapis.com/token"}});
        let mut new = old.clone();
        new["service_account"]["token_uri"] = json!("https://evil.example/token");
        assert_eq!(
            fields(check(&old, &new, None, &secrets)),
            ["config.service_account.private_key"]
        );
        let mut added = old.clone();
        added["endpoint"] = json!("https://evil.example");
        assert_eq!(check(&old, &added, None, &secrets).len(), 1);
        // No credential, nothing to re-enter.
        assert_eq!(check(&old, &new, None, &[]), vec![]);
    }
}
