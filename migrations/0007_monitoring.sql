-- Monitoring (GET /metrics, GET …/destinations/{id}/stats) and request headers on attempts.

-- The request's headers as sent, credentials masked: JSON [[name, value], …]; NULL when no
-- request was sent (or for attempts recorded before this migration).
ALTER TABLE attempts ADD COLUMN request_headers TEXT;

-- Monotonic counters per destination for /metrics, incremented in the same D1 batch that
-- records each attempt (guarded by the attempt's id, so a re-sent batch counts nothing
-- twice) and at publish for filtered/skipped; never derived from rows the retention purge
-- deletes. l0…l13: attempts per latency bucket (bounds in core::metrics, the last one the
-- overflow). queue_depth, circuit_state, consecutive_failures, state_at: what the
-- destination's scheduler last reported.
CREATE TABLE destination_metrics (
  destination_id        TEXT PRIMARY KEY,
  tenant_id             TEXT NOT NULL,
  delivered             INTEGER NOT NULL DEFAULT 0,
  failed                INTEGER NOT NULL DEFAULT 0,
  retried               INTEGER NOT NULL DEFAULT 0,
  filtered              INTEGER NOT NULL DEFAULT 0,
  skipped               INTEGER NOT NULL DEFAULT 0,
  latency_sum_ms        INTEGER NOT NULL DEFAULT 0,
  l0  INTEGER NOT NULL DEFAULT 0,
  l1  INTEGER NOT NULL DEFAULT 0,
  l2  INTEGER NOT NULL DEFAULT 0,
  l3  INTEGER NOT NULL DEFAULT 0,
  l4  INTEGER NOT NULL DEFAULT 0,
  l5  INTEGER NOT NULL DEFAULT 0,
  l6  INTEGER NOT NULL DEFAULT 0,
  l7  INTEGER NOT NULL DEFAULT 0,
  l8  INTEGER NOT NULL DEFAULT 0,
  l9  INTEGER NOT NULL DEFAULT 0,
  l10  INTEGER NOT NULL DEFAULT 0,
  l11  INTEGER NOT NULL DEFAULT 0,
  l12  INTEGER NOT NULL DEFAULT 0,
  l13  INTEGER NOT NULL DEFAULT 0,
  queue_depth           INTEGER,
  circuit_state         TEXT,
  consecutive_failures  INTEGER,
  state_at              INTEGER
);

-- The same per destination and minute (start of the minute, ms), for the stats charts;
-- purged after 8 days by the daily cron.
CREATE TABLE attempt_stats (
  destination_id  TEXT NOT NULL,
  minute          INTEGER NOT NULL,
  tenant_id       TEXT NOT NULL,
  delivered       INTEGER NOT NULL DEFAULT 0,
  failed          INTEGER NOT NULL DEFAULT 0,
  retried         INTEGER NOT NULL DEFAULT 0,
  latency_sum_ms  INTEGER NOT NULL DEFAULT 0,
  l0  INTEGER NOT NULL DEFAULT 0,
  l1  INTEGER NOT NULL DEFAULT 0,
  l2  INTEGER NOT NULL DEFAULT 0,
  l3  INTEGER NOT NULL DEFAULT 0,
  l4  INTEGER NOT NULL DEFAULT 0,
  l5  INTEGER NOT NULL DEFAULT 0,
  l6  INTEGER NOT NULL DEFAULT 0,
  l7  INTEGER NOT NULL DEFAULT 0,
  l8  INTEGER NOT NULL DEFAULT 0,
  l9  INTEGER NOT NULL DEFAULT 0,
  l10  INTEGER NOT NULL DEFAULT 0,
  l11  INTEGER NOT NULL DEFAULT 0,
  l12  INTEGER NOT NULL DEFAULT 0,
  l13  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (destination_id, minute)
) WITHOUT ROWID;
CREATE INDEX attempt_stats_by_minute ON attempt_stats (minute);
