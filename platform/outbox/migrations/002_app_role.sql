-- The role services run as (pools SET ROLE to it on connect): it owns
-- nothing, so row-level security applies to it even where the login role is
-- a superuser, and it may only read and write rows, never change the schema.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pythorix_app') THEN
        CREATE ROLE pythorix_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created concurrently by another database's migration
END
$$;

GRANT USAGE ON SCHEMA public TO pythorix_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO pythorix_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO pythorix_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO pythorix_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO pythorix_app;
-- The migration bookkeeping stays the owner's.
REVOKE ALL ON public.platform_schema_version FROM pythorix_app;
