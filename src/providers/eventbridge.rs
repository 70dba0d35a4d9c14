//! AWS EventBridge: `PutEvents` over the JSON protocol, signed with SigV4. Each delivery is
//! one entry: `DetailType` = the topic, `Detail` = the event's data, `Source` from the config.
//!
//! As with SQS, `build` packs as many of the engine's batch as fit the request limits, in
//! order; an entry that can never be sent fails for good, the rest wait for a later request.

use crate::core::classify::Verdict;
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::time::Millis;
use crate::core::validate::{check_text, FieldError};
use crate::core::wire::{HttpRequest, TransportResult};
use crate::providers::aws::{
    self, check_endpoint, check_region, deferred_verdict, dns_suffix, endpoint_base, entry_verdict,
    error_verdict, plan_batch, response_or_verdict, AwsCredentials, AwsError, Slot,
};
use serde::{Deserialize, Serialize};

/// `PutEvents` takes at most 10 entries.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// The entries of one `PutEvents` call total at most 256 KB, each counted as its `Source`,
/// `DetailType`, `Detail` and `Resources` in UTF-8 bytes ("Calculating PutEvents event entry
/// size", EventBridge user guide).
pub const MAX_BATCH_BYTES: usize = 262_144;
/// `Source` is 1 to 256 characters.
pub const MAX_SOURCE_LEN: usize = 256;
/// An event bus name or ARN is at most 1600 characters.
pub const MAX_BUS_LEN: usize = 1600;

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

fn default_bus() -> String {
    "default".into()
}

fn default_source() -> String {
    "sluice".into()
}

/// The destination config of type `eventbridge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBridgeConfig {
    /// A bus name or ARN; the account's default bus when left out.
    #[serde(default = "default_bus")]
    pub event_bus_name: String,
    pub region: String,
    #[serde(flatten)]
    pub credentials: AwsCredentials,
    /// The events' `Source`, for rules to match on.
    #[serde(default = "default_source")]
    pub source: String,
    /// Another origin to send to instead of `https://events.{region}.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl EventBridgeConfig {
    /// Every problem with the config, fields named `config.…`.
    pub fn validate(&self, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        if let Err(e) = check_bus(&self.event_bus_name) {
            errors.push(FieldError::new("config.event_bus_name", e));
        }
        errors.extend(check_region("config.region", &self.region));
        errors.extend(self.credentials.validate("config"));
        let source = check_text(&self.source, MAX_SOURCE_LEN).and_then(|()| {
            if self.source.is_empty() {
                Err("this field may not be empty".into())
            } else if self.source.starts_with("aws.") {
                Err("sources starting with 'aws.' are reserved for AWS services".into())
            } else {
                Ok(())
            }
        });
        if let Err(e) = source {
            errors.push(FieldError::new("config.source", e));
        }
        if let Some(endpoint) = &self.endpoint {
            errors.extend(check_endpoint("config.endpoint", endpoint, allow_private));
        }
        errors
    }

    /// The URL requests go to: the endpoint override, or the region's EventBridge endpoint.
    pub fn endpoint_url(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("{}/", endpoint_base(e)),
            None => format!(
                "https://events.{}.{}/",
                self.region,
                dns_suffix(&self.region)
            ),
        }
    }
}

