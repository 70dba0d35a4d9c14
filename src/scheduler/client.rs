//! The Worker's side of the scheduler protocol: one call per message, to the destination's
//! Durable Object (`id_from_name(destination_id)`), or to each of its lanes
//! (`core::lanes::object_name`): deliveries to the lane their key picks, configuration, resets
//! and purges to every lane, status summed over them.

use super::protocol::{
    Configure, Enqueue, Enqueued, Envelope, Observe, SchedulerRequest, SchedulerStatus, Test,
    PROTOCOL_VERSION,
};
use crate::core::destination::TargetConfig;
use crate::core::engine::{ProbeReport, QueuedDelivery};
use crate::core::ids::DestinationId;
use crate::core::json;
use crate::core::lanes;
use crate::providers::Target;
use crate::store::destinations::DestinationRow;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
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

    fn stub(&self, destination: &DestinationId, lane: u32) -> worker::Result<worker::Stub> {
        self.env
            .durable_object("SCHEDULER")?
            .id_from_name(&lanes::object_name(destination.as_str(), lane))?
            .get_stub()
    }

    async fn call<T: DeserializeOwned>(
        &self,
        destination: &DestinationId,
        lane: u32,
        request: SchedulerRequest,
    ) -> Result<T, SchedulerError> {
        let body = serde_json::to_string(&Envelope {
            v: PROTOCOL_VERSION,
            lane,
            request,
        })
        .map_err(|e| SchedulerError::Unavailable(e.to_string()))?;
        let answer = self.post(destination, lane, body).await?;
        json::from_str(&answer).map_err(|e| SchedulerError::Unavailable(e.to_string()))
    }

    /// The part of `call` that does not depend on the answer's type: one copy in the wasm
    /// rather than one per type. The answer's body, if the scheduler answered 200.
    async fn post(
        &self,
        destination: &DestinationId,
        lane: u32,
        body: String,
    ) -> Result<String, SchedulerError> {
        let stub = self.stub(destination, lane)?;
        let answer = crate::runtime::send_message(stub, body).await?;
        match answer.status {
            200 => Ok(answer.body),
            410 => Err(SchedulerError::Gone),
            status => Err(SchedulerError::Unavailable(format!(
                "scheduler answered {status}: {}",
                answer.body
            ))),
        }
    }

    /// One message to each of lanes `0..span` (at most `MAX_CONNECTIONS` at a time); every
    /// lane's answer, in lane order.
    async fn each_lane<T: DeserializeOwned>(
        &self,
        destination: &DestinationId,
        span: u32,
        request: impl Fn() -> SchedulerRequest,
    ) -> Vec<Result<T, SchedulerError>> {
        let calls = (0..span.max(1))
            .map(|lane| self.call(destination, lane, request()))
            .collect();
        crate::runtime::bounded(calls).await
    }

    /// Tells every lane the destination changed.
    pub async fn configure(&self, destination: &DestinationRow) -> Result<(), SchedulerError> {
        let span = lanes::span(&destination.settings);
        let answers: Vec<Result<serde_json::Value, _>> = self
            .each_lane(&destination.id, span, || {
                SchedulerRequest::Configure(Configure {
                    destination: destination.clone(),
                })
            })
            .await;
        answers.into_iter().try_for_each(|a| a.map(|_| ()))
    }

    /// Queues deliveries, each in its lane (`providers::Target::lane_for`); the lanes are
    /// called one after another, so that a hand-off calling several destinations at once
    /// stays within the connections one invocation may keep open. Any lane failing fails the
    /// whole call: the caller hands them all off again, and the lanes that took theirs already
    /// do not queue them twice.
    pub async fn enqueue(
        &self,
        destination: &DestinationRow,
        deliveries: Vec<QueuedDelivery>,
    ) -> Result<Enqueued, SchedulerError> {
        let mut queued = 0;
        for (lane, deliveries) in by_lane(destination, deliveries) {
            let answer: Enqueued = self
                .call(
                    &destination.id,
                    lane,
                    SchedulerRequest::Enqueue(Enqueue {
                        destination: destination.clone(),
                        deliveries,
                    }),
                )
                .await?;
            queued += answer.queued;
        }
        Ok(Enqueued { queued })
    }

    /// Lane 0's status alone: enough to tell whether the destination was deleted.
    pub async fn status(
        &self,
        destination: &DestinationId,
    ) -> Result<SchedulerStatus, SchedulerError> {
        self.call(destination, 0, SchedulerRequest::Status).await
    }

    /// The destination's status over all its lanes (`SchedulerStatus::merge`).
    pub async fn destination_status(
        &self,
        destination: &DestinationRow,
    ) -> Result<SchedulerStatus, SchedulerError> {
        self.status_over_lanes(destination, || SchedulerRequest::Status)
            .await
    }

    /// `request` to every lane, each answering its status; their merge.
    async fn status_over_lanes(
        &self,
        destination: &DestinationRow,
        request: impl Fn() -> SchedulerRequest,
    ) -> Result<SchedulerStatus, SchedulerError> {
        let span = lanes::span(&destination.settings);
        merged(self.each_lane(&destination.id, span, request).await)
    }

    /// A test send goes through lane 0 (it is outside the queue).
    pub async fn test(
        &self,
        destination: &DestinationRow,
        delivery: QueuedDelivery,
    ) -> Result<ProbeReport, SchedulerError> {
        self.call(
            &destination.id,
            0,
            SchedulerRequest::Test(Test {
                destination: destination.clone(),
                delivery,
            }),
        )
        .await
    }

    /// Closes the circuit of every lane; the status over all of them.
    pub async fn reset_circuit(
        &self,
        destination: &DestinationRow,
    ) -> Result<SchedulerStatus, SchedulerError> {
        self.status_over_lanes(destination, || SchedulerRequest::ResetCircuit)
            .await
    }

    /// Tells lanes `0..span` other than `from` what lane `from` learnt: that the circuit
    /// changed (its run opened it, or closed it after a probe), or that the destination was
    /// disabled. Best effort: the failures, by lane, for the log (a lane not reached opens on
    /// its own failures, closes on its own probe, or hears of the change with the next one).
    pub async fn tell_other_lanes(
        &self,
        destination: &DestinationId,
        span: u32,
        from: u32,
        request: impl Fn() -> SchedulerRequest,
    ) -> Vec<(u32, SchedulerError)> {
        let others: Vec<u32> = (0..span).filter(|l| *l != from).collect();
        let calls = others
            .iter()
            .map(|lane| self.call::<serde_json::Value>(destination, *lane, request()))
            .collect();
        let answers = crate::runtime::bounded(calls).await;
        others
            .into_iter()
            .zip(answers)
            .filter_map(|(lane, a)| a.err().map(|e| (lane, e)))
            .collect()
    }

    /// Hands runs of a lane other than 0 to lane 0, which keeps the destination's alerting.
    pub async fn observe(
        &self,
        destination: &DestinationId,
        runs: Vec<crate::core::alerts::RunSeen>,
    ) -> Result<(), SchedulerError> {
        self.call::<serde_json::Value>(destination, 0, SchedulerRequest::Observe(Observe { runs }))
            .await
            .map(|_| ())
    }

    /// Forwards a WebSocket client's connection to the destination's scheduler; the answer is
    /// the 101 that hands the client its socket.
    pub async fn connect(
        &self,
        destination: &DestinationId,
        principal: &str,
    ) -> Result<worker::Response, SchedulerError> {
        let stub = self.stub(destination, 0)?;
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

    /// Purges lanes `0..span`: the destination's lanes, `core::lanes::span` of its settings.
    pub async fn purge(
        &self,
        destination: &DestinationId,
        span: u32,
    ) -> Result<(), SchedulerError> {
        let calls = (0..span.max(1))
            .map(|lane| self.purge_lane(destination, lane))
            .collect();
        crate::runtime::bounded(calls).await.into_iter().collect()
    }

    /// Purges one lane; one already purged is fine.
    pub async fn purge_lane(
        &self,
        destination: &DestinationId,
        lane: u32,
    ) -> Result<(), SchedulerError> {
        match self
            .call::<serde_json::Value>(destination, lane, SchedulerRequest::Purge)
            .await
        {
            Ok(_) | Err(SchedulerError::Gone) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Deliveries grouped by lane, in lane order, each lane's in the order given. The lane comes
/// from the destination's type (an ordering key) through its config as shown: the keys are
/// never credentials.
fn by_lane(
    destination: &DestinationRow,
    deliveries: Vec<QueuedDelivery>,
) -> BTreeMap<u32, Vec<QueuedDelivery>> {
    let count = destination.settings.lanes;
    let mut lanes: BTreeMap<u32, Vec<QueuedDelivery>> = BTreeMap::new();
    if count <= 1 {
        lanes.insert(0, deliveries);
        return lanes;
    }
    let target = Target::parse(destination.kind.as_str(), destination.config.clone()).ok();
    for d in deliveries {
        let lane = match &target {
            Some(t) => t.lane_for(&d, count),
            None => lanes::lane_for(d.delivery_id.as_str(), count),
        };
        lanes.entry(lane).or_default().push(d);
    }
    lanes
}

/// One status from every lane's: the first failure, else their merge.
fn merged(
    answers: Vec<Result<SchedulerStatus, SchedulerError>>,
) -> Result<SchedulerStatus, SchedulerError> {
    let mut total: Option<SchedulerStatus> = None;
    for answer in answers {
        let s = answer?;
        total = Some(match total {
            Some(t) => t.merge(s),
            None => s,
        });
    }
    total.ok_or_else(|| SchedulerError::Unavailable("no lane answered".into()))
}
