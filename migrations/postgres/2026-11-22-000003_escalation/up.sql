-- Escalation and mail. Only open tickets have a row in escalation_due, so the sweep's cost
-- follows the number of due tickets, not the number of tickets ever logged.

CREATE TABLE escalation_due (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id),
    -- When the ticket rises one level if nobody has acted.
    due_at TIMESTAMP NOT NULL
);
CREATE INDEX escalation_due_at_idx ON escalation_due (due_at);

-- Transactional outbox: rows are written in the transaction of the change that causes
-- them and delivered afterwards, with retries.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- A sender that takes a row holds it until then; a crashed sender's rows come back.
    claimed_until TIMESTAMP,
    last_error TEXT,
    sent_at TIMESTAMP
);
CREATE INDEX outbox_pending_idx ON outbox (next_attempt_at) WHERE sent_at IS NULL;
