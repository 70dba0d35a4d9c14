//! A destination's recent history for charts (`GET …/stats?window=`): the window and its
//! intervals, and latency percentiles estimated from the histogram buckets. Pure.

use crate::core::metrics::{Histogram, LATENCY_BOUNDS_MS, LATENCY_BUCKETS};
use crate::core::time::Millis;

const MINUTE_MS: i64 = 60_000;
/// The longest window: per-minute aggregates are kept for `STATS_RETENTION_MS`, a day more.
pub const MAX_WINDOW_MS: i64 = 7 * 86_400_000;
const MIN_WINDOW_MS: i64 = 5 * MINUTE_MS;
/// Per-minute aggregate rows are purged after this (by the daily retention cron).
pub const STATS_RETENTION_MS: i64 = MAX_WINDOW_MS + 86_400_000;
/// A chart reads well with up to this many points; the interval is the finest that keeps
/// the window within it (15m → 1m, 1h → 5m, 6h → 15m, 24h → 1h, 7d → 6h).
const MAX_POINTS: i64 = 30;
/// Intervals to choose from; every one is a whole number of minutes (the stored grain).
const INTERVALS_MS: &[i64] = &[
    MINUTE_MS,
    5 * MINUTE_MS,
    15 * MINUTE_MS,
    30 * MINUTE_MS,
    60 * MINUTE_MS,
    3 * 60 * MINUTE_MS,
    6 * 60 * MINUTE_MS,
    12 * 60 * MINUTE_MS,
    24 * 60 * MINUTE_MS,
];

/// A parsed `window`: its length and the interval of its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub window_ms: i64,
    pub interval_ms: i64,
}

/// `<n>m`, `<n>h` or `<n>d`, from 5 minutes to 7 days, and a whole number of the interval
/// chosen for it. The error says what is accepted (the API names the field `window`).
pub fn parse_window(raw: &str) -> Result<Window, String> {
    const ACCEPTED: &str = "a duration like 15m, 1h, 6h, 24h or 7d (5m to 7d)";
    let Some((last, _)) = raw.char_indices().last() else {
        return Err(ACCEPTED.into());
    };
    let (digits, unit) = raw.split_at(last);
    let unit_ms = match unit {
        "m" => MINUTE_MS,
        "h" => 60 * MINUTE_MS,
        "d" => 24 * 60 * MINUTE_MS,
        _ => return Err(ACCEPTED.into()),
    };
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ACCEPTED.into());
    }
    let n: i64 = digits.parse().map_err(|_| ACCEPTED.to_string())?;
    let window_ms = n * unit_ms;
    if !(MIN_WINDOW_MS..=MAX_WINDOW_MS).contains(&window_ms) {
        return Err(ACCEPTED.into());
    }
    let interval_ms = INTERVALS_MS
        .iter()
        .copied()
        .find(|&i| window_ms % i == 0 && window_ms / i <= MAX_POINTS)
        .ok_or_else(|| {
            format!("{ACCEPTED}; {raw} does not divide into at most {MAX_POINTS} equal intervals")
        })?;
    Ok(Window {
        window_ms,
        interval_ms,
    })
}

impl Window {
    /// `[from, to)`: intervals aligned to multiples of the interval since the epoch (so a
    /// chart's points stay put between refreshes), the last one holding `now`.
    pub fn range(&self, now: Millis) -> (Millis, Millis) {
        let to = (now.div_euclid(self.interval_ms) + 1) * self.interval_ms;
        (to - self.window_ms, to)
    }

    pub fn points(&self) -> usize {
        (self.window_ms / self.interval_ms) as usize
    }

    /// The interval as text: `5m`, `1h`, `1d`.
    pub fn interval_label(&self) -> String {
        let m = self.interval_ms / MINUTE_MS;
        if m % (24 * 60) == 0 {
            format!("{}d", m / (24 * 60))
        } else if m % 60 == 0 {
            format!("{}h", m / 60)
        } else {
            format!("{m}m")
        }
    }
}

