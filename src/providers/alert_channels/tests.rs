use super::*;
use crate::core::alerts::tests::{sample_destination, sample_snapshot};
use crate::core::alerts::{content, AlertAction, FailedDelivery, FailedNotice, Suppressed};
use crate::core::destination::MASK;
use crate::core::destination::{validate, DestinationInput, TargetConfig};
use crate::core::ids::{DeliveryId, EventId, TenantId};
use crate::core::validate::from_value;
use crate::core::validate::FieldError;
use crate::providers::Target;

fn raised() -> AlertContent {
    content(
        &AlertAction::Raise(sample_snapshot()),
        "acme",
        sample_destination(),
    )
}

fn resolved() -> AlertContent {
    content(
        &AlertAction::Resolve(sample_snapshot()),
        "acme",
        sample_destination(),
    )
}

fn delivery(a: &AlertContent) -> QueuedDelivery {
    QueuedDelivery {
        delivery_id: DeliveryId::generate(1, 1),
        tenant_id: TenantId::parse("acme").unwrap(),
        event_id: EventId::parse("alert-inc_01-consecutive_failures").unwrap(),
        topic: "sluice.alert.triggered".into(),
        payload: serde_json::to_string(a).unwrap(),
        metadata: Default::default(),
        attempts: 0,
        due_at: 0,
        created_at: 0,
        manual: None,
        shard: Default::default(),
    }
}

fn body(r: &HttpRequest) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

const SUMMARY: &str =
    "Destination 'Orders' (webhook, des_01) of tenant acme: 10 consecutive failed attempts";

#[test]
fn slack_gets_text_and_blocks() {
    let r = Slack(ChatConfig {
        url: "https://hooks.slack.com/services/T/B/x".into(),
    })
    .build(&[delivery(&raised())], 0)
    .unwrap()
    .expect_http();
    assert_eq!(r.method, "POST");
    assert_eq!(r.url, "https://hooks.slack.com/services/T/B/x");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        body(&r),
        json!({
            "text": format!(":rotating_light: {SUMMARY}"),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Sluice alert: consecutive failures"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": format!(":rotating_light: {SUMMARY}")}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Tenant*\nacme"},
                    {"type": "mrkdwn", "text": "*Destination*\nOrders (des_01)"},
                    {"type": "mrkdwn", "text": "*Type*\nwebhook"},
                    {"type": "mrkdwn", "text": "*Target*\nhttps://example.com/hooks"},
                    {"type": "mrkdwn", "text": "*Last status*\n500"},
                    {"type": "mrkdwn", "text": "*Failures*\n12 (10 in a row)"},
                    {"type": "mrkdwn", "text": "*First failure*\n2021-02-25T14:56:40.000Z"},
                    {"type": "mrkdwn", "text": "*Inspect*\n/v1/tenants/acme/destinations/des_01/deliveries?status=failed"}
                ]},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Error*\n```HTTP 500```"}}
            ]
        })
    );
    let mut a = raised();
    a.error = Some("<script> & more".into());
    assert_eq!(
        slack_body(&a)["blocks"][3]["text"]["text"],
        "*Error*\n```&lt;script&gt; &amp; more```"
    );
    let r = slack_body(&resolved());
    assert_eq!(r["blocks"][0]["text"]["text"], "Sluice alert resolved");
    assert!(r["text"]
        .as_str()
        .unwrap()
        .starts_with(":white_check_mark: Resolved:"));
}

