//! The Worker's side of the scheduler protocol: one call per message, to the destination's
//! Durable Object (`id_from_name(destination_id)`).

use super::protocol::{Enqueued, Envelope, SchedulerRequest, SchedulerStatus, PROTOCOL_VERSION};
use crate::core::engine::{ProbeReport, QueuedDelivery};
use crate::core::ids::DestinationId;
use crate::store::destinations::DestinationRow;
use serde::de::DeserializeOwned;
use worker::{Env, Headers, Method, Request, RequestInit};

/// Why a scheduler call failed.
#[derive(Debug, PartialEq)]
pub enum SchedulerError {
    /// The destination was deleted while the call was on its way.
    Gone,
    /// The destination already has its `max_clients` WebSocket clients.
    Full { max_clients: u32 },
    /// A WebSocket client asked for a destination of another type.
    NotWebSocket,
    /// The scheduler has no destination snapshot yet.
    NotConfigured,
    /// The scheduler could not be reached or failed; the detail is logged only.
    Unavailable(String),
}

impl std::fmt::Display for SchedulerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchedulerError::Gone => f.write_str("the destination was deleted"),
            SchedulerError::Full { max_clients } => {
                write!(f, "this destination takes at most {max_clients} clients")
            }
            SchedulerError::NotWebSocket => f.write_str("not a websocket destination"),
            SchedulerError::NotConfigured => f.write_str("destination not configured"),
            SchedulerError::Unavailable(why) => write!(f, "scheduler unavailable: {why}"),
        }
    }
}

/// The HTTP status a scheduler answers a connection with, for each refusal (read back by
/// `SchedulerClient::connect`).
pub fn refusal_status(e: &SchedulerError) -> u16 {
    match e {
        SchedulerError::Gone => 410,
        SchedulerError::NotConfigured => 404,
        SchedulerError::NotWebSocket => 409,
        SchedulerError::Full { .. } => 429,
        SchedulerError::Unavailable(_) => 503,
    }
}

impl From<worker::Error> for SchedulerError {
    fn from(e: worker::Error) -> Self {
        SchedulerError::Unavailable(e.to_string())
    }
}

pub struct SchedulerClient<'a> {
    env: &'a Env,
}

impl<'a> SchedulerClient<'a> {
    pub fn new(env: &'a Env) -> Self {
        SchedulerClient { env }
    }

    fn stub(&self, destination: &DestinationId) -> worker::Result<worker::Stub> {
        self.env
            .durable_object("SCHEDULER")?
            .id_from_name(destination.as_str())?
            .get_stub()
    }

    async fn call<T: DeserializeOwned>(
        &self,
        destination: &DestinationId,
        request: SchedulerRequest,
    ) -> Result<T, SchedulerError> {
        let stub = self.stub(destination)?;
        let body = serde_json::to_string(&Envelope {
            v: PROTOCOL_VERSION,
            request,
        })
        .map_err(|e| SchedulerError::Unavailable(e.to_string()))?;
        let answer = crate::runtime::post_json(stub, "https://scheduler.internal/", body).await?;
        match answer.status {
            200 => serde_json::from_str(&answer.body)
                .map_err(|e| SchedulerError::Unavailable(e.to_string())),
            410 => Err(SchedulerError::Gone),
            status => Err(SchedulerError::Unavailable(format!(
                "scheduler answered {status}: {}",
                answer.body
            ))),
        }
    }

    pub async fn configure(&self, destination: &DestinationRow) -> Result<(), SchedulerError> {
        let _: serde_json::Value = self
            .call(
                &destination.id,
                SchedulerRequest::Configure {
                    destination: destination.clone(),
                },
            )
            .await?;
        Ok(())
    }

    pub async fn enqueue(
        &self,
        destination: &DestinationRow,
        deliveries: Vec<QueuedDelivery>,
    ) -> Result<Enqueued, SchedulerError> {
        self.call(
            &destination.id,
            SchedulerRequest::Enqueue {
                destination: destination.clone(),
                deliveries,
            },
        )
        .await
    }

    pub async fn status(
        &self,
        destination: &DestinationId,
    ) -> Result<SchedulerStatus, SchedulerError> {
        self.call(destination, SchedulerRequest::Status).await
    }

    pub async fn test(
        &self,
        destination: &DestinationRow,
        delivery: QueuedDelivery,
    ) -> Result<ProbeReport, SchedulerError> {
        self.call(
            &destination.id,
            SchedulerRequest::Test {
                destination: destination.clone(),
                delivery,
            },
        )
        .await
    }

    pub async fn reset_circuit(
        &self,
        destination: &DestinationId,
    ) -> Result<SchedulerStatus, SchedulerError> {
        self.call(destination, SchedulerRequest::ResetCircuit).await
    }

    /// Forwards a WebSocket client's connection to the destination's scheduler; the answer is
    /// the 101 that hands the client its socket.
    pub async fn connect(
        &self,
        destination: &DestinationId,
        principal: &str,
    ) -> Result<worker::Response, SchedulerError> {
        let stub = self.stub(destination)?;
        let headers = Headers::new();
        headers.set("upgrade", "websocket")?;
        headers.set(super::PRINCIPAL_HEADER, principal)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Get).with_headers(headers);
        let url = format!("https://scheduler.internal{}", super::SOCKET_PATH);
        let req = Request::new_with_init(&url, &init)?;
        let mut resp = stub.fetch_with_request(req).await?;
        match resp.status_code() {
            101 => Ok(resp),
            410 => Err(SchedulerError::Gone),
            404 => Err(SchedulerError::NotConfigured),
            409 => Err(SchedulerError::NotWebSocket),
            // The body is the limit, as `DeliveryScheduler::connect_client` writes it.
            429 => Err(match resp.text().await.map(|t| t.trim().parse()) {
                Ok(Ok(max_clients)) => SchedulerError::Full { max_clients },
                _ => SchedulerError::Unavailable("scheduler answered 429 without its limit".into()),
            }),
            status => Err(SchedulerError::Unavailable(format!(
                "scheduler answered {status}: {}",
                resp.text().await.unwrap_or_default()
            ))),
        }
    }

    pub async fn purge(&self, destination: &DestinationId) -> Result<(), SchedulerError> {
        match self
            .call::<serde_json::Value>(destination, SchedulerRequest::Purge)
            .await
        {
            Ok(_) | Err(SchedulerError::Gone) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
