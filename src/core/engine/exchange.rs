//! The second phase of a round: obtain a credential if the provider needs one, then build and
//! send every leased batch's request at once (the run joins them), each timed on its own, and
//! read each answer into one verdict per delivery.

use super::ports::{Clock, Ports, Provider, QueuedDelivery, Transport};
use crate::core::classify::Verdict;
use crate::core::destination::DeliverySettings;
use crate::core::redact::{redact, secret_values};
use crate::core::time::Millis;
use crate::core::wire::{Outbound, TransportResult};

/// What one request of a round did.
#[derive(Debug)]
pub(super) struct Exchange {
    /// The transport's result: of the request, or of the credential exchange that failed
    /// before it. `None` when nothing was sent (the request could not be built).
    pub result: Option<TransportResult>,
    pub started: Millis,
    pub finished: Millis,
    /// One per delivery of the batch, in order.
    pub verdicts: Vec<Verdict>,
    /// What went out, when the request was sent.
    pub sent: Option<Sent>,
}

/// What was sent, as the attempt records it: the headers with credentials masked, and the
/// credential values, to be masked where the answer repeats them.
#[derive(Debug)]
pub(super) struct Sent {
    pub headers: Vec<(String, String)>,
    pub secrets: Vec<String>,
}

/// The credential step before a round of requests: `None` when none was needed or it worked,
/// else the exchange's result (if one was sent) and the verdict for everything waiting on it.
pub(super) async fn obtain_credential<T: Transport, P: Provider>(
    provider: &P,
    transport: &T,
    timeout_ms: u64,
    now: Millis,
) -> Option<(Option<TransportResult>, Verdict)> {
    match provider.credential_request(now)? {
        Err(e) => Some((
            None,
            Verdict::Permanent {
                error: format!("could not build the credential request: {e}"),
            },
        )),
        Ok(credential) => {
            let signature = match &credential.assertion {
                Some(jwt) => {
                    transport
                        .sign_rs256(&jwt.pkcs8_der, jwt.signing_input.as_bytes())
                        .await
                }
                None => Ok(vec![]),
            };
            let signature = match signature {
                Ok(signature) => signature,
                Err(e) => {
                    let error = format!("could not sign the credential request: {e}");
                    return Some((None, Verdict::Permanent { error }));
                }
            };
            let request = credential.complete(&signature);
            let result = transport.send(Outbound::Http(request), timeout_ms).await;
            match provider.accept_credential(&result, now) {
                Ok(()) => None,
                Err(verdict) => Some((Some(result), verdict)),
            }
        }
    }
}

/// Sends one batch's request and reads the answer into verdicts; `denied` is the round's
/// failed credential step, if it failed (then nothing is sent and every delivery gets its
/// verdict).
pub(super) async fn exchange<S, T, P, C, W>(
    ports: &Ports<'_, S, T, P, C, W>,
    settings: &DeliverySettings,
    now: Millis,
    batch: &[QueuedDelivery],
    denied: Option<&(Option<TransportResult>, Verdict)>,
) -> Exchange
where
    T: Transport,
    P: Provider,
    C: Clock,
{
    let (transport, provider, clock) = (ports.transport, ports.provider, ports.clock);
    if let Some((result, verdict)) = denied {
        return Exchange {
            result: result.clone(),
            started: now,
            finished: clock.now(),
            verdicts: vec![verdict.clone(); batch.len()],
            sent: None,
        };
    }
    match provider.build(batch, now) {
        Ok(outbound) => {
            let declared = provider.secret_headers();
            let sent = Sent {
                headers: redact(outbound.headers(), &declared),
                secrets: secret_values(outbound.headers(), &declared),
            };
            let started = clock.now();
            let result = transport.send(outbound, settings.timeout_ms).await;
            let finished = clock.now();
            Exchange {
                verdicts: provider.interpret(batch, &result, finished),
                result: Some(result),
                started,
                finished,
                sent: Some(sent),
            }
        }
        Err(e) => {
            let error = format!("could not build the request: {e}");
            Exchange {
                result: None,
                started: now,
                finished: now,
                verdicts: vec![Verdict::Permanent { error }; batch.len()],
                sent: None,
            }
        }
    }
}
