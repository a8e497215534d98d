DROP TABLE attachments;
DROP TABLE idempotency_keys;
DROP TABLE ticket_counters;
DROP TABLE ticket_events;
DROP TABLE tickets;
