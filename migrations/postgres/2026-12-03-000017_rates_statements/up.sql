-- The rates of a period that has ended, stored once computed. Figures are taken as of the
-- period's end, so later work does not change them; what can (a ticket logged late into
-- the period, an event stamped before its end, a ticket moved to another node, its
-- deadlines moved) deletes the statements it touches, here, in the same transaction as
-- the write, whichever path makes it. A deleted statement is computed again when next
-- asked for. `cohort` is `s` and the subtree's path, or `p` and the unit's id; `figures`
-- the counts as JSON.

CREATE TABLE rates_statements (
    cohort TEXT COLLATE "C" NOT NULL,
    period_from TIMESTAMP NOT NULL,
    period_to TIMESTAMP NOT NULL,
    figures TEXT NOT NULL,
    stored_at TIMESTAMP NOT NULL,
    PRIMARY KEY (cohort, period_from, period_to)
);

-- Writes find the statements their instant falls in: few end after any recent instant.
CREATE INDEX rates_statements_to_idx ON rates_statements (period_to, period_from);

-- Writes stamped in the past (more than a minute before the database's clock) count here.
-- A statement is stored only if none committed while it was computed (`stats::statements`
-- reads the count before computing and again, waiting for writers in flight, before it
-- stores), so a statement computed from a snapshot that missed such a write is not kept.
-- Writes of the present (a new ticket, a claim: nearly all of them) cannot touch a period
-- that ended ten minutes ago: each trigger below skips them in its WHEN, so they run no
-- trigger code at all.
CREATE TABLE rates_writes (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    changed BIGINT NOT NULL
);
INSERT INTO rates_writes (id, changed) VALUES (1, 0);

-- Counts the transaction's writes into the past once, however many rows it writes (a
-- bulk load), holding the row until it ends.
CREATE FUNCTION rates_written() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('jiesu.rates_written', true) IS DISTINCT FROM 'yes' THEN
    UPDATE rates_writes SET changed = changed + 1 WHERE id = 1;
    PERFORM set_config('jiesu.rates_written', 'yes', true);
  END IF;
END
$$;

-- New tickets: the statements of periods they were logged in.
CREATE FUNCTION rates_statements_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rates_written();
  DELETE FROM rates_statements
   WHERE period_to > NEW.created_at AND period_from <= NEW.created_at;
  RETURN NULL;
END
$$;
CREATE TRIGGER rates_statements_logged AFTER INSERT ON ticket_facts FOR EACH ROW
  WHEN (NEW.created_at < (clock_timestamp() AT TIME ZONE 'UTC') - interval '1 minute')
  EXECUTE FUNCTION rates_statements_logged();

-- New events: the statements of periods their ticket was logged in that end after them.
CREATE FUNCTION rates_statements_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  logged TIMESTAMP;
BEGIN
  PERFORM rates_written();
  SELECT created_at INTO logged FROM ticket_facts WHERE ticket_id = NEW.ticket_id;
  DELETE FROM rates_statements
   WHERE period_to > NEW.created_at AND period_to > logged AND period_from <= logged;
  RETURN NULL;
END
$$;
CREATE TRIGGER rates_statements_event AFTER INSERT ON ticket_events FOR EACH ROW
  WHEN (NEW.created_at < (clock_timestamp() AT TIME ZONE 'UTC') - interval '1 minute')
  EXECUTE FUNCTION rates_statements_event();

-- A ticket moved (its node, its logging, its deadlines): the statements of periods it
-- was logged in, before or after. A moved resolve deadline changes "overdue" only for
-- periods ending between the two deadlines.
CREATE FUNCTION rates_statements_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rates_written();
  DELETE FROM rates_statements s
   WHERE ((s.period_from <= OLD.created_at AND s.period_to > OLD.created_at)
       OR (s.period_from <= NEW.created_at AND s.period_to > NEW.created_at))
     AND (OLD.org_path IS DISTINCT FROM NEW.org_path
       OR OLD.created_at IS DISTINCT FROM NEW.created_at
       OR OLD.respond_by IS DISTINCT FROM NEW.respond_by
       OR (OLD.resolve_by IS NULL) <> (NEW.resolve_by IS NULL)
       OR (s.period_to > LEAST(OLD.resolve_by, NEW.resolve_by)
           AND s.period_to <= GREATEST(OLD.resolve_by, NEW.resolve_by)));
  RETURN NULL;
END
$$;
CREATE TRIGGER rates_statements_moved AFTER UPDATE ON ticket_facts FOR EACH ROW
  WHEN ((OLD.org_path IS DISTINCT FROM NEW.org_path OR OLD.created_at IS DISTINCT FROM NEW.created_at
         OR OLD.respond_by IS DISTINCT FROM NEW.respond_by OR OLD.resolve_by IS DISTINCT FROM NEW.resolve_by)
        AND LEAST(OLD.created_at, NEW.created_at) < (clock_timestamp() AT TIME ZONE 'UTC') - interval '1 minute')
  EXECUTE FUNCTION rates_statements_moved();

-- A ticket deleted.
CREATE FUNCTION rates_statements_dropped() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM rates_written();
  DELETE FROM rates_statements s
   WHERE s.period_from <= OLD.created_at AND s.period_to > OLD.created_at;
  RETURN NULL;
END
$$;
CREATE TRIGGER rates_statements_dropped AFTER DELETE ON ticket_facts FOR EACH ROW
  WHEN (OLD.created_at < (clock_timestamp() AT TIME ZONE 'UTC') - interval '1 minute')
  EXECUTE FUNCTION rates_statements_dropped();
