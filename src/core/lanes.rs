//! Lanes: one destination spread over K schedulers, because one Durable Object is one thread
//! with at most `MAX_CONNECTIONS` requests open, so it cannot pass about 6 ÷ receiver latency
//! deliveries a second however large `max_in_flight` is.
//!
//! - Which lane a delivery goes to: the hash of its ordering key when the destination type has
//!   one for it (an SQS FIFO message group, a Pub/Sub ordering key, a Kafka record key from
//!   `key_field`), so that deliveries with one key stay in one queue and in order; otherwise the
//!   hash of the delivery id, which spreads them evenly and sends a retry of a delivery to the
//!   lane that holds it.
//! - What each lane may do: the destination's `max_in_flight` and `rate_limit` divided among
//!   its K lanes, so that K lanes together never exceed what the destination allows.
//! - The breaker seen across lanes: the most severe of the lanes' circuits.

use crate::core::breaker::{Breaker, CircuitState};
use crate::core::destination::DeliverySettings;
use crate::core::rate_limit::RateLimit;

/// Most lanes a destination may have: 16 × 6 connections is 96 requests at once, more than
/// `MAX_IN_FLIGHT` lets a destination ask for anyway.
pub const MAX_LANES: u32 = 16;

/// The name of lane `lane`'s scheduler object: lane 0 is the destination id itself (the object
/// every destination had before lanes, so nothing existing moves); lane k is `{id}/{k}`.
pub fn object_name(destination_id: &str, lane: u32) -> String {
    if lane == 0 {
        destination_id.to_string()
    } else {
        format!("{destination_id}/{lane}")
    }
}

/// The lane of a delivery among `lanes`: FNV-1a (64 bits) of its key, modulo the lane count.
/// A fixed hash, not the standard library's, so that every build and every isolate puts a key
/// in the same lane.
pub fn lane_for(key: &str, lanes: u32) -> u32 {
    let lanes = lanes.clamp(1, MAX_LANES);
    if lanes == 1 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(lanes)) as u32
}

/// What one lane of a destination may do: `max_in_flight` divided by the lane count (rounded
/// down; at least 1, and validation keeps `max_in_flight ≥ lanes`), and `rate_limit.per_second`
/// divided by it exactly (a fraction stays a fraction: each lane's bucket refills at
/// `per_second ÷ K` and holds at least one token). Lane counts beyond the destination's
/// (a lane draining after `lanes` was lowered) get the same share.
pub fn lane_settings(settings: &DeliverySettings) -> DeliverySettings {
    let lanes = settings.lanes.clamp(1, MAX_LANES);
    if lanes == 1 {
        return settings.clone();
    }
    DeliverySettings {
        max_in_flight: (settings.max_in_flight / lanes).max(1),
        rate_limit: settings.rate_limit.as_ref().map(|r| RateLimit {
            per_second: r.per_second / f64::from(lanes),
        }),
        ..settings.clone()
    }
}

/// The lanes that may hold deliveries: the destination's lane count, or more when it had more
/// before (those drain what they hold and are still asked for status, resets and purges).
pub fn span(settings: &DeliverySettings) -> u32 {
    settings.lanes.max(settings.lanes_used).clamp(1, MAX_LANES)
}

/// A new lane count keeps the lanes the old settings may have filled in its span.
pub fn carry_span(new: &mut DeliverySettings, old: &DeliverySettings) {
    new.lanes_used = span(old).max(new.lanes);
}

fn severity(s: CircuitState) -> u8 {
    match s {
        CircuitState::Closed => 0,
        CircuitState::HalfOpen => 1,
        CircuitState::Open => 2,
    }
}

/// The circuit of a destination over its lanes' circuits: the most severe one (an open lane
/// means the destination's circuit is open), the later `retry_at` among equals, and the most
/// consecutive failures any lane counts.
pub fn merge_circuits(a: Breaker, b: Breaker) -> Breaker {
    let failures = a.consecutive_failures.max(b.consecutive_failures);
    let worse = match severity(a.state).cmp(&severity(b.state)) {
        std::cmp::Ordering::Greater => a,
        std::cmp::Ordering::Less => b,
        std::cmp::Ordering::Equal if b.retry_at > a.retry_at => b,
        std::cmp::Ordering::Equal => a,
    };
    Breaker {
        consecutive_failures: failures,
        ..worse
    }
}

/// A lane's breaker after another lane says the destination's circuit is `shared`: an open
/// circuit is taken on (until the later of the two `retry_at`s); a closed one closes this lane
/// too. `None`: nothing changes.
pub fn adopt(local: &Breaker, shared: &Breaker) -> Option<Breaker> {
    match shared.state {
        CircuitState::Open => {
            let keeps = local.state == CircuitState::Open && local.retry_at >= shared.retry_at;
            (!keeps).then_some(Breaker {
                state: CircuitState::Open,
                consecutive_failures: local.consecutive_failures,
                opened_at: shared.opened_at,
                retry_at: shared.retry_at,
            })
        }
        CircuitState::Closed => (local.state != CircuitState::Closed).then(Breaker::default),
        // A half-open circuit is one lane's probe in progress: nothing for the others.
        CircuitState::HalfOpen => None,
    }
}

#[cfg(test)]
mod tests;
