-- Materialised paths are identifiers, compared byte by byte: a subtree is the range
-- [path, path-with-'/'-bumped-to-'0'), which holds in the "C" collation only. The columns
-- take it, whatever the database's default, so the range is right under any locale and
-- the plain btree indexes below serve it as an index range (the text_pattern_ops indexes
-- they replace served LIKE, not >= and <, so every scope was a filter over the index).

DROP INDEX org_units_path_idx;
ALTER TABLE org_units ALTER COLUMN path TYPE TEXT COLLATE "C";
CREATE INDEX org_units_path_idx ON org_units (path);

DROP INDEX tickets_org_path_idx;
ALTER TABLE tickets ALTER COLUMN org_path TYPE TEXT COLLATE "C";
CREATE INDEX tickets_org_path_idx ON tickets (org_path, id);

DROP INDEX needs_org_path_idx;
ALTER TABLE needs ALTER COLUMN org_path TYPE TEXT COLLATE "C";
CREATE INDEX needs_org_path_idx ON needs (org_path, id);

DROP INDEX projects_org_path_idx;
ALTER TABLE projects ALTER COLUMN org_path TYPE TEXT COLLATE "C";
CREATE INDEX projects_org_path_idx ON projects (org_path, id);

-- The rates' cohort and the city-wide period reads: tickets logged in a period.
CREATE INDEX tickets_created_idx ON tickets (created_at);
