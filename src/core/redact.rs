//! Request headers as an attempt records them: names and values, with every credential
//! replaced by `MASK`. What counts as a credential: the headers that carry one by standard or
//! convention (auth, cookies, API keys, signatures, AWS session tokens), any header whose
//! name says it holds a secret, and the headers a destination declares secret
//! (`Provider::secret_headers`: a webhook's custom headers, its api_key header, its HMAC
//! signature header). Also URLs whose path is the credential (Slack, Discord and Zapier
//! webhook URLs): shown as their origin and a masked path.

use crate::core::destination::MASK;

/// Headers whose value is a credential by definition.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "webhook-signature",
    "x-amz-security-token",
    "x-goog-api-key",
];

/// Name fragments that mark a header as secret wherever they appear (`x-hub-signature-256`,
/// `x-auth-token`, `x-client-secret`…). A false positive hides a harmless value; a false
/// negative leaks a credential into every attempt record, so the list leans wide.
const SECRET_FRAGMENTS: &[&str] = &[
    "auth",
    "signature",
    "secret",
    "token",
    "password",
    "passwd",
    "api-key",
    "apikey",
    "api_key",
    "session",
    "cookie",
    "credential",
];

/// Whether a header's value must not be recorded. `declared` are the destination's own
/// secret header names (any case).
fn is_secret(name: &str, declared: &[String]) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_HEADERS.contains(&lower.as_str())
        || SECRET_FRAGMENTS.iter().any(|f| lower.contains(f))
        || declared.iter().any(|d| d.eq_ignore_ascii_case(name))
}

/// The headers as recorded: same names and order, secret values replaced by `MASK`.
pub fn redact(headers: &[(String, String)], declared: &[String]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if is_secret(name, declared) {
                MASK.to_string()
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect()
}

/// Credentials shorter than this are not searched for in response bodies: masking every
/// `abc` of a body would hide more than it protects (and such a secret is no secret).
const MIN_ECHO_LEN: usize = 6;

/// The credential values a request carries in its secret headers (`is_secret`), to be masked
/// wherever the answer repeats them: the whole value, and for `Basic …` / `Bearer …` the part
/// after the scheme.
pub fn secret_values(headers: &[(String, String)], declared: &[String]) -> Vec<String> {
    // Longest first, so a value is masked whole before a part of it is looked for; kept in
    // order as they come (a handful), rather than sorted after.
    let mut out: Vec<String> = vec![];
    let mut add = |value: &str| {
        if value.len() >= MIN_ECHO_LEN && !out.iter().any(|v| v == value) {
            let at = out.partition_point(|v| v.len() >= value.len());
            out.insert(at, value.to_string());
        }
    };
    for (name, value) in headers {
        if !is_secret(name, declared) {
            continue;
        }
        add(value);
        if let Some((_, credential)) = value.split_once(' ') {
            add(credential.trim());
        }
    }
    out
}

/// `text` with every occurrence of a secret value replaced by `MASK`: a service that echoes
/// the request (an error page quoting the `Authorization` header, a debugging endpoint) must
/// not put the credential into the attempt record.
pub fn mask_echoes(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), MASK);
        }
    }
    out
}

/// A URL whose path and query are its credential, as it may be shown: the origin and
/// `/********` (`https://hooks.zapier.com/********`). Text that is not a URL is masked whole.
fn mask_url_path(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) if u.has_host() => format!("{}/{MASK}", u.origin().ascii_serialization()),
        _ => MASK.to_string(),
    }
}

/// Whether `shown` is what `mask_url_path` shows of `real`: a client that sends back the URL
/// it read keeps the stored one (like `MASK` for any credential).
pub fn is_masked_url_of(shown: &str, real: &str) -> bool {
    shown.ends_with(MASK) && mask_url_path(real) == shown
}

