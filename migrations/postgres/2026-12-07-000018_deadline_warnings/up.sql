-- Warnings before deadlines (临期预警). The scheduler plans each running deadline's warning
-- points when it first sees the deadline in the due queue (`warn_for_due` differs from
-- `due_at`: a new ticket, a claim, a pause ended, a rise), so no write path changes; then
-- warns at `warn_at`, one point after another.
ALTER TABLE escalation_due
    ADD COLUMN warn_for_due TIMESTAMP,
    -- From when that deadline is near (its first point): the tickets' `warning`.
    ADD COLUMN warn_from TIMESTAMP,
    ADD COLUMN warn_at TIMESTAMP,
    ADD COLUMN warn_point INTEGER;
-- The deadlines not planned yet, and the warnings to send: both small.
CREATE INDEX escalation_due_unplanned_idx ON escalation_due (ticket_id)
    WHERE warn_for_due IS NULL OR warn_for_due <> due_at;
CREATE INDEX escalation_due_warn_idx ON escalation_due (warn_at) WHERE warn_at IS NOT NULL;
