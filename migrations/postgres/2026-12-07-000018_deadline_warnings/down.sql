DROP INDEX escalation_due_warn_idx;
DROP INDEX escalation_due_unplanned_idx;
ALTER TABLE escalation_due DROP COLUMN warn_point, DROP COLUMN warn_at, DROP COLUMN warn_from, DROP COLUMN warn_for_due;
