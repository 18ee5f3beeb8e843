-- CORS preflights ask whether any project lists an origin.
CREATE INDEX projects_allowed_origins ON projects USING gin (allowed_origins);
