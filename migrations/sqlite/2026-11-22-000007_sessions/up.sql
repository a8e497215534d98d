-- A password change or reset ends the account's existing sessions: tokens carry the
-- generation they were issued under, and only the current one is accepted.
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
