-- Wake the relay as soon as an event is committed.
CREATE FUNCTION audit_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('audit_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_outbox_notify AFTER INSERT ON audit_outbox FOR EACH STATEMENT EXECUTE FUNCTION audit_outbox_notify();