/// A bus name (`[/.\-_A-Za-z0-9]+`, partner buses contain '/') or an event bus ARN.
fn check_bus(bus: &str) -> Result<(), String> {
    let name =
        match bus.strip_prefix("arn:") {
            Some(arn) => {
                let parts: Vec<&str> = arn.splitn(5, ':').collect();
                match parts[..] {
                    [partition, "events", region, account, resource]
                        if partition.starts_with("aws")
                            && !region.is_empty()
                            && account.len() == 12
                            && account.chars().all(|c| c.is_ascii_digit()) =>
                    {
                        resource.strip_prefix("event-bus/").unwrap_or_default()
                    }
                    _ => return Err(
                        "not an event bus ARN (arn:aws:events:{region}:{account}:event-bus/{name})"
                            .into(),
                    ),
                }
            }
            None => bus,
        };
    let valid = !name.is_empty()
        && bus.len() <= MAX_BUS_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_'));
    if valid {
        Ok(())
    } else {
        Err("a bus name is letters, digits, '/', '.', '-' and '_', or an event bus ARN".into())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry<'a> {
    source: &'a str,
    detail_type: &'a str,
    detail: &'a str,
    event_bus_name: &'a str,
    resources: [&'a str; 0],
}

impl Entry<'_> {
    /// The size EventBridge counts (no `Time`, no resources).
    fn size(&self) -> usize {
        self.source.len() + self.detail_type.len() + self.detail.len()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PutEvents<'a> {
    entries: Vec<Entry<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PutEventsResponse {
    entries: Vec<ResultEntry>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ResultEntry {
    event_id: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
}

/// The EventBridge provider of one destination.
pub struct EventBridge {
    config: EventBridgeConfig,
}

impl EventBridge {
    pub fn new(config: EventBridgeConfig) -> Self {
        EventBridge { config }
    }

    fn entry<'a>(&'a self, d: &'a QueuedDelivery) -> Entry<'a> {
        Entry {
            source: &self.config.source,
            detail_type: &d.topic,
            detail: &d.payload,
            event_bus_name: &self.config.event_bus_name,
            resources: [],
        }
    }

    /// Which deliveries go into the request; `build` and `interpret` agree by calling this.
    fn plan(&self, batch: &[QueuedDelivery]) -> Vec<Slot> {
        let sizes = batch.iter().map(|d| {
            // EventBridge refuses any Detail that is not a JSON object (MalformedDetail).
            if d.payload.trim_start().starts_with('{') {
                Ok(self.entry(d).size())
            } else {
                Err("EventBridge takes only a JSON object as an event's detail".into())
            }
        });
        plan_batch(sizes, MAX_BATCH_ENTRIES, MAX_BATCH_BYTES)
    }
}

impl Provider for EventBridge {
    fn max_batch(&self) -> usize {
        MAX_BATCH_ENTRIES
    }

    fn fit(&self, batch: &[QueuedDelivery]) -> usize {
        aws::fitting(&self.plan(batch))
    }

    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<HttpRequest, String> {
        let plan = self.plan(batch);
        let entries: Vec<Entry> = batch
            .iter()
            .zip(&plan)
            .filter(|(_, slot)| matches!(slot, Slot::Sent(_)))
            .map(|(d, _)| self.entry(d))
            .collect();
        if entries.is_empty() {
            let reasons: Vec<&str> = plan
                .iter()
                .filter_map(|s| match s {
                    Slot::Rejected(r) => Some(r.as_str()),
                    _ => None,
                })
                .collect();
            return Err(format!("no event can be sent: {}", reasons.join("; ")));
        }
        let body = serde_json::to_vec(&PutEvents { entries }).map_err(|e| e.to_string())?;
        let mut request = HttpRequest {
            method: "POST",
            url: self.config.endpoint_url(),
            headers: vec![
                ("content-type".into(), CONTENT_TYPE.into()),
                ("x-amz-target".into(), "AWSEvents.PutEvents".into()),
            ],
            body,
        };
        aws::sign(
            &mut request,
            &self.config.credentials,
            &self.config.region,
            "events",
            now,
        )?;
        Ok(request)
    }

    /// `FailedEntryCount` and one result per entry, in request order: an `EventId` is
    /// delivered; `ThrottlingException` and `InternalFailure` are transient, other error
    /// codes permanent.
    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        let plan = self.plan(batch);
        let answer = match response_or_verdict(result, now) {
            Err(v) => Err(v),
            Ok(r) if !(200..300).contains(&r.status) => Err(error_verdict(
                "EventBridge",
                r,
                &AwsError::from_json(r),
                now,
            )),
            Ok(r) => {
                serde_json::from_str::<PutEventsResponse>(&r.body).map_err(|e| Verdict::Transient {
                    error: format!("EventBridge: unreadable PutEvents response: {e}"),
                    retry_after_ms: None,
                })
            }
        };
        plan.iter()
            .map(|slot| match (slot, &answer) {
                (Slot::Sent(n), Ok(response)) => entry_result(response.entries.get(*n)),
                (Slot::Sent(_), Err(v)) => v.clone(),
                (Slot::Rejected(reason), _) => Verdict::Permanent {
                    error: reason.clone(),
                },
                (Slot::Deferred, _) => deferred_verdict(),
            })
            .collect()
    }
}

fn entry_result(entry: Option<&ResultEntry>) -> Verdict {
    match entry {
        Some(ResultEntry {
            error_code: Some(code),
            error_message,
            ..
        }) => entry_verdict(
            "EventBridge",
            code,
            error_message.as_deref().unwrap_or_default(),
            false,
        ),
        Some(ResultEntry {
            event_id: Some(_), ..
        }) => Verdict::Delivered,
        _ => Verdict::Transient {
            error: "EventBridge: the response did not mention this event".into(),
            retry_after_ms: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::validate::from_value;
    use crate::core::wire::TransportError;
    use crate::providers::aws::testing::{creds, delivery, response, NOW};

    fn config() -> EventBridgeConfig {
        EventBridgeConfig {
            event_bus_name: "orders-bus".into(),
            region: "us-east-1".into(),
            credentials: creds(),
            source: "sluice".into(),
            endpoint: None,
        }
    }

    fn kinds(verdicts: &[Verdict]) -> Vec<&'static str> {
        verdicts
            .iter()
            .map(|v| match v {
                Verdict::Delivered => "delivered",
                Verdict::Transient { .. } => "transient",
                Verdict::Permanent { .. } => "permanent",
            })
            .collect()
    }

    /// `PutEvents` with two entries, shaped as in the EventBridge API reference. The
    /// `authorization` value was computed independently with botocore 1.44.5
    /// (`SigV4Auth(Credentials(AKIDEXAMPLE, wJalr…KEY), "events", "us-east-1")` on the same
    /// request, `botocore.auth.get_current_datetime` frozen at 2023-11-14T22:13:20Z).
    #[test]
    fn put_events_wire_format() {
        let batch = [
            delivery("evt_1", r#"{"order":1}"#),
            delivery("evt_2", r#"{"order":2}"#),
        ];
        let request = EventBridge::new(config()).build(&batch, NOW).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.url, "https://events.us-east-1.amazonaws.com/");
        assert_eq!(
            String::from_utf8(request.body.clone()).unwrap(),
            concat!(
                r#"{"Entries":["#,
                r#"{"Source":"sluice","DetailType":"order.created","Detail":"{\"order\":1}","EventBusName":"orders-bus","Resources":[]},"#,
                r#"{"Source":"sluice","DetailType":"order.created","Detail":"{\"order\":2}","EventBusName":"orders-bus","Resources":[]}]}"#
            )
        );
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            headers,
            [
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "AWSEvents.PutEvents"),
                ("x-amz-date", "20231114T221320Z"),
                (
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/events/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
                     Signature=21f33acf0f9cd7fbe494b9b036988d6299cb544963e3253cdd6659276d85cc1a"
                ),
            ]
        );
    }

    #[test]
    fn entries_fit_the_limits() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(100_000));
        let batch = [
            delivery("evt_1", "[1,2]"),
            delivery("evt_2", &big),
            delivery("evt_3", &big),
            delivery("evt_4", &big),
        ];
        let eb = EventBridge::new(config());
        let body: serde_json::Value =
            serde_json::from_slice(&eb.build(&batch, NOW).unwrap().body).unwrap();
        assert_eq!(body["Entries"].as_array().unwrap().len(), 2);
        let ok = r#"{"FailedEntryCount":0,"Entries":[{"EventId":"a"},{"EventId":"b"}]}"#;
        assert_eq!(
            kinds(&eb.interpret(&batch, &response(200, &[], ok), NOW)),
            ["permanent", "delivered", "delivered", "transient"]
        );
        let err = eb.build(&[delivery("evt_1", "\"text\"")], NOW).unwrap_err();
        assert!(err.contains("JSON object"), "{err}");
    }

    /// A partial failure as the API reference shows it: results in request order.
    #[test]
    fn partial_failure() {
        let batch: Vec<_> = (0..4).map(|i| delivery(&format!("e{i}"), "{}")).collect();
        let body = r#"{"FailedEntryCount":2,"Entries":[
            {"EventId":"11710aed-b79e-4468-a20b-bb3c0c3b4860"},
            {"ErrorCode":"ThrottlingException","ErrorMessage":"Rate exceeded"},
            {"ErrorCode":"InternalFailure","ErrorMessage":"internal"},
            {"ErrorCode":"MalformedDetail","ErrorMessage":"Detail is malformed."}]}"#;
        let verdicts = EventBridge::new(config()).interpret(&batch, &response(200, &[], body), NOW);
        assert_eq!(
            kinds(&verdicts),
            ["delivered", "transient", "transient", "permanent"]
        );
        assert_eq!(
            verdicts[3],
            Verdict::Permanent {
                error: "EventBridge entry failed: MalformedDetail: Detail is malformed.".into()
            }
        );
        let short = r#"{"FailedEntryCount":0,"Entries":[{"EventId":"a"}]}"#;
        let verdicts =
            EventBridge::new(config()).interpret(&batch, &response(200, &[], short), NOW);
        assert_eq!(kinds(&verdicts)[1], "transient");
    }

    #[test]
    fn request_errors() {
        let one = [delivery("evt_1", "{}")];
        let eb = EventBridge::new(config());
        let cases: &[(u16, &str, &str)] = &[
            (
                400,
                r#"{"__type":"ResourceNotFoundException","message":"Event bus orders-bus does not exist."}"#,
                "permanent",
            ),
            (
                400,
                r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
                "permanent",
            ),
            (
                400,
                r#"{"__type":"InvalidSignatureException","message":"The request signature we calculated does not match the signature you provided."}"#,
                "permanent",
            ),
            (
                400,
                r#"{"__type":"AccessDeniedException","message":"not authorized to perform: events:PutEvents"}"#,
                "permanent",
            ),
            (
                400,
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
                "transient",
            ),
            (
                500,
                r#"{"__type":"InternalException","message":"oops"}"#,
                "transient",
            ),
        ];
        for (status, body, expected) in cases {
            let v = eb.interpret(&one, &response(*status, &[], body), NOW);
            assert_eq!(kinds(&v), [*expected], "{body}");
        }
        let v = eb.interpret(&one, &response(400, &[], cases[0].1), NOW);
        assert_eq!(
            v,
            [Verdict::Permanent {
                error: "EventBridge HTTP 400 ResourceNotFoundException: Event bus orders-bus does not exist."
                    .into()
            }]
        );
        let net = Err(TransportError::Network("reset".into()));
        assert_eq!(kinds(&eb.interpret(&one, &net, NOW)), ["transient"]);
    }

    #[test]
    fn config_parsing_and_validation() {
        let c: EventBridgeConfig = from_value(
            serde_json::json!({"region": "eu-west-1", "access_key_id": "AKIDEXAMPLE",
                "secret_access_key": "s", "endpoint": "http://localhost:4566"}),
            "config",
        )
        .unwrap();
        assert_eq!(c.event_bus_name, "default");
        assert_eq!(c.source, "sluice");
        assert_eq!(c.endpoint_url(), "http://localhost:4566/");
        assert!(c.validate(true).is_empty());
        let mut upper = c.clone();
        upper.endpoint = Some("http://LocalHost:4566/".into());
        assert_eq!(upper.endpoint_url(), "http://localhost:4566/");
        let e = from_value::<EventBridgeConfig>(
            serde_json::json!({"region": "eu-west-1", "access_key_id": "A",
                "secret_access_key": "s", "bus": "x"}),
            "config",
        )
        .unwrap_err();
        assert_eq!(e.field, "config.bus");

        let arn = "arn:aws:events:eu-west-1:123456789012:event-bus/orders";
        for ok in ["default", "aws.partner/example.com/123/x", arn] {
            assert!(check_bus(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "has space",
            "arn:aws:sqs:eu-west-1:123456789012:q",
            "arn:aws:events:eu-west-1:1:event-bus/x",
        ] {
            assert!(check_bus(bad).is_err(), "{bad}");
        }
        let mut bad = config();
        bad.event_bus_name = "no spaces".into();
        bad.region = "EU".into();
        bad.source = "aws.s3".into();
        bad.endpoint = Some("ftp://x".into());
        let fields: Vec<String> = bad.validate(false).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "config.event_bus_name",
                "config.region",
                "config.source",
                "config.endpoint"
            ]
        );
    }
}
