//! Retry policy: how many retries, and how long to wait before each one.

use serde::{Deserialize, Serialize};

/// 30 s, 5 min, 30 min, 2 h, 24 h: the default schedule (the same shape Svix and Stripe use,
/// spreading five retries over about a day).
const DEFAULT_INTERVALS_MS: [u64; 5] = [30_000, 300_000, 1_800_000, 7_200_000, 86_400_000];
const DEFAULT_MAX_RETRIES: u32 = 5;
const DEFAULT_JITTER: f64 = 0.1;
/// No single wait is longer than a week: a delivery must not sit invisible for longer.
pub const MAX_DELAY_MS: u64 = 7 * 86_400_000;
/// Upper bound of `max_retries`: with the longest delays that is still under a year.
pub const MAX_RETRIES_LIMIT: u32 = 50;

/// How the wait grows from one retry to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub enum Backoff {
    /// Retry n waits `intervals_ms[n-1]`; past the end of the list, the last interval repeats.
    Schedule {
        /// 1 to 20 waits in milliseconds, each 10 to 604800000 (7 days).
        #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1, max = 20), inner(range(min = 10, max = MAX_DELAY_MS))))]
        intervals_ms: Vec<u64>,
    },
    /// Every retry waits the same.
    Fixed {
        /// Milliseconds, 10 to 604800000.
        #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 10, max = MAX_DELAY_MS)))]
        interval_ms: u64,
    },
    /// Retry n waits `n × interval_ms`.
    Linear {
        /// Milliseconds, 10 to 604800000.
        #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 10, max = MAX_DELAY_MS)))]
        interval_ms: u64,
    },
    /// Retry n waits `initial_ms × factor^(n-1)`, capped at `max_ms`.
    Exponential {
        /// The first wait, milliseconds, 10 to 604800000.
        #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 10, max = MAX_DELAY_MS)))]
        initial_ms: u64,
        #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 1, max = 10)))]
        factor: f64,
        /// The longest wait, milliseconds, 10 to 604800000 and at least `initial_ms`.
        #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 10, max = MAX_DELAY_MS)))]
        max_ms: u64,
    },
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::Schedule {
            intervals_ms: DEFAULT_INTERVALS_MS.to_vec(),
        }
    }
}

/// A destination's retry policy, as given in its `retry` field. Retried: network errors,
/// timeouts, 408, 429 and 5xx (`Retry-After` is honoured); any other 4xx fails the delivery at
/// once. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 means one attempt only.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(max = MAX_RETRIES_LIMIT)))]
    pub max_retries: u32,
    /// How the wait grows from one retry to the next.
    pub backoff: Backoff,
    /// Each wait is spread uniformly over `delay × (1 ± jitter)`, so that many deliveries that
    /// failed together do not come back together.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(range(min = 0, max = 1)))]
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: DEFAULT_MAX_RETRIES,
            backoff: Backoff::default(),
            jitter: DEFAULT_JITTER,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based), before jitter.
    fn base_delay_ms(&self, retry: u32) -> u64 {
        let n = retry.max(1);
        let raw = match &self.backoff {
            Backoff::Schedule { intervals_ms } => {
                let i = (n as usize - 1).min(intervals_ms.len().saturating_sub(1));
                intervals_ms.get(i).copied().unwrap_or(0)
            }
            Backoff::Fixed { interval_ms } => *interval_ms,
            Backoff::Linear { interval_ms } => interval_ms.saturating_mul(n as u64),
            Backoff::Exponential {
                initial_ms,
                factor,
                max_ms,
            } => {
                let d = (*initial_ms as f64) * factor.powi(n as i32 - 1);
                if d.is_finite() {
                    (d as u64).min(*max_ms)
                } else {
                    *max_ms
                }
            }
        };
        raw.min(MAX_DELAY_MS)
    }

    /// The wait before retry number `retry`, with jitter from `random` (uniform in [0, 1)).
    /// `None` when the policy allows no such retry.
    pub fn delay_ms(&self, retry: u32, random: f64) -> Option<u64> {
        if retry == 0 || retry > self.max_retries {
            return None;
        }
        Some(apply_jitter(self.base_delay_ms(retry), self.jitter, random))
    }
}

