-- Manual retries: a per-delivery count (capped by MAX_MANUAL_RETRIES) and who asked for
-- each manual attempt.
ALTER TABLE deliveries ADD COLUMN manual_retries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN requested_by TEXT;

-- The event log pages by (created_at, id) in either direction.
DROP INDEX events_by_time;
CREATE INDEX events_by_time ON events (tenant_id, created_at, id);
CREATE INDEX events_by_topic ON events (tenant_id, topic, created_at, id);
-- Bulk retries of a destination's failures in a time range.
CREATE INDEX deliveries_by_destination_status_time ON deliveries (destination_id, status, created_at);
