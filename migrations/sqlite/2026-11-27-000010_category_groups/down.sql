ALTER TABLE categories DROP COLUMN group_name;
