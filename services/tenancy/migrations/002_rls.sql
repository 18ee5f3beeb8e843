-- Every tenancy table is scoped to the organisation a transaction names with
-- set_config('pythorix.org_id', ..., true); '*' marks the few explicit
-- cross-organisation reads (a user's organisations, an invitation by token).
ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY orgs_tenant ON orgs
    USING (current_setting('pythorix.org_id', true) IN (id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (id::text, '*'));

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY memberships_tenant ON memberships
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY invitations_tenant ON invitations
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY projects_tenant ON projects
    USING (current_setting('pythorix.org_id', true) IN (org_id::text, '*'))
    WITH CHECK (current_setting('pythorix.org_id', true) IN (org_id::text, '*'));
