use super::*;
use std::collections::HashMap;

fn parse(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::parse(|name| vars.get(name).cloned())
}

#[test]
fn unset_and_empty_variables_take_the_defaults() {
    assert_eq!(parse(&[]).unwrap(), Settings::default());
    let names = [
        "ALLOW_PRIVATE_DESTINATIONS",
        "REQUIRE_HTTPS",
        "ALERT_EMAIL_DOMAINS",
        "ALERT_MIN_CONSECUTIVE_FAILURES",
        "MAX_BODY_BYTES",
        "ALLOW_UNKNOWN_TOPICS",
        "RETENTION_DAYS",
        "LOG_BUCKET_SECONDS",
        "METRICS_FLUSH_SECONDS",
        "ROUTING_CACHE_SECONDS",
        "MAX_MANUAL_RETRIES",
        "MAX_DESTINATIONS_PER_TENANT",
    ];
    let empty: Vec<(&str, &str)> = names.iter().map(|n| (*n, "")).collect();
    assert_eq!(parse(&empty).unwrap(), Settings::default());
}

#[test]
fn the_shipped_values_parse() {
    let s = parse(&[
        ("ALLOW_PRIVATE_DESTINATIONS", "false"),
        ("REQUIRE_HTTPS", "true"),
        ("ALERT_EMAIL_DOMAINS", "example.com"),
        ("ALERT_MIN_CONSECUTIVE_FAILURES", "5"),
        ("MAX_BODY_BYTES", "262144"),
        ("ALLOW_UNKNOWN_TOPICS", "false"),
        ("RETENTION_DAYS", "0.5"),
        ("LOG_BUCKET_SECONDS", " 2 "),
        ("METRICS_FLUSH_SECONDS", "0"),
        ("ROUTING_CACHE_SECONDS", "1.5"),
        ("MAX_MANUAL_RETRIES", "2"),
        ("MAX_DESTINATIONS_PER_TENANT", "3"),
    ])
    .unwrap();
    assert_eq!(s.alert_email_domains, "example.com");
    assert_eq!(s.retention_ms, 43_200_000);
    assert_eq!(s.layout.bucket_ms, 2_000);
    assert_eq!(s.metrics_flush_ms, 0);
    assert_eq!(s.routing_cache_ms, 1_500);
    assert_eq!(
        (s.max_manual_retries, s.max_destinations_per_tenant),
        (2, 3)
    );
}

#[test]
fn https_is_required_unless_private_destinations_are_allowed() {
    assert!(parse(&[]).unwrap().require_https);
    let local = parse(&[("ALLOW_PRIVATE_DESTINATIONS", "true")]).unwrap();
    assert!(local.allow_private_destinations && !local.require_https);
    let both = parse(&[
        ("ALLOW_PRIVATE_DESTINATIONS", "true"),
        ("REQUIRE_HTTPS", "true"),
    ])
    .unwrap();
    assert!(both.require_https);
}

#[test]
fn a_bad_value_is_an_error_naming_the_variable() {
    let cases = [
        ("ALLOW_PRIVATE_DESTINATIONS", "yes"),
        ("REQUIRE_HTTPS", "TRUE"),
        ("MAX_BODY_BYTES", "256k"),
        ("MAX_BODY_BYTES", "-1"),
        ("RETENTION_DAYS", "-1"),
        ("RETENTION_DAYS", "inf"),
        ("LOG_BUCKET_SECONDS", "0"),
        ("LOG_BUCKET_SECONDS", "1.5"),
        ("METRICS_FLUSH_SECONDS", "soon"),
        ("ROUTING_CACHE_SECONDS", "NaN"),
        // Numbers as JSON writes them.
        ("RETENTION_DAYS", ".5"),
        ("ROUTING_CACHE_SECONDS", "+1"),
        ("MAX_MANUAL_RETRIES", "ten"),
        ("MAX_DESTINATIONS_PER_TENANT", "1e3"),
        ("ALERT_MIN_CONSECUTIVE_FAILURES", "5.5"),
    ];
    for (name, value) in cases {
        let e = parse(&[(name, value)]).unwrap_err();
        assert_eq!((e.name, e.value.as_str()), (name, value));
        assert!(e.to_string().starts_with(&format!("{name} = ")), "{e}");
    }
}
