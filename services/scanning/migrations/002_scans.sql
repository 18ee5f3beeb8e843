-- A scan records who asked (actor), for which organisation, which asset and
-- under which grant; the asset's host is copied so the record outlives the
-- asset. Scans and findings are kept when an asset is deleted.
CREATE TABLE scans (
    id           uuid PRIMARY KEY,
    org_id       uuid        NOT NULL,
    asset_id     uuid        NOT NULL,
    project_id   uuid,
    target       text        NOT NULL CHECK (length(target) <= 300),
    actor_id     uuid        NOT NULL,
    api_key_id   uuid,
    grant_id     uuid        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED')),
    progress     int         NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    grade        text        NOT NULL DEFAULT '',
    score        int         NOT NULL DEFAULT 0,
    header_grade text        NOT NULL DEFAULT '',
    header_score int         NOT NULL DEFAULT 0,
    tls_cap      text        NOT NULL DEFAULT '',
    requests     int         NOT NULL DEFAULT 0,
    tests        jsonb       NOT NULL DEFAULT '[]',
    error        text        NOT NULL DEFAULT '' CHECK (length(error) <= 1000),
    job_id       bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    ended_at     timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scans_org ON scans (org_id, id DESC);
CREATE INDEX scans_asset ON scans (asset_id, id DESC);
-- Concurrency limits count running scans per organisation and per target host.
CREATE INDEX scans_running_target ON scans (target) WHERE status = 'RUNNING';
CREATE INDEX scans_active_org ON scans (org_id) WHERE status IN ('QUEUED', 'RUNNING');

-- The state of each finding as one scan saw it (RESOLVED rows record what
-- the scan no longer saw).
CREATE TABLE scan_findings (
    id          uuid PRIMARY KEY,
    org_id      uuid        NOT NULL,
    scan_id     uuid        NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    asset_id    uuid        NOT NULL,
    check_id    text        NOT NULL,
    severity    text        NOT NULL CHECK (severity IN ('INFO', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    sev_rank    int         NOT NULL,
    status      text        NOT NULL CHECK (status IN ('NEW', 'PERSISTING', 'RESOLVED', 'REGRESSED')),
    location    text        NOT NULL CHECK (length(location) <= 2048),
    subject     text        NOT NULL CHECK (length(subject) <= 512),
    detail      text        NOT NULL CHECK (length(detail) <= 2048),
    evidence    text        NOT NULL CHECK (octet_length(evidence) <= 5120),
    fingerprint text        NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    UNIQUE (scan_id, fingerprint)
);
CREATE INDEX scan_findings_order ON scan_findings (scan_id, sev_rank DESC, id);

-- The current state of each finding of an asset, one row per fingerprint.
CREATE TABLE findings (
    asset_id     uuid        NOT NULL,
    fingerprint  text        NOT NULL,
    org_id       uuid        NOT NULL,
    id           uuid        NOT NULL UNIQUE,
    scan_id      uuid        NOT NULL,
    check_id     text        NOT NULL,
    severity     text        NOT NULL,
    sev_rank     int         NOT NULL,
    status       text        NOT NULL CHECK (status IN ('NEW', 'PERSISTING', 'RESOLVED', 'REGRESSED')),
    location     text        NOT NULL,
    subject      text        NOT NULL,
    detail       text        NOT NULL,
    evidence     text        NOT NULL CHECK (octet_length(evidence) <= 5120),
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    PRIMARY KEY (asset_id, fingerprint)
);
CREATE INDEX findings_org ON findings (org_id, sev_rank DESC, id);

ALTER TABLE scans ENABLE ROW LEVEL SECURITY;
ALTER TABLE scans FORCE ROW LEVEL SECURITY;
CREATE POLICY scans_tenant ON scans
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
ALTER TABLE scan_findings ENABLE ROW LEVEL SECURITY;
ALTER TABLE scan_findings FORCE ROW LEVEL SECURITY;
CREATE POLICY scan_findings_tenant ON scan_findings
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
ALTER TABLE findings ENABLE ROW LEVEL SECURITY;
ALTER TABLE findings FORCE ROW LEVEL SECURITY;
CREATE POLICY findings_tenant ON findings
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
