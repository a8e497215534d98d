DROP INDEX tickets_late_idx;
DROP INDEX tickets_open_path_idx;
DROP INDEX tickets_open_idx;
DROP INDEX tickets_partner_path_idx;
DROP INDEX tickets_level_idx;
DROP INDEX tickets_category_idx;
