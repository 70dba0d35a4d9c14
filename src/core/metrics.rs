//! Monitoring arithmetic: the attempt-latency histogram's fixed buckets, and the Prometheus
//! text exposition (format 0.0.4) of the per-destination counters and gauges. Pure: the
//! store reads the numbers, this renders them.

use crate::core::breaker::CircuitState;
use crate::core::time::Millis;
use std::fmt::Write;

/// Upper bounds (inclusive, milliseconds) of the attempt-latency buckets, shared by
/// `/metrics` and the stats endpoint. A webhook answers in tens of milliseconds; the last
/// bound is the longest timeout a destination may set (`MAX_TIMEOUT_MS`).
pub const LATENCY_BOUNDS_MS: [u64; 13] = [
    5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
];

/// One count per bound plus the overflow bucket (slower than the last bound).
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// Per-bucket (not cumulative) counts, as stored in the `l0`…`l13` columns.
pub type Histogram = [u64; LATENCY_BUCKETS];

/// The bucket an attempt of `ms` falls in: the first whose bound is at least `ms`.
pub fn bucket_of(ms: u64) -> usize {
    LATENCY_BOUNDS_MS
        .iter()
        .position(|&b| ms <= b)
        .unwrap_or(LATENCY_BOUNDS_MS.len())
}

/// One destination's numbers, as `/metrics` shows them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DestinationMetrics {
    pub tenant_id: String,
    pub destination_id: String,
    pub kind: String,
    pub enabled: bool,
    pub delivered: u64,
    pub failed: u64,
    pub retried: u64,
    pub filtered: u64,
    pub skipped: u64,
    pub latency_sum_ms: u64,
    pub latency: Histogram,
    /// What its scheduler last reported (nothing yet: an empty queue, a closed circuit).
    pub queue_depth: u64,
    pub circuit: CircuitState,
    pub state_at: Option<Millis>,
}

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value as the exposition format wants it: backslash, double quote and line feed
/// escaped.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn labels(m: &DestinationMetrics) -> String {
    format!(
        "tenant_id=\"{}\",destination_id=\"{}\",type=\"{}\"",
        escape_label(&m.tenant_id),
        escape_label(&m.destination_id),
        escape_label(&m.kind)
    )
}

/// Seconds, as Prometheus wants durations: the shortest text that reads back exactly.
fn seconds(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&DestinationMetrics) -> u64,
}

const SIMPLE: &[Family] = &[
    Family {
        name: "sluice_deliveries_delivered_total",
        kind: "counter",
        help: "Delivery attempts that delivered the event.",
        value: |m| m.delivered,
    },
    Family {
        name: "sluice_deliveries_failed_total",
        kind: "counter",
        help: "Deliveries that failed for good (permanent error, retries exhausted, or a failed manual retry).",
        value: |m| m.failed,
    },
    Family {
        name: "sluice_deliveries_retried_total",
        kind: "counter",
        help: "Delivery attempts that failed transiently and were scheduled again.",
        value: |m| m.retried,
    },
    Family {
        name: "sluice_deliveries_filtered_total",
        kind: "counter",
        help: "Events not sent because the destination's payload filter did not match.",
        value: |m| m.filtered,
    },
    Family {
        name: "sluice_deliveries_skipped_total",
        kind: "counter",
        help: "Events not sent because the destination was disabled.",
        value: |m| m.skipped,
    },
    Family {
        name: "sluice_queue_depth",
        kind: "gauge",
        help: "Deliveries waiting in the destination's queue, as its scheduler last reported.",
        value: |m| m.queue_depth,
    },
    Family {
        name: "sluice_destination_enabled",
        kind: "gauge",
        help: "1 if the destination is enabled, 0 if disabled (by the API or automatically).",
        value: |m| u64::from(m.enabled),
    },
];

const CIRCUIT_STATES: [(CircuitState, &str); 3] = [
    (CircuitState::Closed, "closed"),
    (CircuitState::Open, "open"),
    (CircuitState::HalfOpen, "half_open"),
];

/// The whole `/metrics` body. Each family's lines are together (`# HELP`, `# TYPE`, then a
/// sample per destination), as the format requires.
pub fn render(all: &[DestinationMetrics]) -> String {
    let mut out = String::new();
    for f in SIMPLE {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for m in all {
            let _ = writeln!(out, "{}{{{}}} {}", f.name, labels(m), (f.value)(m));
        }
    }

    let name = "sluice_circuit_state";
    let _ = writeln!(
        out,
        "# HELP {name} The destination's circuit breaker: 1 for its current state, 0 for the others."
    );
    let _ = writeln!(out, "# TYPE {name} gauge");
    for m in all {
        for (state, label) in CIRCUIT_STATES {
            let on = u64::from(m.circuit == state);
            let _ = writeln!(out, "{name}{{{},state=\"{label}\"}} {on}", labels(m));
        }
    }

    let name = "sluice_scheduler_state_timestamp_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} When the scheduler last reported queue depth and circuit state (Unix seconds)."
    );
    let _ = writeln!(out, "# TYPE {name} gauge");
    for m in all.iter().filter(|m| m.state_at.is_some()) {
        let at = m.state_at.unwrap_or(0).max(0) as u64;
        let _ = writeln!(out, "{name}{{{}}} {}", labels(m), seconds(at));
    }

    let name = "sluice_attempt_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from sending a delivery request to its answer (or timeout)."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for m in all {
        let l = labels(m);
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BOUNDS_MS.iter().zip(m.latency) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{l},le=\"{}\"}} {cumulative}",
                seconds(*bound)
            );
        }
        let count: u64 = m.latency.iter().sum();
        let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{l}}} {}", seconds(m.latency_sum_ms));
        let _ = writeln!(out, "{name}_count{{{l}}} {count}");
    }
    out
}

#[cfg(test)]
mod tests;
