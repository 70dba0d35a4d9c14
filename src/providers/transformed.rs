//! A destination's payload transform, applied the same way for every type: a provider that
//! rewrites each delivery's payload (`core::transform`) and hands the rewritten batch to the
//! type's own provider. Webhook, SQS, Pub/Sub, Kafka, RabbitMQ… need no code of their own.
//!
//! A delivery whose transform fails (its data is not JSON, or the output is too large) is
//! sent alone: `fit` cuts the batch before it, or to it alone when it is first, and `build`
//! then fails, which the engine records as a permanent failure of that one delivery with the
//! error. No request is sent for it, so the circuit breaker does not count it.

use crate::core::classify::Verdict;
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::json;
use crate::core::time::{to_rfc3339, Millis};
use crate::core::transform::{Subject, Transform};
use crate::core::wire::{CredentialRequest, Outbound, TransportResult};
use serde_json::Value;

pub struct Transformed<'a, P> {
    inner: P,
    /// `None`: no transform, every call goes straight through. `Some(Err)`: the stored
    /// transform no longer compiles (limits changed since it was saved); every delivery fails.
    transform: Option<Result<&'a Transform, &'a str>>,
}

impl<'a, P: Provider> Transformed<'a, P> {
    pub fn new(inner: P, transform: Option<Result<&'a Transform, &'a str>>) -> Self {
        Transformed { inner, transform }
    }

    /// The delivery with its payload transformed.
    fn rewrite(&self, d: &QueuedDelivery) -> Result<QueuedDelivery, String> {
        let transform = match self.transform {
            None => return Ok(d.clone()),
            Some(Err(e)) => return Err(format!("transform: {e}")),
            Some(Ok(t)) => t,
        };
        let payload = apply(transform, d).map_err(|e| format!("transform: {e}"))?;
        Ok(QueuedDelivery {
            payload,
            ..d.clone()
        })
    }

    fn rewrite_all(&self, batch: &[QueuedDelivery]) -> Result<Vec<QueuedDelivery>, String> {
        batch.iter().map(|d| self.rewrite(d)).collect()
    }
}

/// The transformed payload of one delivery, as JSON text.
pub fn apply(transform: &Transform, d: &QueuedDelivery) -> Result<String, String> {
    let data: Value =
        json::from_str(&d.payload).map_err(|e| format!("the event's data is not JSON: {e}"))?;
    let timestamp = to_rfc3339(d.created_at);
    transform.apply(&Subject {
        data: &data,
        metadata: &d.metadata,
        topic: &d.topic,
        event_id: d.event_id.as_str(),
        tenant_id: d.tenant_id.as_str(),
        delivery_id: d.delivery_id.as_str(),
        attempt: d.attempts + 1,
        timestamp: &timestamp,
    })
}

