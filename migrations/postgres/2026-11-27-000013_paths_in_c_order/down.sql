DROP INDEX tickets_created_idx;

DROP INDEX projects_org_path_idx;
ALTER TABLE projects ALTER COLUMN org_path TYPE TEXT COLLATE "default";
CREATE INDEX projects_org_path_idx ON projects (org_path text_pattern_ops, id);

DROP INDEX needs_org_path_idx;
ALTER TABLE needs ALTER COLUMN org_path TYPE TEXT COLLATE "default";
CREATE INDEX needs_org_path_idx ON needs (org_path text_pattern_ops, id);

DROP INDEX tickets_org_path_idx;
ALTER TABLE tickets ALTER COLUMN org_path TYPE TEXT COLLATE "default";
CREATE INDEX tickets_org_path_idx ON tickets (org_path text_pattern_ops, id);

DROP INDEX org_units_path_idx;
ALTER TABLE org_units ALTER COLUMN path TYPE TEXT COLLATE "default";
CREATE INDEX org_units_path_idx ON org_units (path text_pattern_ops);
