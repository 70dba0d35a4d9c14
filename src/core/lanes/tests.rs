use super::*;
use crate::core::breaker::BreakerSettings;
use crate::core::retry::RetryPolicy;

fn settings(lanes: u32, max_in_flight: u32, rate: Option<f64>) -> DeliverySettings {
    DeliverySettings {
        timeout_ms: 1_000,
        retry: RetryPolicy::default(),
        circuit_breaker: BreakerSettings::default(),
        disable_after_failures: 0,
        rate_limit: rate.map(|per_second| RateLimit { per_second }),
        max_in_flight,
        alerts: Default::default(),
        lanes,
        lanes_used: 0,
    }
}

#[test]
fn lane_zero_is_the_destination_itself() {
    assert_eq!(object_name("des_1", 0), "des_1");
    assert_eq!(object_name("des_1", 3), "des_1/3");
}

#[test]
fn one_lane_takes_everything() {
    for key in ["", "a", "dlv_0123", "order-42"] {
        assert_eq!(lane_for(key, 1), 0);
        assert_eq!(lane_for(key, 0), 0);
    }
}

#[test]
fn a_key_always_lands_in_the_same_lane() {
    // FNV-1a is fixed: these values hold in every build (a change would reshuffle live keys).
    assert_eq!(lane_for("order-42", 4), lane_for("order-42", 4));
    assert_eq!(lane_for("a", 16), (0xaf63_dc4c_8601_ec8c_u64 % 16) as u32);
    assert_eq!(lane_for("", 7), (0xcbf2_9ce4_8422_2325_u64 % 7) as u32);
}

#[test]
fn keys_spread_over_every_lane() {
    for lanes in [2, 4, 8, 16] {
        let mut counts = vec![0u32; lanes as usize];
        for i in 0..1_600 {
            let lane = lane_for(&format!("dlv_{i:026}"), lanes);
            assert!(lane < lanes);
            counts[lane as usize] += 1;
        }
        let even = 1_600 / lanes;
        for c in counts {
            // Within half of an even share: no lane starves, none takes double.
            assert!(
                c > even / 2 && c < even * 3 / 2,
                "{lanes} lanes: {c} vs {even}"
            );
        }
    }
}

#[test]
fn lanes_beyond_the_most_are_the_most() {
    assert!(lane_for("x", 1_000) < MAX_LANES);
}

#[test]
fn each_lane_gets_its_share_of_in_flight_and_rate() {
    let s = lane_settings(&settings(4, 24, Some(10.0)));
    assert_eq!(s.max_in_flight, 6);
    assert_eq!(s.rate_limit, Some(RateLimit { per_second: 2.5 }));
    // Rounded down, never below one request at a time.
    assert_eq!(lane_settings(&settings(4, 10, None)).max_in_flight, 2);
    assert_eq!(lane_settings(&settings(8, 3, None)).max_in_flight, 1);
    // A fraction of a delivery per second stays a fraction.
    let slow = lane_settings(&settings(3, 3, Some(1.0)));
    assert!((slow.rate_limit.unwrap().per_second - 1.0 / 3.0).abs() < 1e-12);
    // One lane: the settings as they are.
    let one = settings(1, 50, Some(7.0));
    assert_eq!(lane_settings(&one), one);
}

#[test]
fn the_span_keeps_lanes_that_may_hold_deliveries() {
    let mut s = settings(2, 8, None);
    assert_eq!(span(&s), 2);
    // Lowered from 8 to 2: the six lanes above still count until the destination is gone.
    carry_span(&mut s, &settings(8, 8, None));
    assert_eq!((s.lanes, span(&s)), (2, 8));
    // Raised again, then lowered: the most is kept.
    let mut raised = settings(4, 8, None);
    carry_span(&mut raised, &s);
    assert_eq!(span(&raised), 8);
    let mut grown = settings(12, 12, None);
    carry_span(&mut grown, &raised);
    assert_eq!(span(&grown), 12);
}

fn open(retry_at: i64, failures: u32) -> Breaker {
    Breaker {
        state: CircuitState::Open,
        consecutive_failures: failures,
        opened_at: Some(retry_at - 100),
        retry_at: Some(retry_at),
    }
}

#[test]
fn the_destination_circuit_is_its_most_severe_lane() {
    let closed = Breaker::default();
    let half = Breaker {
        state: CircuitState::HalfOpen,
        ..open(500, 3)
    };
    assert_eq!(
        merge_circuits(closed.clone(), open(1_000, 5)).state,
        CircuitState::Open
    );
    assert_eq!(merge_circuits(half.clone(), closed.clone()), half);
    let merged = merge_circuits(open(1_000, 5), open(2_000, 2));
    assert_eq!(
        (merged.retry_at, merged.consecutive_failures),
        (Some(2_000), 5)
    );
    let failing = Breaker {
        consecutive_failures: 2,
        ..Breaker::default()
    };
    assert_eq!(merge_circuits(closed, failing).consecutive_failures, 2);
}

#[test]
fn a_lane_takes_on_another_lanes_open_circuit_and_its_close() {
    let closed = Breaker {
        consecutive_failures: 1,
        ..Breaker::default()
    };
    let taken = adopt(&closed, &open(1_000, 5)).unwrap();
    assert_eq!(taken.state, CircuitState::Open);
    assert_eq!(taken.retry_at, Some(1_000));
    // Its own count stays its own.
    assert_eq!(taken.consecutive_failures, 1);
    // Already open for longer: kept.
    assert_eq!(adopt(&open(2_000, 5), &open(1_000, 5)), None);
    // Open for less long: the later retry wins.
    assert_eq!(
        adopt(&open(500, 5), &open(1_000, 5)).unwrap().retry_at,
        Some(1_000)
    );
    // A close closes; a closed lane stays as it is.
    assert_eq!(
        adopt(&open(500, 5), &Breaker::default()),
        Some(Breaker::default())
    );
    assert_eq!(adopt(&closed, &Breaker::default()), None);
    // Another lane's probe is nothing to take on.
    let half = Breaker {
        state: CircuitState::HalfOpen,
        ..open(500, 5)
    };
    assert_eq!(adopt(&closed, &half), None);
}
