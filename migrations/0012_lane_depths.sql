-- The queue depth of each lane above 0 of a destination spread over lanes (lane 0 reports in
-- destination_metrics, as a destination of one lane does): /metrics shows the sum. One row
-- per (destination, lane), overwritten by the newer report; deleted with the destination.
CREATE TABLE lane_depths (
  destination_id TEXT NOT NULL,
  lane INTEGER NOT NULL,
  tenant_id TEXT NOT NULL,
  queue_depth INTEGER NOT NULL,
  state_at INTEGER NOT NULL,
  PRIMARY KEY (destination_id, lane)
);
