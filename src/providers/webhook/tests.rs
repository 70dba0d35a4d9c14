//! Webhook: Standard Webhooks signatures against published vectors, headers, auth, CloudEvents.

use super::*;
use crate::core::destination::SigningKey;
use crate::core::ids::{DeliveryId, EventId, TenantId};
use crate::core::signing::{HmacAlgorithm, SignatureEncoding};
use std::collections::BTreeMap;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn delivery() -> QueuedDelivery {
    QueuedDelivery {
        delivery_id: DeliveryId::parse("dlv_01jc0000000000000000000000").unwrap(),
        tenant_id: TenantId::parse("acme").unwrap(),
        event_id: EventId::parse("msg_p5jXN8AQM9LWM0D4loKWxJek").unwrap(),
        topic: "order.created".into(),
        payload: r#"{"test": 2432232314}"#.into(),
        metadata: BTreeMap::new(),
        attempts: 2,
        due_at: 0,
        created_at: 0,
        manual: None,
        shard: Default::default(),
    }
}

fn bundle(keys: &[(&str, Option<Millis>)]) -> SecretBundle {
    SecretBundle {
        config: serde_json::Value::Null,
        signing_keys: keys
            .iter()
            .map(|(s, e)| SigningKey {
                secret: s.to_string(),
                expires_at: *e,
            })
            .collect(),
    }
}

fn config(signing: Signing, auth: Option<WebhookAuth>) -> WebhookConfig {
    WebhookConfig {
        url: "https://example.com/hooks".into(),
        headers: BTreeMap::from([("x-custom".to_string(), "yes".to_string())]),
        auth,
        signing,
        cloudevents: None,
    }
}

