-- A tenant's routing version: it changes whenever any of its destinations is created,
-- changed or deleted. A Worker isolate caches a tenant's destinations for publishing and
-- stores each event only if the version is still the one it cached (one guarded INSERT, no
-- reads); otherwise it reads them again. A new tenant starts at a random version, so a
-- tenant deleted and created again under the same id never matches an old cache entry.
ALTER TABLE tenants ADD COLUMN routing_version INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER tenants_routing_start AFTER INSERT ON tenants
BEGIN
  UPDATE tenants SET routing_version = random() & 281474976710655 WHERE id = NEW.id;
END;

CREATE TRIGGER destinations_routing_insert AFTER INSERT ON destinations
BEGIN
  UPDATE tenants SET routing_version = routing_version + 1 WHERE id = NEW.tenant_id;
END;

CREATE TRIGGER destinations_routing_update AFTER UPDATE ON destinations
BEGIN
  UPDATE tenants SET routing_version = routing_version + 1 WHERE id IN (OLD.tenant_id, NEW.tenant_id);
END;

CREATE TRIGGER destinations_routing_delete AFTER DELETE ON destinations
BEGIN
  UPDATE tenants SET routing_version = routing_version + 1 WHERE id = OLD.tenant_id;
END;
