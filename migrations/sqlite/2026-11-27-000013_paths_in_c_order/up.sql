-- SQLite compares text byte by byte already (BINARY), so its path indexes serve subtree
-- ranges as they are. The rates' cohort and the period reads: tickets logged in a period.
CREATE INDEX tickets_created_idx ON tickets (created_at);
