//! Credentials follow their endpoint. A PATCH keeps a credential it leaves out or sends back
//! masked (`********`), so that a destination read from the API can be edited without knowing
//! its secrets. Without a guard, whoever may edit a destination but not read its credentials
//! (a portal user with a tenant token) could point its URL at a host of their own and have
//! Sluice send the stored password there. So when a PATCH moves any endpoint of a destination
//! to another origin (scheme, host or port), every credential the destination keeps must come
//! with that PATCH, in clear. A scheme change would send them in clear text (https → http), a
//! port change to another service of the same host (whoever runs a shared host's other port
//! need not be whoever the credentials were issued to). Another path on the same origin keeps
//! them: credentials are issued for an origin, and whoever runs it already has them.

use serde_json::Value;

use super::destination::MASK;
use super::validate::{endpoint_fields, FieldError};

/// The origin of a URL (scheme, host and port, as the URL parser normalises them: the
/// default port of the scheme is no port), or the text itself when it does not parse.
fn origin(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or_default()
        ),
        Err(_) => raw.to_string(),
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
    let origins = |config: &Value| -> Vec<(String, String)> {
        endpoint_fields(config)
            .into_iter()
            .map(|(path, raw)| (path, origin(&raw)))
            .collect()
    };
    let (before, after) = (origins(old), origins(new));
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
                "the destination's endpoint moves to another origin (scheme, host or port): give \
                 this credential again in the same request (a kept or masked one does not follow it)",
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
    fn same_origin_keeps_credentials() {
        let old = webhook("https://a.example/hooks");
        for url in [
            "https://a.example:443/other?x=1",
            "https://A.EXAMPLE/hooks",
            "https://a.example/hooks/../other",
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
        // A subdomain, an address or a spelling of the same name is another host; another
        // scheme (credentials in clear) or port (another service) is another origin.
        for url in [
            "http://a.example/hooks",
            "https://a.example:8443/hooks",
            "http://a.example:443/hooks",
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