/// A destination's config as every view, alert and log shows it: the stored config (its
/// credentials already masked), and for a destination made from a template whose URL is
/// the service's credential (`url_is_secret`: a Slack, Discord or Zapier webhook URL), the
/// URL's path masked.
pub fn shown_config(template: Option<&str>, config: &serde_json::Value) -> serde_json::Value {
    let mut shown = config.clone();
    if template
        .and_then(crate::core::template::find)
        .is_some_and(|t| t.url_is_secret)
    {
        if let Some(url) = shown.get_mut("url") {
            if let Some(raw) = url.as_str() {
                *url = serde_json::Value::String(mask_url_path(raw));
            }
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templated_urls_show_their_origin_only() {
        let zapier = "https://hooks.zapier.com/hooks/catch/123456/abcdef/?x=1";
        assert_eq!(mask_url_path(zapier), "https://hooks.zapier.com/********");
        assert_eq!(
            mask_url_path("http://127.0.0.1:9000/services/T0/B0/XyZ"),
            "http://127.0.0.1:9000/********"
        );
        assert_eq!(mask_url_path("not a url"), MASK);
        let config = serde_json::json!({"url": zapier, "headers": {"x-key": MASK}});
        let shown = shown_config(Some("zapier"), &config);
        assert_eq!(shown["url"], "https://hooks.zapier.com/********");
        assert_eq!(shown["headers"]["x-key"], MASK);
        assert!(!shown.to_string().contains("abcdef"));
        // A destination of no template shows its URL (its credentials are in `auth`), and so
        // does one of a template whose URL is the service's public endpoint.
        assert_eq!(shown_config(None, &config), config);
        assert_eq!(shown_config(Some("datadog"), &config), config);
        for name in ["slack", "discord"] {
            assert_eq!(
                shown_config(Some(name), &config)["url"],
                shown["url"],
                "{name}"
            );
        }
        assert!(is_masked_url_of(
            "https://hooks.zapier.com/********",
            zapier
        ));
        assert!(!is_masked_url_of("https://evil.example/********", zapier));
        assert!(!is_masked_url_of(zapier, zapier));
    }

    #[test]
    fn echoed_credentials_are_masked_in_the_answer() {
        let headers = h(&[
            ("Authorization", "Basic QVBJX0tFWV8xOnMzY3JldA=="),
            ("x-api-key", "abc"),
            ("X-Routing-Key", "R0UT1NG-KEY-42"),
            ("content-type", "application/json"),
        ]);
        let secrets = secret_values(&headers, &["x-routing-key".to_string()]);
        // Longest first, each once.
        assert_eq!(
            secrets,
            [
                "Basic QVBJX0tFWV8xOnMzY3JldA==",
                "QVBJX0tFWV8xOnMzY3JldA==",
                "R0UT1NG-KEY-42"
            ]
        );
        let twice = h(&[
            ("authorization", "Bearer tok-123456"),
            ("x-token", "tok-123456"),
        ]);
        assert_eq!(
            secret_values(&twice, &["x-token".to_string()]),
            ["Bearer tok-123456", "tok-123456"]
        );
        // A repeat that a sort by length left apart from its first (a value of the same
        // length between them) is dropped too.
        let apart = h(&[
            ("x-a", "aaaaaaaaaa"),
            ("x-b", "bbbbbbbbbb"),
            ("x-c", "aaaaaaaaaa"),
        ]);
        let declared = ["x-a", "x-b", "x-c"].map(String::from);
        assert_eq!(
            secret_values(&apart, &declared),
            ["aaaaaaaaaa", "bbbbbbbbbb"]
        );
        let body = r#"{"error":"denied","saw":"Basic QVBJX0tFWV8xOnMzY3JldA==","token":"QVBJX0tFWV8xOnMzY3JldA==","key":"R0UT1NG-KEY-42","short":"abc","type":"application/json"}"#;
        let masked = mask_echoes(body, &secrets);
        assert_eq!(
            masked,
            r#"{"error":"denied","saw":"********","token":"********","key":"********","short":"abc","type":"application/json"}"#
        );
        // Nothing secret in the request: the body is kept as it is.
        assert_eq!(mask_echoes(body, &secret_values(&headers[3..], &[])), body);
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn standard_credentials_are_masked_and_the_rest_kept_in_order() {
        let headers = h(&[
            ("content-type", "application/json"),
            ("Authorization", "Bearer s3cret"),
            ("Proxy-Authorization", "Basic abc"),
            ("cookie", "sid=1"),
            ("X-API-Key", "k"),
            ("webhook-id", "evt_1"),
            ("webhook-timestamp", "1700000000"),
            ("webhook-signature", "v1,abc="),
            ("x-amz-security-token", "FQoG"),
            ("x-amz-date", "20261123T120000Z"),
            ("x-sluice-event-id", "evt_1"),
            ("user-agent", "Sluice/0.1.0 (webhook delivery)"),
        ]);
        assert_eq!(
            redact(&headers, &[]),
            h(&[
                ("content-type", "application/json"),
                ("Authorization", MASK),
                ("Proxy-Authorization", MASK),
                ("cookie", MASK),
                ("X-API-Key", MASK),
                ("webhook-id", "evt_1"),
                ("webhook-timestamp", "1700000000"),
                ("webhook-signature", MASK),
                ("x-amz-security-token", MASK),
                ("x-amz-date", "20261123T120000Z"),
                ("x-sluice-event-id", "evt_1"),
                ("user-agent", "Sluice/0.1.0 (webhook delivery)"),
            ])
        );
    }

    #[test]
    fn secret_looking_names_are_masked() {
        for name in [
            "x-hub-signature-256",
            "X-Auth-Token",
            "x-client-secret",
            "x-session-id",
            "x-my-apikey",
        ] {
            assert!(is_secret(name, &[]), "{name}");
        }
        for name in ["x-tenant", "x-sluice-topic", "content-length", "accept"] {
            assert!(!is_secret(name, &[]), "{name}");
        }
    }

    #[test]
    fn headers_the_destination_declares_are_masked_in_any_case() {
        let declared = vec!["X-Tenant".to_string(), "x-custom-hmac".to_string()];
        let out = redact(
            &h(&[
                ("x-tenant", "acme"),
                ("X-CUSTOM-HMAC", "ab12"),
                ("x-other", "v"),
            ]),
            &declared,
        );
        assert_eq!(
            out,
            h(&[
                ("x-tenant", MASK),
                ("X-CUSTOM-HMAC", MASK),
                ("x-other", "v")
            ])
        );
    }
}
