DROP INDEX tickets_phone_tail_idx;