/// Spreads `delay` uniformly over `[delay × (1 - jitter), delay × (1 + jitter)]`.
fn apply_jitter(delay_ms: u64, jitter: f64, random: f64) -> u64 {
    let jitter = jitter.clamp(0.0, 1.0);
    let r = random.clamp(0.0, 1.0);
    let factor = 1.0 + jitter * (2.0 * r - 1.0);
    ((delay_ms as f64) * factor).round().max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_the_documented_one() {
        let p = RetryPolicy::default();
        let delays: Vec<u64> = (1..=5).map(|n| p.base_delay_ms(n)).collect();
        assert_eq!(delays, DEFAULT_INTERVALS_MS.to_vec());
        assert_eq!(p.delay_ms(6, 0.5), None, "five retries, then give up");
        assert_eq!(p.delay_ms(0, 0.5), None);
    }

    #[test]
    fn schedule_repeats_its_last_interval() {
        let p = RetryPolicy {
            max_retries: 4,
            backoff: Backoff::Schedule {
                intervals_ms: vec![100, 200],
            },
            jitter: 0.0,
        };
        let delays: Vec<_> = (1..=4).map(|n| p.delay_ms(n, 0.9).unwrap()).collect();
        assert_eq!(delays, vec![100, 200, 200, 200]);
    }

    #[test]
    fn fixed_linear_and_exponential_grow_as_named() {
        let policy = |backoff| RetryPolicy {
            max_retries: 10,
            backoff,
            jitter: 0.0,
        };
        let fixed = policy(Backoff::Fixed { interval_ms: 50 });
        let linear = policy(Backoff::Linear { interval_ms: 50 });
        let exp = policy(Backoff::Exponential {
            initial_ms: 100,
            factor: 2.0,
            max_ms: 1_000,
        });
        let run = |p: &RetryPolicy| (1..=5).map(|n| p.base_delay_ms(n)).collect::<Vec<_>>();
        assert_eq!(run(&fixed), vec![50, 50, 50, 50, 50]);
        assert_eq!(run(&linear), vec![50, 100, 150, 200, 250]);
        assert_eq!(run(&exp), vec![100, 200, 400, 800, 1_000]);
    }

    #[test]
    fn exponential_never_overflows() {
        let p = RetryPolicy {
            max_retries: 50,
            backoff: Backoff::Exponential {
                initial_ms: u64::MAX / 2,
                factor: 1e300,
                max_ms: 5_000,
            },
            jitter: 0.0,
        };
        assert_eq!(p.base_delay_ms(50), 5_000);
    }

    #[test]
    fn jitter_stays_within_its_bounds() {
        for i in 0..=100 {
            let r = i as f64 / 100.0;
            let d = apply_jitter(10_000, 0.2, r);
            assert!((8_000..=12_000).contains(&d), "{d} out of bounds for r={r}");
        }
        assert_eq!(apply_jitter(10_000, 0.2, 0.0), 8_000);
        assert_eq!(apply_jitter(10_000, 0.2, 1.0), 12_000);
        assert_eq!(apply_jitter(10_000, 0.0, 0.7), 10_000);
        // Out-of-range inputs are clamped, not trusted.
        assert_eq!(apply_jitter(10_000, 5.0, 0.0), 0);
        assert_eq!(apply_jitter(10_000, 0.5, -3.0), 5_000);
    }

    #[test]
    fn policy_parses_with_defaults_and_rejects_unknown_fields() {
        let p: RetryPolicy = serde_json::from_str(r#"{"max_retries": 2}"#).unwrap();
        assert_eq!(p.max_retries, 2);
        assert_eq!(p.backoff, Backoff::default());
        let p: RetryPolicy =
            serde_json::from_str(r#"{"backoff": {"type": "fixed", "interval_ms": 5}}"#).unwrap();
        assert_eq!(p.backoff, Backoff::Fixed { interval_ms: 5 });
        assert!(serde_json::from_str::<RetryPolicy>(r#"{"retries": 2}"#).is_err());
    }
}
