DROP INDEX tickets_created_idx;
