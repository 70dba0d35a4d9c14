//! The route table: every path and method resolves as the OpenAPI document says.

use super::*;
use std::collections::BTreeSet;

#[test]
fn resolves_parameters() {
    let Resolved::Found(r, params) = resolve(
        "GET",
        "/v1/tenants/acme/destinations/des_x/deliveries/dlv_y/attempts",
    ) else {
        panic!("not found")
    };
    assert_eq!(r.op, Op::ListAttempts);
    assert_eq!(params.get("tenant_id"), "acme");
    assert_eq!(params.get("destination_id"), "des_x");
    assert_eq!(params.get("delivery_id"), "dlv_y");
    assert!(
        matches!(resolve("GET", "/v1/tenants/"), Resolved::Found(r, _) if r.op == Op::ListTenants)
    );
}

/// Encoded and plain spellings of a parameter reach the handler as the same value;
/// decoding happens once (`%253A` is the literal `%3A`), and fixed segments are compared
/// as written.
#[test]
fn parameters_are_percent_decoded_once() {
    let param = |path: &str, name: &str| match resolve("GET", path) {
        Resolved::Found(_, params) => params.get(name).to_string(),
        other => panic!("{path}: {other:?}"),
    };
    assert_eq!(param("/v1/topics/a%3Ab", "topic"), "a:b");
    assert_eq!(param("/v1/topics/a:b", "topic"), "a:b");
    assert_eq!(param("/v1/topics/a%253Ab", "topic"), "a%3Ab");
    assert_eq!(param("/v1/topics/a%2Fb", "topic"), "a/b");
    assert_eq!(param("/v1/topics/caf%C3%A9", "topic"), "café");
    assert_eq!(
        param("/v1/tenants/ac%6De/destinations/des_%78", "destination_id"),
        "des_x"
    );
    assert_eq!(resolve("GET", "/v1/topics/%FF"), Resolved::NotFound);
    assert_eq!(resolve("GET", "/v1/%74opics"), Resolved::NotFound);
}

#[test]
fn wrong_method_and_unknown_paths() {
    assert_eq!(
        resolve("PUT", "/v1/tenants/acme"),
        Resolved::MethodNotAllowed(vec!["GET", "PATCH", "DELETE"])
    );
    assert_eq!(resolve("GET", "/v1/nope"), Resolved::NotFound);
    assert_eq!(
        resolve("GET", "/v1/tenants//destinations"),
        Resolved::NotFound
    );
}

#[test]
fn only_health_is_public() {
    let public: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.access == Access::Public)
        .map(|r| r.path)
        .collect();
    assert_eq!(public, vec!["/healthz"]);
}

/// A tenant token reaches its own tenant's routes and the shared catalogues; managing
/// tenants, topics, publishing and minting tokens stay with the admin key.
#[test]
fn what_a_tenant_token_may_call() {
    for r in ROUTES {
        let under_tenant = r.path.starts_with(TENANT);
        match r.access {
            Access::Tenant => assert!(under_tenant, "{r:?}"),
            Access::Admin if under_tenant => assert!(
                matches!(
                    r.op,
                    Op::UpdateTenant | Op::DeleteTenant | Op::MintPortalToken
                ),
                "{r:?}"
            ),
            _ => assert!(!under_tenant, "{r:?}"),
        }
    }
    let anyone: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.access == Access::Anyone)
        .map(|r| r.op)
        .collect();
    assert_eq!(
        anyone,
        [
            Op::OpenApi,
            Op::ListTopics,
            Op::GetTopic,
            Op::TestFilter,
            Op::DestinationTypes,
            Op::ListTemplates,
            Op::GetTemplate,
            Op::TestTransform
        ]
    );
}

/// The OpenAPI document describes exactly the routes the dispatcher answers.
#[test]
fn openapi_document_matches_the_route_table() {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json parses");
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with("3.1")),
        Some(true)
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if matches!(method.as_str(), "get" | "post" | "patch" | "delete" | "put") {
                documented.insert((method.to_uppercase(), path.clone()));
                assert!(
                    op["responses"].is_object(),
                    "{method} {path} documents its responses"
                );
                let public = op
                    .get("security")
                    .and_then(|s| s.as_array())
                    .is_some_and(|a| a.is_empty());
                assert_eq!(
                    public,
                    path == "/healthz",
                    "{method} {path}: only /healthz is public"
                );
            }
        }
    }
    let routed: BTreeSet<_> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "openapi.json documents routes that do not exist: {extra:?}"
    );
}
