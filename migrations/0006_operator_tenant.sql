-- The operator's tenant: its destinations subscribed to sluice.alert.* receive every tenant's
-- alerts (see core::alerts::OPERATOR_TENANT). The API refuses to delete it.
INSERT OR IGNORE INTO tenants (id, name, metadata, created_at, updated_at)
VALUES ('sluice-operator', 'Sluice operator (alerts of every tenant)', '{}', 0, 0);