/// The start of the minute holding `t`: the grain the aggregates are stored at.
pub fn minute_of(t: Millis) -> Millis {
    t.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// The `q`-quantile (0 < q ≤ 1) of the latencies in a histogram, in milliseconds, by linear
/// interpolation inside the bucket that holds it (as Prometheus' `histogram_quantile`): an
/// estimate, exact to within its bucket. The overflow bucket answers its lower bound (the
/// last bound). `None` without observations.
pub fn percentile(h: &Histogram, q: f64) -> Option<f64> {
    let total: u64 = h.iter().sum();
    if total == 0 || !(q > 0.0 && q <= 1.0) {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for (i, &n) in h.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            if i == LATENCY_BUCKETS - 1 {
                return Some(LATENCY_BOUNDS_MS[i - 1] as f64);
            }
            let lower = if i == 0 {
                0.0
            } else {
                LATENCY_BOUNDS_MS[i - 1] as f64
            };
            let upper = LATENCY_BOUNDS_MS[i] as f64;
            let within = (rank - below as f64) / n as f64;
            let value = lower + (upper - lower) * within;
            return Some((value * 10.0).round() / 10.0);
        }
        below += n;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::metrics::bucket_of;

    fn w(raw: &str) -> (i64, i64) {
        let w = parse_window(raw).unwrap();
        (w.window_ms / MINUTE_MS, w.interval_ms / MINUTE_MS)
    }

    #[test]
    fn windows_get_the_finest_interval_with_at_most_30_points() {
        assert_eq!(w("15m"), (15, 1));
        assert_eq!(w("1h"), (60, 5));
        assert_eq!(w("6h"), (360, 15));
        assert_eq!(w("24h"), (1440, 60));
        assert_eq!(w("1d"), (1440, 60));
        assert_eq!(w("7d"), (10080, 360));
        assert_eq!(w("5m"), (5, 1));
        assert_eq!(w("90m"), (90, 5));
    }

    #[test]
    fn other_windows_are_refused() {
        for bad in [
            "",
            "h",
            "1",
            "1w",
            "0m",
            "4m",
            "8d",
            "169h",
            "-1h",
            "1.5h",
            "1 h",
            "1H",
            "24hours",
            "99999999m",
            "169m",
            "٣h",
            "1٣",
        ] {
            assert!(parse_window(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ranges_are_aligned_and_hold_now() {
        let win = parse_window("1h").unwrap();
        let now = 1_700_000_123_456;
        let (from, to) = win.range(now);
        assert_eq!(to % win.interval_ms, 0);
        assert!(from <= now && now < to && to - now <= win.interval_ms);
        assert_eq!(to - from, 3_600_000);
        assert_eq!(win.points(), 12);
        assert_eq!(win.interval_label(), "5m");
        assert_eq!(parse_window("7d").unwrap().interval_label(), "6h");
        assert_eq!(parse_window("24h").unwrap().interval_label(), "1h");
        assert_eq!(minute_of(1_700_000_123_456), 1_700_000_100_000);
    }

    fn hist(latencies: &[u64]) -> Histogram {
        let mut h = [0; LATENCY_BUCKETS];
        for &l in latencies {
            h[bucket_of(l)] += 1;
        }
        h
    }

    #[test]
    fn percentiles_interpolate_inside_the_bucket() {
        // 10 attempts in (50, 100] ms: the median is halfway through that bucket.
        let h = hist(&[60; 10]);
        assert_eq!(percentile(&h, 0.5), Some(75.0));
        assert_eq!(percentile(&h, 0.9), Some(95.0));
        assert_eq!(percentile(&h, 1.0), Some(100.0));
        // 90 fast (≤ 5 ms) and 10 slow (in (1000, 2500]): p50 is fast, p99 slow.
        let mut l = vec![2; 90];
        l.extend([2_000; 10]);
        let h = hist(&l);
        assert_eq!(percentile(&h, 0.5), Some(2.8));
        assert_eq!(percentile(&h, 0.9), Some(5.0));
        assert_eq!(percentile(&h, 0.99), Some(2_350.0));
        // Beyond the last bound: the last bound.
        assert_eq!(percentile(&hist(&[90_000]), 0.5), Some(60_000.0));
    }

    #[test]
    fn no_observations_no_percentile() {
        assert_eq!(percentile(&[0; LATENCY_BUCKETS], 0.5), None);
        assert_eq!(percentile(&hist(&[1]), 0.0), None);
        assert_eq!(percentile(&hist(&[1]), 1.5), None);
    }
}