#[test]
fn discord_gets_content_and_an_embed() {
    let r = Discord(ChatConfig {
        url: "https://discord.com/api/webhooks/1/t".into(),
    })
    .build(&[delivery(&raised())], 0)
    .unwrap()
    .expect_http();
    assert_eq!(r.url, "https://discord.com/api/webhooks/1/t");
    let field = |n: &str, v: &str| json!({"name": n, "value": v, "inline": true});
    assert_eq!(
        body(&r),
        json!({
            "content": SUMMARY,
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": "Sluice alert: consecutive failures",
                "description": "HTTP 500",
                "color": 0xE01E5A,
                "fields": [
                    field("Tenant", "acme"),
                    field("Destination", "Orders (des_01)"),
                    field("Type", "webhook"),
                    field("Target", "https://example.com/hooks"),
                    field("Last status", "500"),
                    field("Failures", "12 (10 in a row)"),
                    field("First failure", "2021-02-25T14:56:40.000Z"),
                    field("Inspect", "/v1/tenants/acme/destinations/des_01/deliveries?status=failed"),
                ],
                "timestamp": "2021-02-25T15:02:10.123Z"
            }]
        })
    );
    let mut long = raised();
    long.summary = "x".repeat(3000);
    let b = discord_body(&long);
    assert_eq!(b["content"].as_str().unwrap().chars().count(), 2000);
    assert_eq!(discord_body(&resolved())["embeds"][0]["color"], 0x2EB67D);
}

#[test]
fn pagerduty_triggers_and_resolves_with_one_dedup_key() {
    let pd = PagerDuty(PagerDutyConfig {
        routing_key: "R0123".into(),
        endpoint: None,
    });
    let r = pd.build(&[delivery(&raised())], 0).unwrap().expect_http();
    assert_eq!(r.url, "https://events.pagerduty.com/v2/enqueue");
    let b = body(&r);
    assert_eq!(
        b,
        json!({
            "routing_key": "R0123",
            "event_action": "trigger",
            "dedup_key": "sluice/des_01/inc_01",
            "client": "Sluice",
            "payload": {
                "summary": SUMMARY,
                "source": "sluice/acme/des_01",
                "severity": "error",
                "timestamp": "2021-02-25T15:02:10.123Z",
                "component": "des_01",
                "group": "acme",
                "class": "consecutive_failures",
                "custom_details": serde_json::to_value(raised()).unwrap()
            }
        })
    );
    let pd = PagerDuty(PagerDutyConfig {
        routing_key: "R0123".into(),
        endpoint: Some("http://127.0.0.1:9/v2/enqueue".into()),
    });
    let r = pd.build(&[delivery(&resolved())], 0).unwrap().expect_http();
    assert_eq!(r.url, "http://127.0.0.1:9/v2/enqueue");
    assert_eq!(
        body(&r),
        json!({"routing_key": "R0123", "event_action": "resolve", "dedup_key": "sluice/des_01/inc_01"})
    );
}

#[test]
fn a_payload_that_is_not_an_alert_cannot_be_built() {
    let mut d = delivery(&raised());
    d.payload = r#"{"order": 1}"#.into();
    let e = Slack(ChatConfig {
        url: "https://x.example".into(),
    })
    .build(&[d], 0)
    .unwrap_err();
    assert!(e.contains("does not carry an alert"), "{e}");
}

fn check(v: Value) -> Result<(), Vec<String>> {
    let input: DestinationInput = from_value(v, "").map_err(|e| vec![e.field])?;
    validate::<Target>(input, false)
        .map(|_| ())
        .map_err(|es| es.into_iter().map(|e| e.field).collect())
}

