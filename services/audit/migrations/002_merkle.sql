-- The Merkle tree of each chain (golang.org/x/mod/sumdb/tlog layout): the
-- stored hashes of record i (its event hash is the record's data) at their
-- tlog indexes. Inclusion proofs and signed tree heads are computed from it.
CREATE TABLE tlog_hashes (
    chain text   NOT NULL,
    idx   bigint NOT NULL,
    hash  bytea  NOT NULL,
    PRIMARY KEY (chain, idx)
);

-- Signed tree heads (checkpoints) in the sumdb note format.
CREATE TABLE checkpoints (
    chain      text        NOT NULL,
    size       bigint      NOT NULL,
    root       bytea       NOT NULL,
    note       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain, size)
);

ALTER TABLE tlog_hashes ENABLE ROW LEVEL SECURITY;
ALTER TABLE tlog_hashes FORCE ROW LEVEL SECURITY;
CREATE POLICY tlog_hashes_tenant ON tlog_hashes
    USING (current_setting('pythorix.org_id', true) = '*' OR chain = 'org:' || current_setting('pythorix.org_id', true))
    WITH CHECK (current_setting('pythorix.org_id', true) = '*' OR chain = 'org:' || current_setting('pythorix.org_id', true));
ALTER TABLE checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY checkpoints_tenant ON checkpoints
    USING (current_setting('pythorix.org_id', true) = '*' OR chain = 'org:' || current_setting('pythorix.org_id', true))
    WITH CHECK (current_setting('pythorix.org_id', true) = '*' OR chain = 'org:' || current_setting('pythorix.org_id', true));
-- Both are derived from the log and, like it, never rewritten by the service.
REVOKE UPDATE, DELETE, TRUNCATE ON tlog_hashes, checkpoints FROM pythorix_app;
