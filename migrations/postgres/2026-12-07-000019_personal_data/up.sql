-- Residents' personal data reduced: a ticket's row here says its resident's name and phone,
-- its house number and the reporter's Open311 contact were cut down — after the retention
-- period by the scheduler (`retention`, with the ticket's closing instant: the scheduler
-- walks closed tickets in that order from the last one it reduced), or on the resident's
-- request by an administrator (`request`, who and why also in the timeline). A ticket erased
-- on request is later passed by the retention walk too: a row for each.
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
-- Closed, cancelled and merged tickets by closing instant: the retention sweep's walk.
CREATE INDEX tickets_closed_idx ON tickets (closed_at, id) WHERE closed_at IS NOT NULL;

-- Who was shown a resident's whole contact (name, phone, the Open311 reporter's), on which
-- ticket, when and where: every ticket page that showed it. Lists, answers to actions and
-- exports show it masked and are not recorded. Administrators read it at
-- GET /api/v1/contact-reads.
CREATE TABLE contact_reads (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    route TEXT NOT NULL,
    read_at TIMESTAMP NOT NULL
);
CREATE INDEX contact_reads_ticket_idx ON contact_reads (ticket_id, id);
CREATE INDEX contact_reads_user_idx ON contact_reads (user_id, id);
