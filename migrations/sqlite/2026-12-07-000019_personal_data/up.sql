-- Residents' personal data reduced; see the PostgreSQL migration.
CREATE TABLE ticket_redactions (
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    closed_at TIMESTAMP,
    reason TEXT NOT NULL CHECK (reason IN ('retention', 'request')),
    redacted_at TIMESTAMP NOT NULL,
    redacted_by BIGINT REFERENCES users (id),
    PRIMARY KEY (ticket_id, reason)
);
CREATE INDEX ticket_redactions_retention_idx ON ticket_redactions (closed_at, ticket_id)
    WHERE reason = 'retention';
CREATE INDEX tickets_closed_idx ON tickets (closed_at, id) WHERE closed_at IS NOT NULL;
CREATE TABLE contact_reads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    route TEXT NOT NULL,
    read_at TIMESTAMP NOT NULL
);
CREATE INDEX contact_reads_ticket_idx ON contact_reads (ticket_id, id);
CREATE INDEX contact_reads_user_idx ON contact_reads (user_id, id);
