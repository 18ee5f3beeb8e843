-- One hash chain per organisation ("org:<uuid>") and one for platform events
-- ("platform"). The head row is locked while a batch is appended, which
-- serialises appends to one chain and lets different chains append in
-- parallel, without a global lock.
CREATE TABLE chains (
    chain text PRIMARY KEY,
    size  bigint NOT NULL DEFAULT 0,
    head  bytea  NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'
);

-- The log itself: append-only. hash = SHA-256 over the canonical encoding of
-- the event and prev_hash (see chain.go).
CREATE TABLE events (
    chain         text        NOT NULL,
    seq           bigint      NOT NULL CHECK (seq > 0),
    id            uuid        NOT NULL UNIQUE,
    org_id        uuid,
    time          timestamptz NOT NULL,
    append_time   timestamptz NOT NULL DEFAULT now(),
    actor_type    text        NOT NULL,
    actor_id      text        NOT NULL,
    action        text        NOT NULL,
    resource_type text        NOT NULL,
    resource_id   text        NOT NULL,
    outcome       text        NOT NULL,
    source_ip     text        NOT NULL,
    user_agent    text        NOT NULL,
    request_id    text        NOT NULL,
    trace_id      text        NOT NULL,
    details       text        NOT NULL, -- canonical JSON, exactly as hashed
    prev_hash     bytea       NOT NULL,
    hash          bytea       NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX events_org_time ON events (org_id, time);

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- The service's role may add and read events, nothing else.
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM pythorix_app;

-- Organisations see only their own chain; ingestion and verification jobs
-- that span chains say '*' explicitly.
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY events_tenant ON events
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
ALTER TABLE chains ENABLE ROW LEVEL SECURITY;
ALTER TABLE chains FORCE ROW LEVEL SECURITY;
CREATE POLICY chains_tenant ON chains
    USING (current_setting('pythorix.org_id', true) = '*' OR chain = 'org:' || current_setting('pythorix.org_id', true))
    WITH CHECK (current_setting('pythorix.org_id', true) = '*' OR chain = 'org:' || current_setting('pythorix.org_id', true));
