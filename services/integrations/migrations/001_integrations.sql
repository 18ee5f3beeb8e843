-- Outbound integrations of an organisation. The secret is an envelope
-- ciphertext (platform/envelope) whose associated data binds it to the
-- organisation, the integration and the field; only its last four
-- characters are kept in clear, to identify it.
CREATE TABLE integrations (
    id              uuid PRIMARY KEY,
    org_id          uuid        NOT NULL,
    name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind            text        NOT NULL CHECK (kind IN ('WEBHOOK', 'SLACK', 'JIRA', 'PAGERDUTY')),
    enabled         boolean     NOT NULL DEFAULT true,
    disabled_reason text        NOT NULL DEFAULT '',
    config          jsonb       NOT NULL DEFAULT '{}',
    secret          bytea,
    secret_last4    text        NOT NULL DEFAULT '',
    -- While a webhook secret rotates, deliveries are signed with the old one too.
    previous_secret bytea,
    previous_until  timestamptz,
    -- The key inbound hooks are verified with (sealed like secret).
    inbound_secret  bytea,
    -- The first failure of the current run of failures; NULL after a success.
    failing_since   timestamptz,
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX integrations_org ON integrations (org_id, id);

-- Events received for fan-out, kept to refuse a repeated event id.
CREATE TABLE events (
    id         uuid PRIMARY KEY,
    org_id     uuid        NOT NULL,
    type       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One event sent (or being sent) to one integration.
CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    org_id           uuid        NOT NULL,
    integration_id   uuid        NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    event_id         uuid        NOT NULL,
    event_type       text        NOT NULL,
    payload          jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED', 'RETRYING')),
    attempts         int         NOT NULL DEFAULT 0,
    response_status  int         NOT NULL DEFAULT 0,
    latency_ms       bigint      NOT NULL DEFAULT 0,
    response_snippet text        NOT NULL DEFAULT '',
    error            text        NOT NULL DEFAULT '',
    replay_of        uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz,
    next_attempt_at  timestamptz
);
CREATE INDEX deliveries_integration ON deliveries (integration_id, created_at DESC, id DESC);

-- Inbound hooks that passed verification (nothing is kept of the others).
CREATE TABLE inbound_hooks (
    id             uuid PRIMARY KEY,
    org_id         uuid        NOT NULL,
    integration_id uuid        NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    provider       text        NOT NULL,
    body_sha256    text        NOT NULL,
    body_size      int         NOT NULL,
    source_ip      text        NOT NULL DEFAULT '',
    received_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE integrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE integrations FORCE ROW LEVEL SECURITY;
CREATE POLICY integrations_tenant ON integrations
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY events_tenant ON events
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY deliveries_tenant ON deliveries
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
ALTER TABLE inbound_hooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE inbound_hooks FORCE ROW LEVEL SECURITY;
CREATE POLICY inbound_hooks_tenant ON inbound_hooks
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
