-- An organisation's two-factor policy: when set, members' sessions signed in
-- without a second factor are refused on every organisation-scoped call.
ALTER TABLE orgs ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;
