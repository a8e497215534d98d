-- Residents' personal data reduced; see the PostgreSQL migration.
CREATE TABLE ticket_redactions (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id),
    closed_at TIMESTAMP,
    reason TEXT NOT NULL CHECK (reason IN ('retention', 'request')),
    redacted_at TIMESTAMP NOT NULL,
    redacted_by BIGINT REFERENCES users (id)
);
CREATE INDEX ticket_redactions_retention_idx ON ticket_redactions (closed_at)
    WHERE reason = 'retention';
CREATE INDEX tickets_closed_idx ON tickets (closed_at) WHERE closed_at IS NOT NULL;
