//! What a scheduler adds to `/metrics` and the stats between two flushes to D1: its attempts'
//! counts and latencies in total and per minute. Counting in the Durable Object and writing
//! the sums at most once per flush interval keeps D1's write rate independent of the event
//! rate.

use crate::core::engine::{AttemptOutcome, AttemptRecord};
use crate::core::metrics::{bucket_of, Histogram};
use crate::core::stats::minute_of;
use crate::core::time::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Sums over some attempts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub delivered: u64,
    pub failed: u64,
    pub retried: u64,
    /// Only attempts that sent a request have a latency.
    pub latency_sum_ms: u64,
    pub latency: Histogram,
}

impl Counts {
    fn add(&mut self, r: &AttemptRecord) {
        match r.outcome {
            AttemptOutcome::Delivered => self.delivered += 1,
            AttemptOutcome::Failed => self.failed += 1,
            AttemptOutcome::Retry => self.retried += 1,
        }
        if r.request_headers.is_some() {
            self.latency_sum_ms += r.duration_ms;
            self.latency[bucket_of(r.duration_ms)] += 1;
        }
    }
}

/// A destination's attempts since the last flush.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub total: Counts,
    /// By the start of the minute the attempt began in.
    pub per_minute: BTreeMap<Millis, Counts>,
}

impl Tally {
    pub fn add(&mut self, records: &[AttemptRecord]) {
        for r in records {
            self.total.add(r);
            self.per_minute
                .entry(minute_of(r.started_at))
                .or_default()
                .add(r);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.per_minute.is_empty()
    }
}

/// When metrics may be written next: `flush_ms` after the last write (at once the first
/// time, and whenever the interval is 0).
pub fn flush_at(last_flush: Option<Millis>, flush_ms: Millis) -> Millis {
    last_flush.map_or(Millis::MIN, |t| t.saturating_add(flush_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::{AttemptId, DeliveryId, EventId, TenantId};

    fn record(outcome: AttemptOutcome, at: Millis, ms: u64, sent: bool) -> AttemptRecord {
        AttemptRecord {
            id: AttemptId::generate(at as u64, 1),
            delivery_id: DeliveryId::generate(at as u64, 2),
            tenant_id: TenantId::parse("acme").unwrap(),
            event_id: EventId::parse("e").unwrap(),
            attempt: 1,
            started_at: at,
            duration_ms: ms,
            status_code: None,
            outcome,
            error: None,
            response_body: None,
            next_attempt_at: None,
            requested_by: None,
            request_headers: sent.then(Vec::new),
            permanent: false,
            shard: Default::default(),
        }
    }

    #[test]
    fn attempts_add_up_in_total_and_per_minute() {
        let mut t = Tally::default();
        assert!(t.is_empty());
        t.add(&[
            record(AttemptOutcome::Delivered, 60_000, 40, true),
            record(AttemptOutcome::Retry, 61_000, 300, true),
            record(AttemptOutcome::Failed, 125_000, 0, false),
        ]);
        assert_eq!(
            (t.total.delivered, t.total.retried, t.total.failed),
            (1, 1, 1)
        );
        assert_eq!(
            t.total.latency_sum_ms, 340,
            "an attempt that sent nothing has no latency"
        );
        assert_eq!(t.total.latency.iter().sum::<u64>(), 2);
        assert_eq!(
            t.per_minute.keys().copied().collect::<Vec<_>>(),
            vec![60_000, 120_000]
        );
        assert_eq!(
            t.per_minute[&60_000].delivered + t.per_minute[&60_000].retried,
            2
        );
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Tally>(&json).unwrap(), t);
    }

    #[test]
    fn flushes_are_spaced_by_the_interval() {
        assert_eq!(flush_at(None, 60_000), Millis::MIN);
        assert_eq!(flush_at(Some(1_000), 60_000), 61_000);
        assert_eq!(flush_at(Some(1_000), 0), 1_000);
    }
}
