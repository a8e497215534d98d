DROP TABLE attachments;
DROP TABLE idempotency_keys;
DROP TABLE ticket_counters;
DROP TABLE ticket_events;
DROP FUNCTION ticket_events_append_only;
DROP TABLE tickets;
