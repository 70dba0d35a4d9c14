-- A destination's payload filter (JSON, or NULL for none): evaluated at publish, so it is
-- kept in the clear apart from the sealed credentials.
ALTER TABLE destinations ADD COLUMN filter TEXT;
