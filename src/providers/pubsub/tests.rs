//! Pub/Sub: the JWT assertion, the token exchange, the publish request and its answers.

use super::*;
use crate::core::ids::{DeliveryId, EventId, TenantId};
use crate::core::wire::TransportError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::BTreeMap;

/// A throwaway RSA key made for these tests (never a real account's).
const TEST_KEY: &str = include_str!("../testdata/pubsub_test_key.pem");
const TEST_PUBLIC_KEY: &str = include_str!("../testdata/pubsub_test_key.pub.pem");
const NOW: Millis = 1_700_000_000_000;

/// The credential request as the engine completes it: the assertion signed (here with the
/// `rsa` crate, in the Worker with WebCrypto) and appended.
fn signed(request: CredentialRequest) -> HttpRequest {
    let jwt = request.assertion.as_ref().expect("an assertion to sign");
    let signature =
        crate::core::jwt::sign_rs256(&jwt.pkcs8_der, jwt.signing_input.as_bytes()).unwrap();
    request.complete(&signature)
}

fn config() -> PubSubConfig {
    serde_json::from_value(json!({
        "topic": "orders",
        "service_account": {
            "type": "service_account",
            "project_id": "acme-prod",
            "private_key_id": "k1",
            "private_key": TEST_KEY,
            "client_email": "publisher@acme-prod.iam.gserviceaccount.com",
            "client_id": "1234",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
        },
    }))
    .unwrap()
}

fn delivery(n: u128, payload: &str) -> QueuedDelivery {
    QueuedDelivery {
        delivery_id: DeliveryId::generate(1, n),
        tenant_id: TenantId::parse("acme").unwrap(),
        event_id: EventId::parse(&format!("evt-{n}")).unwrap(),
        topic: "order.created".into(),
        payload: payload.into(),
        metadata: BTreeMap::from([("customer".to_string(), "c-42".to_string())]),
        attempts: 1,
        due_at: 0,
        created_at: 0,
        manual: None,
        shard: Default::default(),
    }
}

fn response(status: u16, body: &str) -> TransportResult {
    Ok(HttpResponse {
        status,
        headers: vec![],
        body: body.into(),
    })
}

fn with_token(config: PubSubConfig) -> PubSub {
    let cache = TokenCache::default();
    *cache.borrow_mut() = Some(AccessToken {
        token: "ya29.test".into(),
        refresh_at: NOW + 1_000_000,
    });
    PubSub::new(config, cache)
}

#[test]
fn the_assertion_is_an_rs256_jwt_for_the_token_uri_that_the_public_key_verifies() {
    let unsigned = config().service_account.assertion(NOW).unwrap();
    let signature =
        crate::core::jwt::sign_rs256(&unsigned.pkcs8_der, unsigned.signing_input.as_bytes())
            .unwrap();
    let jwt = format!(
        "{}.{}",
        unsigned.signing_input,
        URL_SAFE_NO_PAD.encode(signature)
    );
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some("k1"));
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(TEST_PUBLIC_KEY.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["https://oauth2.googleapis.com/token"]);
    validation.validate_exp = false;
    let claims = crate::core::jwt::decode::<Value>(&jwt, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(
        claims,
        json!({
            "iss": "publisher@acme-prod.iam.gserviceaccount.com",
            "scope": "https://www.googleapis.com/auth/pubsub",
            "aud": "https://oauth2.googleapis.com/token",
            "iat": 1_700_000_000,
            "exp": 1_700_003_600,
        })
    );
}

#[test]
fn without_a_token_the_exchange_comes_first_and_its_answer_is_kept() {
    let p = PubSub::new(config(), TokenCache::default());
    let request = signed(p.credential_request(NOW).unwrap().unwrap());
    assert_eq!(request.url, "https://oauth2.googleapis.com/token");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect();
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(form["assertion"].split('.').count(), 3);

    let answer = response(
        200,
        r#"{"access_token":"ya29.abc","expires_in":3599,"token_type":"Bearer"}"#,
    );
    assert_eq!(p.accept_credential(&answer, NOW), Ok(()));
    let request = p.build(&[delivery(1, "{}")], NOW).unwrap().expect_http();
    assert_eq!(request.header("authorization"), Some("Bearer ya29.abc"));
    // Held until a minute before it expires, then exchanged again.
    assert!(p.credential_request(NOW + 3_000_000).is_none());
    assert!(p.credential_request(NOW + 3_539_000).is_some());
}

#[test]
fn a_refused_exchange_is_permanent_an_unavailable_one_transient() {
    let p = PubSub::new(config(), TokenCache::default());
    let refused = response(
        400,
        r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
    );
    assert_eq!(
        p.accept_credential(&refused, NOW),
        Err(Verdict::Permanent {
            error: "token exchange failed: HTTP 400 invalid_grant: Invalid JWT Signature.".into()
        })
    );
    assert!(p
        .accept_credential(&response(503, ""), NOW)
        .unwrap_err()
        .is_transient());
    let down = Err(TransportError::Network("connection refused".into()));
    assert!(p.accept_credential(&down, NOW).unwrap_err().is_transient());
    assert!(p.token.borrow().is_none());
}

