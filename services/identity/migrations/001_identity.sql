-- Accounts. Emails are stored lower-cased; uniqueness is on that form.
CREATE TABLE users (
    id                  uuid PRIMARY KEY,
    email               text        NOT NULL CHECK (email = lower(email) AND length(email) <= 254),
    name                text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- bcrypt (cost 12); NULL for accounts that only sign in with OIDC.
    password_hash       text,
    email_verified_at   timestamptz,
    global_admin        boolean     NOT NULL DEFAULT false,
    -- TOTP seed, envelope-encrypted with associated data "identity/totp/<id>".
    totp_secret         bytea,
    totp_enabled_at     timestamptz,
    -- The last TOTP time step accepted: a code is never accepted twice.
    totp_last_step      bigint      NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- One-time email codes (verification, password reset), stored as keyed hashes.
CREATE TABLE email_codes (
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    code_hash  bytea       NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts   int         NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, purpose)
);

-- Server-side sessions. An access token is valid only while its session is.
CREATE TABLE sessions (
    id            uuid PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text,
    ip            text        NOT NULL DEFAULT '',
    user_agent    text        NOT NULL DEFAULT '' CHECK (length(user_agent) <= 512)
);
CREATE INDEX sessions_user_live ON sessions (user_id) WHERE revoked_at IS NULL;

-- Pending second-factor logins: the mfa token names one of these.
CREATE TABLE mfa_challenges (
    id         uuid PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    attempts   int         NOT NULL DEFAULT 0,
    used_at    timestamptz
);

-- Single-use backup codes, stored as keyed hashes.
CREATE TABLE backup_codes (
    user_id   uuid  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

-- Outgoing mail, written in the same transaction as the change that causes it
-- and delivered (at least once) by a background worker.
CREATE TABLE mail_outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient  text        NOT NULL,
    subject    text        NOT NULL,
    -- Envelope-encrypted (it carries one-time codes), bound to the recipient.
    body       bytea       NOT NULL,
    attempts   int         NOT NULL DEFAULT 0,
    next_try   timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_try);

-- Accounts linked to OIDC identities (provider + subject).
CREATE TABLE oidc_identities (
    provider   text NOT NULL,
    subject    text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);

-- API keys: "pyx_<public id>_<secret><checksum>"; only a keyed hash of the
-- secret is stored, and the prefix "pyx_<public id>" for display.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    org_id       uuid        NOT NULL,
    project_id   uuid,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    public_id    text        NOT NULL UNIQUE,
    secret_hash  bytea       NOT NULL,
    scopes       text[]      NOT NULL,
    created_by   uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);
