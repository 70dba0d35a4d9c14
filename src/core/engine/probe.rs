//! One test send outside the queue (`POST …/test`): its body, and the credential step and the
//! request exactly as a delivery would make them, with no retry, no breaker and no record.

use super::exchange::obtain_credential;
use super::ports::{Clock, Provider, QueuedDelivery, Transport};
use crate::core::classify::{classify, Verdict};
use crate::core::redact::{mask_echoes, secret_values};
use crate::core::wire::snippet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The topic of a test event unless the request names one.
pub const TEST_TOPIC: &str = "sluice.test";
/// The topic of an alert channel's test: the one real alerts come on.
pub const TEST_ALERT_TOPIC: &str = "sluice.alert.triggered";

/// The body of `POST …/destinations/{destination_id}/test`; every field may be left out.
// `api::probe` applies the defaults and the checks; the schema states them.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct TestRequest {
    /// The test event's topic; an alert channel's test defaults to `sluice.alert.triggered`.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(default = "test_topic"))]
    pub topic: Option<String>,
    /// The test event's data; a small JSON object naming the destination by default. Not
    /// accepted for an alert channel, whose test sends a fixed sample alert.
    pub data: Option<Value>,
    #[serde(default)]
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(with = "Value", extend("$ref" = "#/components/schemas/Metadata"))
    )]
    pub metadata: BTreeMap<String, String>,
}

#[cfg(not(target_arch = "wasm32"))]
fn test_topic() -> Option<String> {
    Some(TEST_TOPIC.into())
}

/// What one test send did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The destination accepted the delivery.
    pub ok: bool,
    /// Whether retrying could help (throttling, 5xx, timeouts) when it was refused.
    pub transient: bool,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: u64,
}

/// Sends one delivery once, outside the queue: no retry, no breaker, no record. It runs the
/// credential step and the request exactly as a delivery would, so it checks a destination's
/// target and credentials against the real service (`POST …/test`).
pub async fn probe<T: Transport, P: Provider, C: Clock>(
    provider: &P,
    transport: &T,
    clock: &C,
    delivery: &QueuedDelivery,
    timeout_ms: u64,
) -> ProbeReport {
    let started = clock.now();
    let batch = std::slice::from_ref(delivery);
    let mut secrets = vec![];
    let (result, verdict) = match obtain_credential(provider, transport, timeout_ms, started).await
    {
        Some((result, verdict)) => (result, verdict),
        None => match provider.build(batch, started) {
            Err(e) => (
                None,
                Verdict::Permanent {
                    error: format!("could not build the request: {e}"),
                },
            ),
            Ok(outbound) => {
                secrets = secret_values(outbound.headers(), &provider.secret_headers());
                let result = transport.send(outbound, timeout_ms).await;
                let verdict = provider
                    .interpret(batch, &result, clock.now())
                    .pop()
                    .unwrap_or_else(|| classify(&result, clock.now()));
                (Some(result), verdict)
            }
        },
    };
    let response = result.as_ref().and_then(|r| r.as_ref().ok());
    let (ok, transient, error) = match verdict {
        Verdict::Delivered => (true, false, None),
        Verdict::Transient { error, .. } => (false, true, Some(error)),
        Verdict::Permanent { error } => (false, false, Some(error)),
    };
    ProbeReport {
        ok,
        transient,
        status_code: response.map(|r| r.status),
        error,
        response_body: response.map(|r| mask_echoes(&snippet(&r.body), &secrets)),
        duration_ms: (clock.now() - started).max(0) as u64,
    }
}