#[test]
fn publish_request_matches_the_rest_reference() {
    let p = with_token(config());
    let request = p
        .build(
            &[delivery(1, r#"{"id":1}"#), delivery(2, r#"{"id":2}"#)],
            NOW,
        )
        .unwrap()
        .expect_http();
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.url,
        "https://pubsub.googleapis.com/v1/projects/acme-prod/topics/orders:publish"
    );
    assert_eq!(request.header("authorization"), Some("Bearer ya29.test"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        json!({"messages": [
            {"data": "eyJpZCI6MX0=", "attributes": {"sluice-event-id": "evt-1", "sluice-topic": "order.created", "sluice-attempt": "2"}},
            {"data": "eyJpZCI6Mn0=", "attributes": {"sluice-event-id": "evt-2", "sluice-topic": "order.created", "sluice-attempt": "2"}},
        ]})
    );
}

#[test]
fn full_topic_names_endpoints_and_ordering_keys() {
    let mut c = config();
    c.topic = "projects/other-proj/topics/audit".into();
    c.endpoint = Some("http://127.0.0.1:8085/".into());
    c.ordering_key = Some("fallback".into());
    c.ordering_key_from_metadata = Some("customer".into());
    let p = with_token(c);
    let mut without = delivery(2, "{}");
    without.metadata.clear();
    let request = p
        .build(&[delivery(1, "{}"), without], NOW)
        .unwrap()
        .expect_http();
    assert_eq!(
        request.url,
        "http://127.0.0.1:8085/v1/projects/other-proj/topics/audit:publish"
    );
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["messages"][0]["orderingKey"], "c-42");
    assert_eq!(body["messages"][1]["orderingKey"], "fallback");
}

#[test]
fn answers_become_verdicts() {
    let p = with_token(config());
    let batch = [delivery(1, "{}"), delivery(2, "{}")];
    let ok = response(200, r#"{"messageIds":["11","12"]}"#);
    assert_eq!(
        p.interpret(&batch, &ok, NOW),
        vec![Verdict::Delivered, Verdict::Delivered]
    );
    let missing = response(
        404,
        r#"{"error":{"code":404,"message":"Resource not found (resource=orders).","status":"NOT_FOUND"}}"#,
    );
    assert_eq!(
        p.interpret(&batch, &missing, NOW)[0],
        Verdict::Permanent {
            error: "HTTP 404 NOT_FOUND: Resource not found (resource=orders).".into()
        }
    );
    let denied = response(
        403,
        r#"{"error":{"code":403,"message":"User not authorized to perform this action.","status":"PERMISSION_DENIED"}}"#,
    );
    assert!(!p.interpret(&batch, &denied, NOW)[0].is_transient());
    let busy = response(
        429,
        r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}"#,
    );
    assert!(p.interpret(&batch, &busy, NOW)[1].is_transient());
    // A rejected token is dropped, so that the next run exchanges a new one.
    let stale = response(401, r#"{"error":{"code":401,"status":"UNAUTHENTICATED"}}"#);
    assert!(p.interpret(&batch, &stale, NOW)[0].is_transient());
    assert!(p.credential_request(NOW).is_some());
    // 200 without an id per message is not proof of delivery.
    let short = response(200, r#"{"messageIds":["11"]}"#);
    assert!(p.interpret(&batch, &short, NOW)[0].is_transient());
}

#[test]
fn a_request_holds_as_many_messages_as_fit_in_ten_megabytes() {
    let p = with_token(config());
    let big = format!("\"{}\"", "x".repeat(3_000_000));
    let batch: Vec<_> = (0..5).map(|n| delivery(n, &big)).collect();
    // 3 MB of payload is 4 MB in base64: two fit under 9 MB, three do not.
    assert_eq!(p.fit(&batch), 2);
    assert_eq!(p.fit(&batch[..1]), 1);
    let small: Vec<_> = (0..1_000).map(|n| delivery(n, "{}")).collect();
    assert_eq!(p.fit(&small), 1_000);
}

#[test]
fn config_checks_name_the_field() {
    let errors = |v: Value| -> Vec<String> {
        let c: PubSubConfig = serde_json::from_value(v).unwrap();
        c.validate(false).into_iter().map(|e| e.field).collect()
    };
    let mut v = serde_json::to_value(config()).unwrap();
    assert!(errors(v.clone()).is_empty());
    v["service_account"]["private_key"] =
        json!("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    v["service_account"]["client_email"] = json!("nobody");
    v["topic"] = json!("goog-topic");
    v["endpoint"] = json!("http://127.0.0.1:8085");
    assert_eq!(
        errors(v.clone()),
        [
            "config.topic",
            "config.service_account.client_email",
            "config.service_account.private_key",
            "config.endpoint"
        ]
    );
    let mut v = serde_json::to_value(config()).unwrap();
    v["service_account"]
        .as_object_mut()
        .unwrap()
        .remove("project_id");
    assert_eq!(errors(v.clone()), ["config.project_id"]);
    v["topic"] = json!("projects/acme-prod/topics/orders");
    assert!(errors(v).is_empty());
}
