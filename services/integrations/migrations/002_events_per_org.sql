-- An event id is unique within its organisation: another organisation's
-- event (hidden by row-level security) must neither block nor reveal one.
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD PRIMARY KEY (org_id, id);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX deliveries_open ON deliveries (status) WHERE status IN ('PENDING', 'RETRYING');