impl<P: Provider> Provider for Transformed<'_, P> {
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }

    fn fit(&self, batch: &[QueuedDelivery]) -> usize {
        if self.transform.is_none() {
            return self.inner.fit(batch);
        }
        let mut rewritten = Vec::with_capacity(batch.len());
        for d in batch {
            match self.rewrite(d) {
                Ok(r) => rewritten.push(r),
                // It goes alone, to fail in `build`.
                Err(_) if rewritten.is_empty() => return 1,
                Err(_) => break,
            }
        }
        self.inner.fit(&rewritten).min(rewritten.len())
    }

    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<Outbound, String> {
        if self.transform.is_none() {
            return self.inner.build(batch, now);
        }
        self.inner.build(&self.rewrite_all(batch)?, now)
    }

    fn interpret(
        &self,
        batch: &[QueuedDelivery],
        result: &TransportResult,
        now: Millis,
    ) -> Vec<Verdict> {
        match self.transform {
            Some(Ok(_)) => match self.rewrite_all(batch) {
                Ok(rewritten) => self.inner.interpret(&rewritten, result, now),
                Err(_) => self.inner.interpret(batch, result, now),
            },
            _ => self.inner.interpret(batch, result, now),
        }
    }

    fn credential_request(&self, now: Millis) -> Option<Result<CredentialRequest, String>> {
        self.inner.credential_request(now)
    }

    fn accept_credential(&self, result: &TransportResult, now: Millis) -> Result<(), Verdict> {
        self.inner.accept_credential(result, now)
    }

    fn secret_headers(&self) -> Vec<String> {
        self.inner.secret_headers()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::{DeliveryId, EventId, TenantId};
    use crate::core::wire::{HttpRequest, HttpResponse};
    use serde_json::json;

    /// A batching provider that sends the payloads as a JSON array, at most 3 per request
    /// and at most 60 bytes of payloads.
    struct Echo;
    impl Provider for Echo {
        fn max_batch(&self) -> usize {
            3
        }
        fn fit(&self, batch: &[QueuedDelivery]) -> usize {
            let mut size = 0;
            batch
                .iter()
                .take_while(|d| {
                    size += d.payload.len();
                    size <= 60
                })
                .count()
        }
        fn build(&self, batch: &[QueuedDelivery], _: Millis) -> Result<Outbound, String> {
            let body = format!(
                "[{}]",
                batch
                    .iter()
                    .map(|d| d.payload.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            Ok(Outbound::Http(HttpRequest {
                method: "POST",
                url: "https://example.com/".into(),
                headers: vec![],
                body: body.into_bytes(),
            }))
        }
    }

    fn delivery(n: u32, payload: &str) -> QueuedDelivery {
        QueuedDelivery {
            delivery_id: DeliveryId::generate(1, n as u128),
            tenant_id: TenantId::parse("acme").unwrap(),
            event_id: EventId::parse(&format!("evt-{n}")).unwrap(),
            topic: "order.paid".into(),
            payload: payload.into(),
            metadata: [("region".to_string(), "eu".to_string())].into(),
            attempts: 1,
            due_at: 0,
            created_at: 1_795_000_000_000,
            manual: None,
            shard: Default::default(),
        }
    }

    fn body(p: &impl Provider, batch: &[QueuedDelivery]) -> Value {
        serde_json::from_slice(&p.build(batch, 0).unwrap().expect_http().body).unwrap()
    }

    #[test]
    fn every_payload_is_rewritten_before_the_type_builds_its_request() {
        let t = Transform::compile(&json!({"id": "{{ data.id }}", "e": "{{ event_id }}",
            "a": "{{ attempt }}", "r": "{{ metadata.region }}", "ts": "{{ timestamp }}"}))
        .unwrap();
        let p = Transformed::new(Echo, Some(Ok(&t)));
        let batch = [delivery(1, r#"{"id": 7}"#)];
        assert_eq!(
            body(&p, &batch),
            json!([{"id": 7, "e": "evt-1", "a": 2, "r": "eu", "ts": "2026-11-18T11:06:40.000Z"}])
        );
        // Without a transform the payload goes through untouched.
        let plain = Transformed::new(Echo, None);
        assert_eq!(body(&plain, &batch), json!([{"id": 7}]));
    }

    #[test]
    fn size_limits_see_the_transformed_payload() {
        let t = Transform::compile(&json!({"padding": "xxxxxxxxxxxxxxxxxxxx", "d": "{{ data }}"}))
            .unwrap();
        let p = Transformed::new(Echo, Some(Ok(&t)));
        let batch: Vec<_> = (1..=3).map(|n| delivery(n, "1")).collect();
        // Each rewritten payload is 34 bytes: one fits in 60, where three raw ones would.
        assert_eq!(Echo.fit(&batch), 3);
        assert_eq!(p.fit(&batch), 1);
    }

    #[test]
    fn a_failing_delivery_goes_alone_and_fails_to_build() {
        let t = Transform::compile(&json!({"d": "{{ data }}"})).unwrap();
        let p = Transformed::new(Echo, Some(Ok(&t)));
        let good = delivery(1, "1");
        let bad = delivery(2, "not json");
        assert_eq!(p.fit(&[good.clone(), bad.clone(), good.clone()]), 1);
        assert_eq!(p.fit(&[bad.clone(), good.clone()]), 1);
        let err = p.build(&[bad], 0).unwrap_err();
        assert!(
            err.starts_with("transform: the event's data is not JSON"),
            "{err}"
        );
        let broken = Transformed::new(Echo, Some(Err("stored transform: bad")));
        assert_eq!(
            broken.build(std::slice::from_ref(&good), 0).unwrap_err(),
            "transform: stored transform: bad"
        );
        // The answer is read against the same (rewritten) batch.
        let ok: TransportResult = Ok(HttpResponse {
            status: 200,
            headers: vec![],
            body: String::new(),
        });
        assert_eq!(p.interpret(&[good], &ok, 0), vec![Verdict::Delivered]);
    }
}
