-- Accounts a platform admin has disabled: while set, no sign-in succeeds and
-- no session or API key of the user is accepted. Enabling clears it; the
-- sessions and keys revoked on disabling stay revoked.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- A user's live sessions by last use: the idle check, the session cap (which
-- ends the least recently used) and the session list read it.
CREATE INDEX sessions_user_last_seen ON sessions (user_id, last_seen_at) WHERE revoked_at IS NULL;
DROP INDEX sessions_user_live;

-- A creator's live API keys (disabling a user revokes them).
CREATE INDEX api_keys_created_by ON api_keys (created_by) WHERE revoked_at IS NULL;