#[test]
fn alert_types_accept_alert_topics_only_and_mask_their_credential() {
    assert_eq!(
        check(
            json!({"type": "slack", "config": {"url": "https://hooks.slack.com/services/T/B/x"}})
        ),
        Err(vec!["topics[0]".to_string()]),
        "the default \"*\" is refused"
    );
    assert_eq!(
        check(
            json!({"type": "discord", "topics": ["sluice.alert.*", "order.created"],
            "config": {"url": "https://discord.com/api/webhooks/1/t"}})
        ),
        Err(vec!["topics[1]".to_string()])
    );
    assert_eq!(
        check(
            json!({"type": "pagerduty", "topics": ["sluice.alert.triggered", "sluice.alert.resolved"],
            "config": {"routing_key": "R0123"}})
        ),
        Ok(())
    );
    assert_eq!(
        check(json!({"type": "pagerduty", "topics": ["sluice.alert.*"],
            "config": {"routing_key": "bad key!", "endpoint": "http://127.0.0.1/x"}})),
        Err(vec![
            "config.routing_key".to_string(),
            "config.endpoint".to_string()
        ])
    );
    assert_eq!(
        check(json!({"type": "slack", "topics": ["sluice.alert.*"], "config": {"url": "ftp://x"}})),
        Err(vec!["config.url".to_string()])
    );
    let t = Target::parse(
        "slack",
        json!({"url": "https://hooks.slack.com/services/T/B/secret"}),
    )
    .unwrap();
    assert_eq!(t.masked(), json!({"url": MASK}));
    let t = Target::parse(
        "pagerduty",
        json!({"routing_key": "R0123", "endpoint": "https://e.example/v2/enqueue"}),
    )
    .unwrap();
    assert_eq!(
        t.masked(),
        json!({"routing_key": MASK, "endpoint": "https://e.example/v2/enqueue"})
    );
    assert!(t.alerts_only());
    assert!(
        !Target::parse("webhook", json!({"url": "https://x.example"}))
            .unwrap()
            .alerts_only()
    );
}

#[test]
fn email_is_a_plain_text_message_for_the_binding() {
    let c = EmailConfig {
        from: "alerts@sluice.example.com".into(),
        to: vec!["ops@acme.example".into(), "oncall@acme.example".into()],
    };
    let Outbound::Email(email) = Email(c.clone()).build(&[delivery(&raised())], 0).unwrap() else {
        panic!("an email channel sends an email");
    };
    assert_eq!(
        email,
        EmailMessage {
            from: "alerts@sluice.example.com".into(),
            to: vec!["ops@acme.example".into(), "oncall@acme.example".into()],
            subject: "[Sluice] alert: consecutive failures: Orders (webhook) of tenant acme".into(),
            text: format!(
                "{SUMMARY}\n\n\
                Tenant: acme\n\
                Destination: Orders (des_01)\n\
                Type: webhook\n\
                Target: https://example.com/hooks\n\
                Last status: 500\n\
                Failures: 12 (10 in a row)\n\
                First failure: 2021-02-25T14:56:40.000Z\n\
                Inspect: /v1/tenants/acme/destinations/des_01/deliveries?status=failed\n\
                Error: HTTP 500\n\
                Incident: inc_01 (consecutive_failures, error)\n\
                Status: /v1/tenants/acme/destinations/des_01/status\n"
            )
        }
    );
    let (subject, _) = email_message(&resolved());
    assert_eq!(
        subject,
        "[Sluice] alert resolved: Orders (webhook) of tenant acme"
    );
    let mut bad = c;
    bad.from = "Ops <ops@acme.example>".into();
    bad.to = vec!["a@b.example".into(), "x\r\nBcc: evil@example.com".into()];
    let fields: Vec<String> = bad.validate().into_iter().map(|e| e.field).collect();
    assert_eq!(fields, vec!["config.from", "config.to[1]"]);
    bad.to = vec![];
    assert!(bad.validate().iter().any(|e| e.field == "config.to"));
}

/// A delivery that failed for good (or a window's summary of them), as each channel type
/// tells it: the event id, the attempts, the error, and where the attempts are.
fn failed(suppressed: bool) -> AlertContent {
    let d = FailedDelivery {
        event_id: "ord_1001".into(),
        delivery_id: "dlv_9".into(),
        attempts: 6,
        error: Some("HTTP 503".into()),
        status_code: Some(503),
        at: 1_614_265_330_123,
    };
    let notice = FailedNotice {
        window_id: "inc_w".into(),
        window_start: 1_614_265_000_000,
        suppressed: suppressed.then(|| Suppressed {
            count: 41,
            first_at: 1_614_265_100_000,
            last: d.clone(),
        }),
        delivery: d,
    };
    content(
        &AlertAction::DeliveryFailed(sample_snapshot(), Box::new(notice)),
        "acme",
        sample_destination(),
    )
}

