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

/// The destination config of type `aws_eventbridge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct EventBridgeConfig {
    /// A bus name or ARN; the account's default bus when left out.
    #[serde(default = "default_bus")]
    pub event_bus_name: String,
    /// The AWS region, e.g. `eu-west-1`.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1)))]
    pub region: String,
    #[serde(flatten)]
    pub credentials: AwsCredentials,
    /// The events' `Source`, for rules to match on.
    #[serde(default = "default_source")]
    pub source: String,
    /// Another origin to send to instead of `https://events.{region}.amazonaws.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url))]
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
mod tests;
