-- Sluice's system of record: configuration, and what users inspect.
-- Times are milliseconds since the Unix epoch. Ids are prefixed ULIDs (time-ordered), so
-- "ORDER BY id" is creation order and serves cursor pagination.

CREATE TABLE tenants (
  id          TEXT PRIMARY KEY,
  name        TEXT,
  metadata    TEXT NOT NULL DEFAULT '{}',
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);

CREATE TABLE destinations (
  id               TEXT PRIMARY KEY,
  tenant_id        TEXT NOT NULL,
  type             TEXT NOT NULL,
  name             TEXT,
  topics           TEXT NOT NULL,           -- JSON array of patterns
  enabled          INTEGER NOT NULL,
  disabled_reason  TEXT,
  config           TEXT NOT NULL,           -- JSON, credentials masked: what the API shows
  settings         TEXT NOT NULL,           -- JSON: timeout_ms, retry, circuit_breaker
  secrets          TEXT NOT NULL,           -- AES-256-GCM sealed JSON: full config + signing keys
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
);
CREATE INDEX destinations_by_tenant ON destinations (tenant_id, id);

CREATE TABLE events (
  tenant_id   TEXT NOT NULL,
  id          TEXT NOT NULL,
  topic       TEXT NOT NULL,
  data        TEXT NOT NULL,                -- JSON
  metadata    TEXT NOT NULL DEFAULT '{}',
  publish_key TEXT NOT NULL,                -- which publish call created the row (idempotency)
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX events_by_time ON events (tenant_id, created_at);

CREATE TABLE deliveries (
  id                TEXT PRIMARY KEY,
  tenant_id         TEXT NOT NULL,
  event_id          TEXT NOT NULL,
  destination_id    TEXT NOT NULL,
  topic             TEXT NOT NULL,
  status            TEXT NOT NULL,          -- pending | delivered | failed
  attempts          INTEGER NOT NULL DEFAULT 0,
  next_attempt_at   INTEGER,
  last_status_code  INTEGER,
  last_error        TEXT,
  created_at        INTEGER NOT NULL,
  updated_at        INTEGER NOT NULL
);
CREATE INDEX deliveries_by_destination ON deliveries (destination_id, id);
CREATE INDEX deliveries_by_destination_status ON deliveries (destination_id, status, id);
CREATE INDEX deliveries_by_event ON deliveries (tenant_id, event_id);

CREATE TABLE attempts (
  id              TEXT PRIMARY KEY,
  delivery_id     TEXT NOT NULL,
  tenant_id       TEXT NOT NULL,
  attempt         INTEGER NOT NULL,
  trigger         TEXT NOT NULL,            -- scheduled | manual
  started_at      INTEGER NOT NULL,
  duration_ms     INTEGER NOT NULL,
  status_code     INTEGER,
  outcome         TEXT NOT NULL,            -- delivered | retry | failed
  error           TEXT,
  response_body   TEXT
);
CREATE INDEX attempts_by_delivery ON attempts (delivery_id, attempt);
