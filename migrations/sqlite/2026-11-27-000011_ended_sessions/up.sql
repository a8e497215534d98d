-- Sessions ended by signing out before their token expired. A token names its session
-- (the `sid` claim); one listed here is refused. Rows go once the token would have
-- expired anyway (the scheduler purges them).
CREATE TABLE ended_sessions (
    sid TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    ended_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX ended_sessions_expires_idx ON ended_sessions (expires_at);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
