//! This scheduler as one lane of a destination spread over several (`core::lanes`): which lane
//! it is, and the one circuit across lanes. Each lane runs the breaker on its own attempts;
//! when a run opens it (or closes it after a probe), the other lanes are told and take it on,
//! so that a destination failing in one lane stops sending in all of them. A lane that
//! disables the destination (`disable_after_failures`) tells the others the same way.

use super::client::SchedulerClient;
use super::*;
use crate::core::breaker::Transition;
use crate::core::lanes;

/// Which lane of its destination this object is (0 unless a message said otherwise).
const LANE_KEY: &str = "lane";

impl DeliveryScheduler {
    /// Remembers the lane a message names (for the alarm's runs, which carry no message).
    pub(super) fn know_lane(&self, lane: u32) {
        if self.lane() != lane {
            self.queue.put(LANE_KEY, &lane);
        }
    }

    pub(super) fn lane(&self) -> u32 {
        self.queue.get(LANE_KEY).unwrap_or(0)
    }

    /// After a run: an open circuit, or one closed by a probe (not a close that only an answer
    /// already on its way brought, after another lane's open was taken on), goes to the other
    /// lanes.
    pub(super) async fn share_circuit(
        &self,
        loaded: &Loaded,
        before: CircuitState,
        transitions: &[Transition],
    ) {
        if transitions.is_empty() {
            return;
        }
        let breaker = self.queue.breaker();
        let opened = transitions
            .iter()
            .any(|t| matches!(t, Transition::Opened | Transition::Reopened));
        let probed_closed = before != CircuitState::Closed
            && transitions.contains(&Transition::Closed)
            && breaker.state == CircuitState::Closed;
        let shared = match breaker.state {
            CircuitState::Open if opened => breaker,
            CircuitState::Closed if probed_closed => breaker,
            _ => return,
        };
        self.tell_other_lanes(&loaded.row, || {
            SchedulerRequest::Circuit(Circuit {
                breaker: shared.clone(),
            })
        })
        .await;
    }

    /// The lanes the stored destination spans (before a new snapshot replaces it).
    pub(super) fn known_span(&self) -> u32 {
        self.queue
            .get::<DestinationRow>(DESTINATION_KEY)
            .map_or(1, |r| lanes::span(&r.settings))
    }

    /// Lane 0, configured with more lanes than it spanned while its circuit is open, passes the
    /// circuit on: new lanes would otherwise start closed and send into the outage.
    pub(super) async fn circuit_to_new_lanes(&self, known_span: u32) {
        let Some(row) = self.queue.get::<DestinationRow>(DESTINATION_KEY) else {
            return;
        };
        let breaker = self.queue.breaker();
        if self.lane() != 0
            || lanes::span(&row.settings) <= known_span
            || breaker.state != CircuitState::Open
        {
            return;
        }
        self.tell_other_lanes(&row, || {
            SchedulerRequest::Circuit(Circuit {
                breaker: breaker.clone(),
            })
        })
        .await;
    }

    /// After this lane disabled the destination (`disable_after_failures`): the other lanes
    /// stop too, with the same snapshot.
    pub(super) async fn share_disabled(&self) {
        let Some(row) = self.queue.get::<DestinationRow>(DESTINATION_KEY) else {
            return;
        };
        self.tell_other_lanes(&row, || {
            SchedulerRequest::Configure(Configure {
                destination: row.clone(),
            })
        })
        .await;
    }

    async fn tell_other_lanes(&self, row: &DestinationRow, request: impl Fn() -> SchedulerRequest) {
        let span = lanes::span(&row.settings);
        if span <= 1 {
            return;
        }
        let failed = SchedulerClient::new(&self.env)
            .tell_other_lanes(&row.id, span, self.lane(), request)
            .await;
        for (lane, e) in failed {
            console_error!(
                "{}",
                json!({ "event": "lane_message_failed", "destination_id": row.id, "lane": lane, "error": e.to_string() })
            );
        }
    }

    /// Another lane's circuit (`core::lanes::adopt`).
    pub(super) fn adopt_circuit(&self, shared: &crate::core::breaker::Breaker) {
        let Some(breaker) = lanes::adopt(&self.queue.breaker(), shared) else {
            return;
        };
        self.queue.save_breaker(&breaker);
        self.log(&Change::CircuitChanged {
            transition: "shared",
            state: breaker.state,
            consecutive_failures: breaker.consecutive_failures,
        });
    }
}
