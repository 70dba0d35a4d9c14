-- The topic catalogue: the event types a platform publishes. Publishing to a topic that is
-- not here is refused unless ALLOW_UNKNOWN_TOPICS is "true".
CREATE TABLE topics (
  name         TEXT PRIMARY KEY,
  description  TEXT,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL
);
