-- Warnings before deadlines (临期预警); see the PostgreSQL migration.
ALTER TABLE escalation_due ADD COLUMN warn_for_due TIMESTAMP;
ALTER TABLE escalation_due ADD COLUMN warn_from TIMESTAMP;
ALTER TABLE escalation_due ADD COLUMN warn_at TIMESTAMP;
ALTER TABLE escalation_due ADD COLUMN warn_point INTEGER;
CREATE INDEX escalation_due_unplanned_idx ON escalation_due (ticket_id)
    WHERE warn_for_due IS NULL OR warn_for_due <> due_at;
CREATE INDEX escalation_due_warn_idx ON escalation_due (warn_at) WHERE warn_at IS NOT NULL;
