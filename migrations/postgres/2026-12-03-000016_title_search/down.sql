DROP INDEX tickets_title_grams_idx;
DROP FUNCTION ticket_title_grams(TEXT);
