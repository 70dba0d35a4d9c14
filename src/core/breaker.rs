//! The circuit breaker as a state machine: `(state, event, now) -> (state, transition)`.
//!
//! Closed: deliveries flow. After `failure_threshold` consecutive transient failures it opens:
//! deliveries wait in the queue, unattempted, for `cooldown_ms`. Then it is half-open: exactly
//! one probe is sent; success closes the circuit and the queue flows, failure re-opens it.

use crate::core::time::Millis;
use serde::{Deserialize, Serialize};

const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
const DEFAULT_COOLDOWN_MS: u64 = 60_000;

/// A destination's breaker settings, as given in its `circuit_breaker` field: after
/// `failure_threshold` consecutive retryable failures the circuit opens, and deliveries wait in
/// the queue, unattempted, for `cooldown_ms`; then one probe is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
#[cfg_attr(
    not(target_arch = "wasm32"),
    schemars(rename = "CircuitBreakerSettings")
)]
pub struct BreakerSettings {
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 1, max = 1000)))]
    pub failure_threshold: u32,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(range(min = 100, max = 86_400_000))
    )]
    pub cooldown_ms: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failure_threshold: DEFAULT_FAILURE_THRESHOLD,
            cooldown_ms: DEFAULT_COOLDOWN_MS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    #[default]
    Closed,
    Open,
    HalfOpen,
}

/// The breaker's whole state; stored by the scheduler as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Breaker {
    pub state: CircuitState,
    pub consecutive_failures: u32,
    pub opened_at: Option<Millis>,
    /// When an open circuit lets its probe through.
    pub retry_at: Option<Millis>,
}

/// What the breaker allows right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send as usual.
    Send,
    /// Send exactly one delivery: its outcome decides the circuit.
    Probe,
    /// Send nothing before this time.
    WaitUntil(Millis),
}

/// A change of state worth logging (and, later, alerting on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened,
    Reopened,
    Closed,
}

/// The outcome of one attempt, as the breaker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The endpoint answered (even with a 4xx: it is up, the payload was the problem).
    Healthy,
    /// Network error, timeout, 408, 429 or 5xx.
    Unhealthy,
}

impl Breaker {
    /// Asks to send. An open circuit whose cooldown has passed turns half-open.
    pub fn admit(mut self, now: Millis) -> (Breaker, Admission) {
        let admission = match self.state {
            CircuitState::Closed => Admission::Send,
            CircuitState::HalfOpen => Admission::Probe,
            CircuitState::Open => match self.retry_at {
                Some(at) if now < at => Admission::WaitUntil(at),
                _ => {
                    self.state = CircuitState::HalfOpen;
                    Admission::Probe
                }
            },
        };
        (self, admission)
    }

    /// Records one attempt's signal.
    pub fn record(
        mut self,
        signal: Signal,
        settings: &BreakerSettings,
        now: Millis,
    ) -> (Breaker, Option<Transition>) {
        match signal {
            Signal::Healthy => {
                let was_closed = self.state == CircuitState::Closed;
                self = Breaker::default();
                (self, (!was_closed).then_some(Transition::Closed))
            }
            Signal::Unhealthy => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                let transition = match self.state {
                    CircuitState::HalfOpen | CircuitState::Open => Some(Transition::Reopened),
                    CircuitState::Closed
                        if self.consecutive_failures >= settings.failure_threshold.max(1) =>
                    {
                        Some(Transition::Opened)
                    }
                    CircuitState::Closed => None,
                };
                if transition.is_some() {
                    self.state = CircuitState::Open;
                    self.opened_at = Some(now);
                    self.retry_at = Some(now.saturating_add(settings.cooldown_ms as i64));
                }
                (self, transition)
            }
        }
    }

    /// An operator's reset: closed, counters cleared.
    pub fn reset(self) -> (Breaker, Option<Transition>) {
        let was_closed = self.state == CircuitState::Closed;
        (
            Breaker::default(),
            (!was_closed).then_some(Transition::Closed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            failure_threshold: 3,
            cooldown_ms: 1_000,
        }
    }

    fn fail_n(mut b: Breaker, n: u32, now: Millis) -> (Breaker, Vec<Transition>) {
        let mut seen = vec![];
        for _ in 0..n {
            let (next, t) = b.record(Signal::Unhealthy, &settings(), now);
            b = next;
            seen.extend(t);
        }
        (b, seen)
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let (b, seen) = fail_n(Breaker::default(), 2, 10);
        assert_eq!(b.state, CircuitState::Closed);
        assert!(seen.is_empty());
        let (b, seen) = fail_n(b, 1, 10);
        assert_eq!(seen, vec![Transition::Opened]);
        assert_eq!(b.state, CircuitState::Open);
        assert_eq!(b.retry_at, Some(1_010));
    }

    #[test]
    fn a_success_resets_the_count() {
        let (b, _) = fail_n(Breaker::default(), 2, 0);
        let (b, t) = b.record(Signal::Healthy, &settings(), 0);
        assert_eq!(t, None);
        let (b, seen) = fail_n(b, 2, 0);
        assert!(seen.is_empty());
        assert_eq!(b.state, CircuitState::Closed);
    }

    #[test]
    fn open_waits_then_lets_one_probe_through() {
        let (b, _) = fail_n(Breaker::default(), 3, 0);
        let (b, a) = b.admit(999);
        assert_eq!(a, Admission::WaitUntil(1_000));
        assert_eq!(b.state, CircuitState::Open);
        let (b, a) = b.admit(1_000);
        assert_eq!(a, Admission::Probe);
        assert_eq!(b.state, CircuitState::HalfOpen);
    }

    #[test]
    fn probe_success_closes_and_failure_reopens() {
        let (b, _) = fail_n(Breaker::default(), 3, 0);
        let (half, _) = b.admit(2_000);
        let (closed, t) = half.clone().record(Signal::Healthy, &settings(), 2_000);
        assert_eq!(t, Some(Transition::Closed));
        assert_eq!(closed, Breaker::default());
        assert_eq!(closed.admit(2_001).1, Admission::Send);

        let (reopened, t) = half.record(Signal::Unhealthy, &settings(), 2_000);
        assert_eq!(t, Some(Transition::Reopened));
        assert_eq!(reopened.state, CircuitState::Open);
        assert_eq!(reopened.retry_at, Some(3_000));
        assert_eq!(reopened.admit(2_500).1, Admission::WaitUntil(3_000));
    }

    #[test]
    fn reset_closes_an_open_circuit() {
        let (b, _) = fail_n(Breaker::default(), 3, 0);
        let (b, t) = b.reset();
        assert_eq!(t, Some(Transition::Closed));
        assert_eq!(b.admit(0).1, Admission::Send);
        assert_eq!(Breaker::default().reset().1, None);
    }
}
