//! Per-destination pacing: a token bucket refilled at `per_second`, holding at most one
//! second's worth (so a burst after a quiet spell is at most `per_second` deliveries). And
//! fixed-window limits on what a tenant may make Sluice do on its behalf (test sends, alerts),
//! counted in D1 (`store::rate_limits`) since no single object sees every hit.

use crate::core::time::Millis;
use serde::{Deserialize, Serialize};

/// Slowest and fastest pace a destination may ask for.
pub const MIN_PER_SECOND: f64 = 0.01;
pub const MAX_PER_SECOND: f64 = 10_000.0;

/// A destination's pacing: a token bucket refilled at `per_second`, holding at most one
/// second's worth (at least one delivery).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct RateLimit {
    /// Deliveries per second at most; 0.01 (one every 100 s) to 10000.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = MIN_PER_SECOND, max = MAX_PER_SECOND)))]
    pub per_second: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Bucket {
    pub tokens: f64,
    pub updated_at: Millis,
}

impl Bucket {
    fn capacity(rate: f64) -> f64 {
        rate.max(1.0)
    }

    /// The bucket at `now`: refilled for the time passed; a new bucket starts full.
    fn refilled(&self, rate: f64, now: Millis) -> Bucket {
        if self.updated_at == 0 {
            return Bucket {
                tokens: Self::capacity(rate),
                updated_at: now,
            };
        }
        let elapsed = (now - self.updated_at).max(0) as f64 / 1000.0;
        Bucket {
            tokens: (self.tokens + elapsed * rate).min(Self::capacity(rate)),
            updated_at: now,
        }
    }

    /// How many of `wanted` deliveries may go now, and the bucket after taking them; or,
    /// when none may, the time the next one may.
    pub fn take(&self, rate: f64, now: Millis, wanted: usize) -> Result<(Bucket, usize), Millis> {
        let mut b = self.refilled(rate, now);
        let available = b.tokens.floor() as usize;
        if available == 0 {
            let wait_ms = ((1.0 - b.tokens) / rate * 1000.0).ceil() as i64;
            return Err(now + wait_ms.max(1));
        }
        let n = available.min(wanted);
        b.tokens -= n as f64;
        Ok((b, n))
    }
}

/// At most `max` hits per `window_ms`, in fixed windows aligned on multiples of `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub max: u32,
    pub window_ms: Millis,
}

/// `POST …/test` of one destination: each sends a real request (an email through the
/// operator's binding, a page to a PagerDuty service), so a person clicking "test" a few
/// times is fine and a script is not.
pub const TEST_SENDS: Window = Window {
    max: 10,
    window_ms: 60_000,
};

impl Window {
    /// The start of the window that holds `now` (the counter's key).
    pub fn start(&self, now: Millis) -> Millis {
        now - now.rem_euclid(self.window_ms.max(1))
    }

    /// Whether the hit that made the window's count `count` (itself included) is allowed.
    pub fn allows(&self, count: u32) -> bool {
        count <= self.max
    }

    /// Seconds until the window that holds `now` ends (for `Retry-After` and messages).
    pub fn seconds_left(&self, now: Millis) -> Millis {
        let end = self.start(now) + self.window_ms;
        ((end - now) + 999) / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_bucket_allows_one_seconds_burst() {
        let (b, n) = Bucket::default().take(5.0, 1_000, 100).unwrap();
        assert_eq!(n, 5);
        assert_eq!(b.tokens, 0.0);
        assert_eq!(b.take(5.0, 1_000, 1), Err(1_200), "the next token in 1/5 s");
    }

    #[test]
    fn refills_at_the_rate_and_caps_at_capacity() {
        let (b, _) = Bucket::default().take(10.0, 1, 10).unwrap();
        let (b, n) = b.take(10.0, 501, 100).unwrap();
        assert_eq!(n, 5, "half a second at 10/s");
        let (_, n) = b.take(10.0, 60_501, 100).unwrap();
        assert_eq!(n, 10, "never more than one second's worth");
    }

    #[test]
    fn slow_rates_wait_long_and_still_allow_one() {
        let (b, n) = Bucket::default().take(0.5, 1, 3).unwrap();
        assert_eq!(n, 1, "capacity is at least one");
        assert_eq!(b.take(0.5, 1, 1), Err(2_001));
    }

    #[test]
    fn a_steady_stream_is_paced() {
        // 100 deliveries at 20/s: the last one goes out no sooner than ~4 s after the first.
        let mut b = Bucket::default();
        let mut now = 1;
        let mut sent = 0;
        let mut times = vec![];
        while sent < 100 {
            match b.take(20.0, now, 100 - sent) {
                Ok((next, n)) => {
                    b = next;
                    sent += n;
                    times.push(now);
                }
                Err(at) => now = at,
            }
        }
        let span = times.last().unwrap() - times.first().unwrap();
        assert!((3_950..=4_100).contains(&span), "span {span} ms");
    }

    #[test]
    fn fixed_windows() {
        let w = Window {
            max: 3,
            window_ms: 60_000,
        };
        assert_eq!(w.start(125_000), 120_000);
        assert_eq!(w.start(120_000), 120_000);
        assert!(w.allows(1) && w.allows(3) && !w.allows(4));
        assert_eq!(w.seconds_left(125_000), 55);
        assert_eq!(w.seconds_left(179_999), 1);
    }
}
