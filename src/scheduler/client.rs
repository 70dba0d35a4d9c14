//! The Worker's side of the scheduler protocol: one call per message, to the destination's
//! Durable Object (`id_from_name(destination_id)`).

use super::protocol::{Enqueued, Envelope, SchedulerRequest, SchedulerStatus, PROTOCOL_VERSION};
use crate::core::engine::{ProbeReport, QueuedDelivery};
use crate::core::ids::DestinationId;
use crate::store::destinations::DestinationRow;
use serde::de::DeserializeOwned;
use worker::{Env, Headers, Method, Request, RequestInit};

/// Why a scheduler call failed.
#[derive(Debug)]
pub enum SchedulerError {
    /// The destination was deleted while the call was on its way.
    Gone,
    /// The destination takes no more WebSocket clients.
    Full(String),
    Unavailable(String),
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
        let mut resp =
            crate::runtime::post_json(&stub, "https://scheduler.internal/", body).await?;
        match resp.status_code() {
            200 => Ok(resp.json().await?),
            410 => Err(SchedulerError::Gone),
            status => Err(SchedulerError::Unavailable(format!(
                "scheduler answered {status}: {}",
                resp.text().await.unwrap_or_default()
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
            429 => Err(SchedulerError::Full(resp.text().await.unwrap_or_default())),
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
