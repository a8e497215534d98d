DROP TRIGGER rates_statements_dropped;
DROP TRIGGER rates_statements_moved;
DROP TRIGGER rates_statements_event;
DROP TRIGGER rates_statements_logged;
DROP TABLE rates_statements;
DROP TABLE rates_writes;
