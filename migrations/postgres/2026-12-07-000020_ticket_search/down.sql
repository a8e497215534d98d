DROP INDEX tickets_open_placed_idx;
DROP INDEX tickets_address_grams_idx;
DROP INDEX tickets_phone_tail_idx;
