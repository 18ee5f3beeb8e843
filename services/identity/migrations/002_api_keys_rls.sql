-- API keys belong to organisations: every transaction names its organisation
-- (set_config('pythorix.org_id', ..., true)), and sees only that one's keys.
-- '*' is the explicit marker of a cross-organisation lookup (authenticating a
-- key by its public id). FORCE applies the policy to the table owner too.
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_tenant ON api_keys
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
