-- Audit events waiting to be shipped to the audit service. A row is written in
-- the same transaction as the change it records and deleted once the audit
-- service has acknowledged it (idempotent by event_id on that side).
CREATE TABLE audit_outbox (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   uuid        NOT NULL UNIQUE,
    -- pythorix.audit.v1.EventInput, binary protobuf.
    event      bytea       NOT NULL CHECK (octet_length(event) <= 65536),
    created_at timestamptz NOT NULL DEFAULT now()
);
