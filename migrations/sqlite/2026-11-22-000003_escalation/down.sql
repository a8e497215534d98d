DROP TABLE outbox;
DROP TABLE escalation_due;
