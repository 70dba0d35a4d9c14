use super::*;

#[test]
fn latencies_fall_in_the_first_bucket_whose_bound_holds_them() {
    assert_eq!(bucket_of(0), 0);
    assert_eq!(bucket_of(5), 0);
    assert_eq!(bucket_of(6), 1);
    assert_eq!(bucket_of(100), 4);
    assert_eq!(bucket_of(101), 5);
    assert_eq!(bucket_of(60_000), 12);
    assert_eq!(bucket_of(60_001), 13);
    assert_eq!(bucket_of(u64::MAX), LATENCY_BUCKETS - 1);
}

#[test]
fn label_values_are_escaped() {
    assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
    assert_eq!(escape_label("line\nbreak"), "line\\nbreak");
    assert_eq!(escape_label("plain-ünïcode"), "plain-ünïcode");
}

#[test]
fn renders_the_exact_exposition_text() {
    let mut latency = [0; LATENCY_BUCKETS];
    latency[bucket_of(3)] += 1; // ≤ 5 ms
    latency[bucket_of(40)] += 2; // ≤ 50 ms
    latency[bucket_of(70_000)] += 1; // beyond the last bound
    let m = DestinationMetrics {
        tenant_id: "ac\"me".into(),
        destination_id: "des_1".into(),
        kind: "webhook".into(),
        enabled: true,
        delivered: 3,
        failed: 1,
        retried: 2,
        filtered: 4,
        skipped: 0,
        latency_sum_ms: 70_083,
        latency,
        queue_depth: 7,
        circuit: CircuitState::Open,
        state_at: Some(1_700_000_000_500),
    };
    let l = r#"tenant_id="ac\"me",destination_id="des_1",type="webhook""#;
    let expected = format!(
        "# HELP sluice_deliveries_delivered_total Delivery attempts that delivered the event.
# TYPE sluice_deliveries_delivered_total counter
sluice_deliveries_delivered_total{{{l}}} 3
# HELP sluice_deliveries_failed_total Deliveries that failed for good (permanent error, retries exhausted, or a failed manual retry).
# TYPE sluice_deliveries_failed_total counter
sluice_deliveries_failed_total{{{l}}} 1
# HELP sluice_deliveries_retried_total Delivery attempts that failed transiently and were scheduled again.
# TYPE sluice_deliveries_retried_total counter
sluice_deliveries_retried_total{{{l}}} 2
# HELP sluice_deliveries_filtered_total Events not sent because the destination's payload filter did not match.
# TYPE sluice_deliveries_filtered_total counter
sluice_deliveries_filtered_total{{{l}}} 4
# HELP sluice_deliveries_skipped_total Events not sent because the destination was disabled.
# TYPE sluice_deliveries_skipped_total counter
sluice_deliveries_skipped_total{{{l}}} 0
# HELP sluice_queue_depth Deliveries waiting in the destination's queue, as its scheduler last reported.
# TYPE sluice_queue_depth gauge
sluice_queue_depth{{{l}}} 7
# HELP sluice_destination_enabled 1 if the destination is enabled, 0 if disabled (by the API or automatically).
# TYPE sluice_destination_enabled gauge
sluice_destination_enabled{{{l}}} 1
# HELP sluice_circuit_state The destination's circuit breaker: 1 for its current state, 0 for the others.
# TYPE sluice_circuit_state gauge
sluice_circuit_state{{{l},state=\"closed\"}} 0
sluice_circuit_state{{{l},state=\"open\"}} 1
sluice_circuit_state{{{l},state=\"half_open\"}} 0
# HELP sluice_scheduler_state_timestamp_seconds When the scheduler last reported queue depth and circuit state (Unix seconds).
# TYPE sluice_scheduler_state_timestamp_seconds gauge
sluice_scheduler_state_timestamp_seconds{{{l}}} 1700000000.5
# HELP sluice_attempt_duration_seconds Time from sending a delivery request to its answer (or timeout).
# TYPE sluice_attempt_duration_seconds histogram
sluice_attempt_duration_seconds_bucket{{{l},le=\"0.005\"}} 1
sluice_attempt_duration_seconds_bucket{{{l},le=\"0.01\"}} 1
sluice_attempt_duration_seconds_bucket{{{l},le=\"0.025\"}} 1
sluice_attempt_duration_seconds_bucket{{{l},le=\"0.05\"}} 3
sluice_attempt_duration_seconds_bucket{{{l},le=\"0.1\"}} 3
sluice_attempt_duration_seconds_bucket{{{l},le=\"0.25\"}} 3
sluice_attempt_duration_seconds_bucket{{{l},le=\"0.5\"}} 3
sluice_attempt_duration_seconds_bucket{{{l},le=\"1\"}} 3
sluice_attempt_duration_seconds_bucket{{{l},le=\"2.5\"}} 3
sluice_attempt_duration_seconds_bucket{{{l},le=\"5\"}} 3
sluice_attempt_duration_seconds_bucket{{{l},le=\"10\"}} 3
sluice_attempt_duration_seconds_bucket{{{l},le=\"30\"}} 3
sluice_attempt_duration_seconds_bucket{{{l},le=\"60\"}} 3
sluice_attempt_duration_seconds_bucket{{{l},le=\"+Inf\"}} 4
sluice_attempt_duration_seconds_sum{{{l}}} 70.083
sluice_attempt_duration_seconds_count{{{l}}} 4
"
    );
    assert_eq!(render(&[m]), expected);
}

#[test]
fn families_group_every_destination_and_nothing_reported_shows_no_timestamp() {
    let a = DestinationMetrics {
        tenant_id: "a".into(),
        destination_id: "des_a".into(),
        kind: "webhook".into(),
        ..Default::default()
    };
    let b = DestinationMetrics {
        destination_id: "des_b".into(),
        kind: "aws_sqs".into(),
        ..a.clone()
    };
    let text = render(&[a, b]);
    // Two samples right after each family's TYPE line, one per destination.
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| *l == "# TYPE sluice_queue_depth gauge")
        .unwrap();
    assert!(lines[i + 1].contains("des_a") && lines[i + 2].contains("des_b"));
    assert!(lines[i + 3].starts_with("# HELP"));
    assert!(!text.contains("sluice_scheduler_state_timestamp_seconds{"));
    assert!(text.contains(
        r#"sluice_circuit_state{tenant_id="a",destination_id="des_b",type="aws_sqs",state="closed"} 1"#
    ));
    // Every TYPE is declared once.
    let types = lines.iter().filter(|l| l.starts_with("# TYPE")).count();
    assert_eq!(types, 10);
}
