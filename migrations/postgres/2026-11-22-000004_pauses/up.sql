-- A ticket waiting on the resident (waiting_on_resident): its SLA clock stands still.
-- One row while it waits; resuming extends its deadlines by the time waited.
CREATE TABLE ticket_pauses (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id),
    paused_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL,
    paused_by BIGINT NOT NULL REFERENCES users (id),
    -- When the ticket was due to rise when it paused (NULL if it was not in the queue).
    due_at TIMESTAMP
);