/// Recorded headers hide the custom headers, the api_key header and the HMAC header; the
/// timestamp and Sluice's own headers stay visible.
#[test]
fn recorded_headers_hide_every_credential() {
    let hook = Webhook::new(
        config(
            Signing::Hmac {
                header: "x-hmac".into(),
                algorithm: HmacAlgorithm::Sha256,
                encoding: SignatureEncoding::Hex,
                timestamp_header: Some("x-ts".into()),
                secret: None,
            },
            Some(WebhookAuth::ApiKey {
                header: "x-partner".into(),
                key: "k-123".into(),
            }),
        ),
        &bundle(&[("a-receiver-chosen-secret", None)]),
        0,
    );
    let req = hook
        .build(&[delivery()], 1_614_265_330_000)
        .unwrap()
        .expect_http();
    let recorded = crate::core::redact::redact(&req.headers, &hook.secret_headers());
    let shown = |name: &str| {
        recorded
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(shown("x-partner"), Some("********"));
    assert_eq!(shown("x-hmac"), Some("********"));
    assert_eq!(shown("x-custom"), Some("********"));
    assert_eq!(shown("x-ts"), Some("1614265330"));
    assert_eq!(shown("x-sluice-topic"), Some("order.created"));
    assert!(!format!("{recorded:?}").contains("k-123"));
}

/// The Standard Webhooks specification's example: same id, timestamp, body and secret
/// give the published signature.
#[test]
fn signs_like_the_standard_webhooks_example() {
    let hook = Webhook::new(
        config(Signing::default(), None),
        &bundle(&[(SECRET, None)]),
        0,
    );
    let req = hook
        .build(&[delivery()], 1_614_265_330_000)
        .unwrap()
        .expect_http();
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, "https://example.com/hooks");
    assert_eq!(req.body, br#"{"test": 2432232314}"#);
    assert_eq!(
        req.header("webhook-id"),
        Some("msg_p5jXN8AQM9LWM0D4loKWxJek")
    );
    assert_eq!(req.header("webhook-timestamp"), Some("1614265330"));
    assert_eq!(
        req.header("webhook-signature"),
        Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("x-sluice-topic"), Some("order.created"));
    assert_eq!(req.header("x-sluice-attempt"), Some("3"));
    assert_eq!(req.header("x-custom"), Some("yes"));
    assert!(req.header("user-agent").unwrap().starts_with("Sluice/"));
}

/// A CloudEvents destination is signed like any other: the signature covers the body as
/// sent (the envelope in structured mode), and the `ce-*` headers sit beside it.
#[test]
fn cloudevents_bodies_are_signed_as_sent() {
    use crate::providers::webhook::cloudevents::{CloudEventsConfig, Mode};
    for mode in [Mode::Binary, Mode::Structured] {
        let mut c = config(Signing::default(), None);
        c.cloudevents = Some(CloudEventsConfig {
            mode,
            source: "/shop".into(),
        });
        let req = Webhook::new(c, &bundle(&[(SECRET, None)]), 0)
            .build(&[delivery()], 1_614_265_330_000)
            .unwrap()
            .expect_http();
        let key = signing::secret_key(SECRET).unwrap();
        let expected = signing::standard_signature_header(
            &[key],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            &req.body,
        );
        assert_eq!(req.header("webhook-signature"), Some(expected.as_str()));
        assert_eq!(req.header("x-sluice-topic"), Some("order.created"));
        match mode {
            Mode::Binary => {
                assert_eq!(req.body, br#"{"test": 2432232314}"#);
                assert_eq!(req.header("content-type"), Some("application/json"));
                assert_eq!(req.header("ce-type"), Some("order.created"));
                assert_eq!(req.header("ce-source"), Some("/shop"));
            }
            Mode::Structured => {
                let body = String::from_utf8(req.body.clone()).unwrap();
                assert!(body.ends_with(r#""data":{"test": 2432232314}}"#), "{body}");
                assert_eq!(
                    req.header("content-type"),
                    Some("application/cloudevents+json; charset=utf-8")
                );
                assert_eq!(req.header("ce-type"), None);
            }
        }
    }
}

#[test]
fn signs_with_both_keys_during_a_rotation_only() {
    let other = signing::secret_from_bytes(&[1; 24]);
    let b = bundle(&[(&other, None), (SECRET, Some(5_000))]);
    let during = Webhook::new(config(Signing::default(), None), &b, 4_999)
        .build(&[delivery()], 4_999)
        .unwrap()
        .expect_http();
    assert_eq!(
        during
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    let after = Webhook::new(config(Signing::default(), None), &b, 5_000)
        .build(&[delivery()], 5_000)
        .unwrap()
        .expect_http();
    assert_eq!(
        after
            .header("webhook-signature")
            .unwrap()
            .split(' ')
            .count(),
        1
    );
}

#[test]
fn auth_headers() {
    let b = bundle(&[(SECRET, None)]);
    let cases = [
        (
            WebhookAuth::Bearer {
                token: "tok".into(),
            },
            "authorization",
            "Bearer tok",
        ),
        (
            WebhookAuth::Basic {
                username: "Aladdin".into(),
                password: "open sesame".into(),
            },
            "authorization",
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        ),
        (
            WebhookAuth::ApiKey {
                header: "x-api-key".into(),
                key: "k1".into(),
            },
            "x-api-key",
            "k1",
        ),
    ];
    for (auth, header, value) in cases {
        let req = Webhook::new(config(Signing::None, Some(auth)), &b, 0)
            .build(&[delivery()], 0)
            .unwrap()
            .expect_http();
        assert_eq!(req.header(header), Some(value));
        assert_eq!(req.header("webhook-signature"), None);
    }
}

#[test]
fn custom_hmac_header_with_timestamp() {
    let signing = Signing::Hmac {
        header: "x-signature".into(),
        algorithm: HmacAlgorithm::Sha256,
        encoding: SignatureEncoding::Hex,
        timestamp_header: Some("x-timestamp".into()),
        secret: None,
    };
    let mut d = delivery();
    d.payload = r#"{"a":1}"#.into();
    let req = Webhook::new(config(signing, None), &bundle(&[("secret", None)]), 0)
        .build(&[d], 1_614_265_330_000)
        .unwrap()
        .expect_http();
    assert_eq!(req.header("x-timestamp"), Some("1614265330"));
    // Same value as the openssl-computed vector in core::signing.
    assert_eq!(
        req.header("x-signature"),
        Some("4bb160dc7ea56e3e4aec227afb24fe04ae1870355134295a3ce43e77a6ef4f6e")
    );
}
