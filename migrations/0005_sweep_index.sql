-- The five-minute sweep looks for pending deliveries never attempted, oldest first.
CREATE INDEX deliveries_unattempted ON deliveries (created_at) WHERE status = 'pending' AND attempts = 0;
