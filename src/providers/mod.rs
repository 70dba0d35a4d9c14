//! One module per destination type: pure request builders and response interpreters.
//! The DeliveryScheduler owns the one place where requests are sent.

pub mod aws;
pub mod eventbridge;
pub mod s3;
pub mod sqs;
pub mod webhook;

use crate::core::destination::{SecretBundle, Target};
use crate::core::engine::Provider;
use crate::core::time::Millis;

/// Builds the provider for a destination from its decrypted secrets.
pub fn for_target(target: &Target, secrets: &SecretBundle, now: Millis) -> impl Provider {
    match target {
        Target::Webhook(config) => webhook::Webhook::new(config.clone(), secrets, now),
    }
}
