//! Fixtures shared by the providers' tests: a delivery, a response, AWS example credentials,
//! a batch's verdicts at a glance.

use super::aws::{AwsCredentials, AwsTarget};
use crate::core::classify::Verdict;
use crate::core::engine::QueuedDelivery;
use crate::core::ids::{DeliveryId, EventId, TenantId};
use crate::core::wire::{HttpResponse, TransportResult};

/// The example key pair of the AWS documentation and SigV4 test suite.
pub fn creds() -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: None,
    }
}

/// 2023-11-14T22:13:20Z, the time every wire-format test signs at.
pub const NOW: i64 = 1_700_000_000_000;

/// Attempt 3 of event `evt_1` (`order.created`, `{"order":1}`), created 2023-11-14.
pub fn delivery(event_id: &str, payload: &str) -> QueuedDelivery {
    QueuedDelivery {
        delivery_id: DeliveryId::parse("dlv_01hf4k2m9x8y7z6w5v4t3s2r1q").unwrap(),
        tenant_id: TenantId::parse("acme").unwrap(),
        event_id: EventId::parse(event_id).unwrap(),
        topic: "order.created".into(),
        payload: payload.into(),
        metadata: Default::default(),
        attempts: 2,
        due_at: NOW,
        created_at: NOW - 60_000,
        manual: None,
        shard: Default::default(),
    }
}

pub fn response(status: u16, headers: &[(&str, &str)], body: &str) -> TransportResult {
    Ok(HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
    })
}

/// Each verdict's kind, to compare a batch's outcomes at a glance.
pub fn kinds(verdicts: &[Verdict]) -> Vec<&'static str> {
    verdicts
        .iter()
        .map(|v| match v {
            Verdict::Delivered => "delivered",
            Verdict::Transient { .. } => "transient",
            Verdict::Permanent { .. } => "permanent",
        })
        .collect()
}

/// The example credentials in `region`, no endpoint override.
pub fn target(region: &str) -> AwsTarget {
    AwsTarget {
        region: region.into(),
        credentials: creds(),
        endpoint: None,
    }
}
