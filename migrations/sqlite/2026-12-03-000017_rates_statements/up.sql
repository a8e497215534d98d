-- The rates of a period that has ended, stored once computed; the writes that can change
-- them delete the statements they touch (see the PostgreSQL migration).

CREATE TABLE rates_statements (
    cohort TEXT NOT NULL,
    period_from TIMESTAMP NOT NULL,
    period_to TIMESTAMP NOT NULL,
    figures TEXT NOT NULL,
    stored_at TIMESTAMP NOT NULL,
    PRIMARY KEY (cohort, period_from, period_to)
);

CREATE INDEX rates_statements_to_idx ON rates_statements (period_to, period_from);

-- Writes stamped in the past count here (see the PostgreSQL migration); the triggers skip
-- writes of the present in their WHEN.
CREATE TABLE rates_writes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    changed BIGINT NOT NULL
);
INSERT INTO rates_writes (id, changed) VALUES (1, 0);

CREATE TRIGGER rates_statements_logged AFTER INSERT ON ticket_facts
WHEN NEW.created_at < strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 minutes')
BEGIN
  UPDATE rates_writes SET changed = changed + 1 WHERE id = 1;
  DELETE FROM rates_statements
   WHERE period_to > NEW.created_at AND period_from <= NEW.created_at;
END;

CREATE TRIGGER rates_statements_event AFTER INSERT ON ticket_events
WHEN NEW.created_at < strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 minutes')
BEGIN
  UPDATE rates_writes SET changed = changed + 1 WHERE id = 1;
  DELETE FROM rates_statements
   WHERE period_to > NEW.created_at
     AND period_from <= (SELECT created_at FROM ticket_facts WHERE ticket_id = NEW.ticket_id)
     AND period_to > (SELECT created_at FROM ticket_facts WHERE ticket_id = NEW.ticket_id);
END;

CREATE TRIGGER rates_statements_moved AFTER UPDATE ON ticket_facts
WHEN (OLD.org_path IS NOT NEW.org_path OR OLD.created_at IS NOT NEW.created_at
  OR OLD.respond_by IS NOT NEW.respond_by OR OLD.resolve_by IS NOT NEW.resolve_by)
  AND min(OLD.created_at, NEW.created_at) < strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 minutes')
BEGIN
  UPDATE rates_writes SET changed = changed + 1 WHERE id = 1;
  DELETE FROM rates_statements
   WHERE ((period_from <= OLD.created_at AND period_to > OLD.created_at)
       OR (period_from <= NEW.created_at AND period_to > NEW.created_at))
     AND (OLD.org_path IS NOT NEW.org_path
       OR OLD.created_at IS NOT NEW.created_at
       OR OLD.respond_by IS NOT NEW.respond_by
       OR (OLD.resolve_by IS NULL) <> (NEW.resolve_by IS NULL)
       OR (period_to > min(OLD.resolve_by, NEW.resolve_by)
           AND period_to <= max(OLD.resolve_by, NEW.resolve_by)));
END;

CREATE TRIGGER rates_statements_dropped AFTER DELETE ON ticket_facts
WHEN OLD.created_at < strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 minutes')
BEGIN
  UPDATE rates_writes SET changed = changed + 1 WHERE id = 1;
  DELETE FROM rates_statements
   WHERE period_from <= OLD.created_at AND period_to > OLD.created_at;
END;
