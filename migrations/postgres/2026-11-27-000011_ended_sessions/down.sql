DROP INDEX idempotency_keys_created_idx;
DROP TABLE ended_sessions;
