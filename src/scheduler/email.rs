//! The email channel's sends (an `Outbound::Email`, handed here by the scheduler's
//! transport) go to the `send_email` binding (Cloudflare Email Workers / Email Service). The
//! result takes the shape of every transport result, so that the engine's retry and
//! classification apply unchanged: 202 sent, 400 refused by the binding (an address not
//! allowed, a message it cannot take: permanent), 503 anything else (retried).

use crate::core::wire::{EmailMessage, HttpResponse, TransportResult};
use crate::providers::alert_channels::EMAIL_BINDING;
use worker::{Env, SendEmailBuilder};

fn answer(status: u16, body: String) -> TransportResult {
    Ok(HttpResponse {
        status,
        headers: vec![],
        body,
    })
}

/// Sends an `email` channel's message through the `send_email` binding.
pub async fn send_email(env: &Env, email: &EmailMessage) -> TransportResult {
    let binding = match env.send_email(EMAIL_BINDING) {
        Ok(b) => b,
        Err(e) => return answer(400, format!("send_email binding {EMAIL_BINDING}: {e}")),
    };
    let message =
        SendEmailBuilder::builder_with_str_and_slice(&email.from, &email.to, &email.subject)
            .text(&email.text)
            .build();
    match binding.send_with_builder(&message).await {
        Ok(sent) => answer(202, sent.message_id()),
        Err(e) => {
            let e = format!("{e:?}");
            let refused = e.contains("not allowed") || e.contains("invalid");
            answer(if refused { 400 } else { 503 }, format!("send_email: {e}"))
        }
    }
}