#[test]
fn every_channel_tells_a_delivery_that_failed_for_good() {
    let a = failed(false);
    let summary =
        "Destination 'Orders' (webhook, des_01) of tenant acme: event ord_1001 failed for good after 6 attempts";
    assert_eq!(a.summary, summary);
    let link = "/v1/tenants/acme/destinations/des_01/deliveries/dlv_9/attempts";

    let s = slack_body(&a);
    assert_eq!(s["text"], format!(":rotating_light: {summary}"));
    assert_eq!(
        s["blocks"][0]["text"]["text"],
        "Sluice alert: delivery failed"
    );
    let fields: Vec<&str> = s["blocks"][2]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"*Event*\nord_1001"), "{fields:?}");
    assert!(fields.contains(&"*Attempts*\n6"), "{fields:?}");
    assert!(fields.contains(&"*Last status*\n503"), "{fields:?}");
    assert_eq!(fields.last(), Some(&format!("*Inspect*\n{link}").as_str()));
    assert_eq!(s["blocks"][3]["text"]["text"], "*Error*\n```HTTP 503```");

    let d = discord_body(&a);
    assert_eq!(d["content"], summary);
    assert_eq!(d["embeds"][0]["description"], "HTTP 503");
    assert!(d["embeds"][0]["fields"]
        .as_array()
        .unwrap()
        .contains(&json!({"name": "Event", "value": "ord_1001", "inline": true})));

    let p = pagerduty_body("R1", &a);
    assert_eq!(p["event_action"], "trigger");
    assert_eq!(
        p["dedup_key"], "sluice/des_01/inc_w",
        "one PagerDuty incident per window"
    );
    assert_eq!(p["payload"]["class"], "delivery_failed");
    assert_eq!(
        p["payload"]["custom_details"]["delivery"]["event_id"],
        "ord_1001"
    );
    assert_eq!(p["payload"]["custom_details"]["delivery"]["attempts"], 6);

    let (subject, text) = email_message(&a);
    assert_eq!(
        subject,
        "[Sluice] alert: delivery failed: Orders (webhook) of tenant acme"
    );
    assert!(text.contains("\nEvent: ord_1001\nAttempts: 6\n"), "{text}");
    assert!(text.contains("\nError: HTTP 503\n"), "{text}");
    assert!(text.contains(&format!("\nInspect: {link}\n")), "{text}");

    let storm = failed(true);
    assert!(
        storm.summary.ends_with(
            "41 more deliveries failed for good since 2021-02-25T14:58:20.000Z (the last: event ord_1001 after 6 attempts)"
        ),
        "{}",
        storm.summary
    );
    let (_, text) = email_message(&storm);
    assert!(
        text.contains(
            "\nAlso failed: 41 more, 2021-02-25T14:58:20.000Z to 2021-02-25T15:02:10.123Z\n"
        ),
        "{text}"
    );
}

#[test]
fn portal_users_email_only_allowed_domains() {
    let c = EmailConfig {
        from: "alerts@ops.acme.example".into(),
        to: vec![
            "oncall@Acme.Example".into(),
            "victim@elsewhere.example".into(),
        ],
    };
    let fields = |errors: Vec<FieldError>| errors.into_iter().map(|e| e.field).collect::<Vec<_>>();
    assert_eq!(fields(c.check_tenant_domains(&[])), ["type"]);
    let allowed = parse_domains(" acme.example, @partner.example ");
    assert_eq!(allowed, ["acme.example", "partner.example"]);
    assert_eq!(fields(c.check_tenant_domains(&allowed)), ["config.to[1]"]);
    let spoofed = EmailConfig {
        from: "ceo@bank.example".into(),
        to: vec!["a@evilacme.example".into()],
    };
    assert_eq!(
        fields(spoofed.check_tenant_domains(&allowed)),
        ["config.from", "config.to[0]"]
    );
}
