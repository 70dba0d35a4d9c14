//! HTTP webhooks: `POST` the event's data as JSON (or as a CloudEvent), signed with Standard
//! Webhooks (or a custom HMAC header), with the destination's auth and custom headers.

use crate::core::destination::SecretBundle;
use crate::core::engine::{Provider, QueuedDelivery};
use crate::core::signing;
use crate::core::time::Millis;
use crate::core::wire::{HttpRequest, Outbound};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

pub mod cloudevents;
mod config;
use cloudevents::Framed;
pub use config::*;

pub const USER_AGENT: &str = concat!("Sluice/", env!("CARGO_PKG_VERSION"), " (webhook delivery)");

pub struct Webhook {
    config: WebhookConfig,
    /// Secrets that sign right now: the current one, plus a rotated-out one in its grace period.
    secrets: Vec<String>,
}

impl Webhook {
    pub fn new(config: WebhookConfig, bundle: &SecretBundle, now: Millis) -> Self {
        let secrets = bundle.active_keys(now).map(|k| k.secret.clone()).collect();
        Webhook { config, secrets }
    }

    fn signature_headers(
        &self,
        msg_id: &str,
        timestamp: i64,
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        match &self.config.signing {
            Signing::None => Ok(vec![]),
            Signing::StandardWebhooks { .. } => {
                let keys = self
                    .secrets
                    .iter()
                    .map(|s| signing::secret_key(s))
                    .collect::<Result<Vec<_>, _>>()?;
                if keys.is_empty() {
                    return Err("no active signing secret".into());
                }
                let header = signing::standard_signature_header(&keys, msg_id, timestamp, body);
                Ok(vec![("webhook-signature".into(), header)])
            }
            Signing::Hmac {
                header,
                algorithm,
                encoding,
                timestamp_header,
                ..
            } => {
                let secret = self.secrets.first().ok_or("no active signing secret")?;
                let ts = timestamp_header.as_ref().map(|_| timestamp);
                let sig = signing::custom_signature(secret, *algorithm, *encoding, ts, body);
                let mut headers = vec![(header.clone(), sig)];
                if let Some(h) = timestamp_header {
                    headers.push((h.clone(), timestamp.to_string()));
                }
                Ok(headers)
            }
        }
    }
}

impl Provider for Webhook {
    /// Custom header values are treated as secrets (they are masked in the config too: they
    /// often carry a tenant's token), and so are the api_key header and a custom HMAC
    /// signature header.
    fn secret_headers(&self) -> Vec<String> {
        let mut names: Vec<String> = self.config.headers.keys().cloned().collect();
        if let Some(WebhookAuth::ApiKey { header, .. }) = &self.config.auth {
            names.push(header.clone());
        }
        if let Signing::Hmac { header, .. } = &self.config.signing {
            names.push(header.clone());
        }
        names
    }

    fn build(&self, batch: &[QueuedDelivery], now: Millis) -> Result<Outbound, String> {
        let d = batch.first().ok_or("empty batch")?;
        let framed = match &self.config.cloudevents {
            Some(ce) => cloudevents::frame(ce, d)?,
            None => Framed {
                content_type: "application/json",
                headers: vec![],
                body: d.payload.as_bytes().to_vec(),
            },
        };
        let body = framed.body;
        let timestamp = now.div_euclid(1_000);
        let mut headers: Vec<(String, String)> = vec![
            ("content-type".into(), framed.content_type.into()),
            ("user-agent".into(), USER_AGENT.into()),
            ("webhook-id".into(), d.event_id.to_string()),
            ("webhook-timestamp".into(), timestamp.to_string()),
        ];
        // The signature covers the body as sent: the envelope too, in structured mode.
        headers.extend(self.signature_headers(d.event_id.as_str(), timestamp, &body)?);
        headers.extend(framed.headers);
        headers.extend([
            ("x-sluice-event-id".into(), d.event_id.to_string()),
            ("x-sluice-topic".into(), d.topic.clone()),
            ("x-sluice-attempt".into(), (d.attempts + 1).to_string()),
            ("x-sluice-delivery-id".into(), d.delivery_id.to_string()),
        ]);
        match &self.config.auth {
            Some(WebhookAuth::Bearer { token }) => {
                headers.push(("authorization".into(), format!("Bearer {token}")))
            }
            Some(WebhookAuth::Basic { username, password }) => {
                let creds = B64.encode(format!("{username}:{password}"));
                headers.push(("authorization".into(), format!("Basic {creds}")));
            }
            Some(WebhookAuth::ApiKey { header, key }) => {
                headers.push((header.clone(), key.clone()))
            }
            None => {}
        }
        headers.extend(
            self.config
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        Ok(Outbound::Http(HttpRequest {
            method: "POST",
            url: self.config.url.clone(),
            headers,
            body,
        }))
    }
}

#[cfg(test)]
mod tests;
