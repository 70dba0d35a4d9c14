-- A destination's payload transform (JSON, or NULL for none), applied by its scheduler at
-- delivery, and the name of the template it was made from (NULL for none). Neither holds
-- credentials: template secrets go in the sealed config headers.
ALTER TABLE destinations ADD COLUMN template TEXT;
ALTER TABLE destinations ADD COLUMN transform TEXT;
