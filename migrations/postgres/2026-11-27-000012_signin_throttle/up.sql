-- Failed sign-ins, counted in the database so every API process agrees. One row per key:
-- `account:<username>@<client address>` (known and unknown usernames alike: failures in a
-- row, then a doubling wait for that client only) and `address:<client address>` (failures
-- within a window, whatever the username).
CREATE TABLE signin_throttle (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    first_failure_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);
CREATE INDEX signin_throttle_first_idx ON signin_throttle (first_failure_at);
