-- The data plane moves to Durable Objects (src/log): events, deliveries and attempts live in
-- log shards, one per tenant, time bucket and slot. D1 keeps configuration only, plus the
-- directory of each tenant's buckets (one row per tenant and bucket: its rate follows time,
-- not traffic), which lets the event log be paged across buckets and a tenant's shards be
-- found for deletion.

-- Shards per bucket for the tenant's buckets created from now on (1–64): the knob that lets
-- one tenant go past one object's request rate and size.
ALTER TABLE tenants ADD COLUMN log_shards INTEGER NOT NULL DEFAULT 1;

CREATE TABLE log_buckets (
  tenant_id   TEXT NOT NULL,
  bucket      INTEGER NOT NULL,        -- publish time / LOG_BUCKET_SECONDS
  shards      INTEGER NOT NULL,        -- the tenant's log_shards when the bucket was first used
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, bucket)
) WITHOUT ROWID;

-- Nothing reads these any more.
DROP TABLE IF EXISTS attempts;
DROP TABLE IF EXISTS deliveries;
DROP TABLE IF EXISTS events;
