ALTER TABLE ticket_pauses DROP COLUMN window_due_at;
ALTER TABLE escalation_due DROP COLUMN window_due_at;
