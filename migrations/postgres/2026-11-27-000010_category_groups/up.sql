-- The readable group a category belongs to (水电气热, 住房物业, …): Open311's service
-- `group`, and a heading for pickers. Empty: the category's own name stands for it.
ALTER TABLE categories ADD COLUMN group_name TEXT NOT NULL DEFAULT '';
