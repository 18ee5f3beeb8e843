CREATE TABLE assets (
    id                  uuid PRIMARY KEY,
    org_id              uuid        NOT NULL,
    project_id          uuid,
    host                text        NOT NULL CHECK (length(host) <= 300),
    kind                text        NOT NULL,
    environment         text        NOT NULL,
    criticality         text        NOT NULL,
    owner               text        NOT NULL DEFAULT '',
    tags                text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
    verification_token  text        NOT NULL,
    verified_at         timestamptz,
    verification_method text        NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, host)
);

-- Explicit, time-limited permission to scan one asset.
CREATE TABLE grants (
    id         uuid PRIMARY KEY,
    org_id     uuid        NOT NULL,
    asset_id   uuid        NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    granted_by uuid        NOT NULL,
    note       text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    revoked_by uuid
);
CREATE INDEX grants_asset ON grants (asset_id, created_at);

ALTER TABLE assets ENABLE ROW LEVEL SECURITY;
ALTER TABLE assets FORCE ROW LEVEL SECURITY;
CREATE POLICY assets_tenant ON assets
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
ALTER TABLE grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE grants FORCE ROW LEVEL SECURITY;
CREATE POLICY grants_tenant ON grants
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
