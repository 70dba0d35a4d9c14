-- Fixed-window counters for limits that span isolates and Durable Objects (issue 13): test
-- sends per destination, alerts per tenant. One row per (tenant, scope), overwritten when a
-- new window starts, so the table stays as small as the number of things limited.
CREATE TABLE rate_limits (
  tenant_id TEXT NOT NULL,
  scope TEXT NOT NULL,
  window_start INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, scope)
);
