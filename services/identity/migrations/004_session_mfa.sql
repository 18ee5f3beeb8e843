-- Whether a session was established with a second factor (TOTP or a backup
-- code): organisations that require two-factor authentication refuse the
-- sessions without it. Sessions opened before this column existed count as
-- without, so their users sign in again with the second factor.
ALTER TABLE sessions ADD COLUMN mfa boolean NOT NULL DEFAULT false;
