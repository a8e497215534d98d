-- The end of the window of a ticket's current escalation level: NULL at the community
-- (the ticket's own respond_by), else the rise plus the level's response window, moved on
-- by waits on the resident. A claimed ticket rises at the later of this and resolve_by.
ALTER TABLE escalation_due ADD COLUMN window_due_at TIMESTAMP;
ALTER TABLE ticket_pauses ADD COLUMN window_due_at TIMESTAMP;
-- Rows above the community were due at their level's window until now.
UPDATE escalation_due SET window_due_at = due_at
    WHERE ticket_id IN (SELECT id FROM tickets WHERE level > 0);
UPDATE ticket_pauses SET window_due_at = due_at
    WHERE ticket_id IN (SELECT id FROM tickets WHERE level > 0);
