-- Each ticket's facts for the three rates, folded from its event trail and kept by the
-- database in the same transaction as every ticket and event write. The PostgreSQL
-- migration of the same name says what each column holds; here the triggers fold one
-- event at a time, in the order the trail is written. Whole minutes between two instants
-- kept as text are whole seconds from `strftime('%s')` and the fraction from the text, cut
-- toward zero, as chrono's `num_minutes` (and `stats::setwise`) count them.

CREATE TABLE ticket_facts (
    ticket_id INTEGER PRIMARY KEY NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    org_path TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    respond_by TIMESTAMP,
    resolve_by TIMESTAMP,
    first_claim TIMESTAMP,
    first_resolve TIMESTAMP,
    response_minutes BIGINT,
    resolution_minutes BIGINT,
    resolved SMALLINT NOT NULL DEFAULT 0,
    satisfied SMALLINT,
    holder BIGINT,
    ending SMALLINT NOT NULL DEFAULT 0,
    reopened SMALLINT NOT NULL DEFAULT 0,
    escalated SMALLINT NOT NULL DEFAULT 0,
    last_event_at TIMESTAMP
);

-- Each index is written with every ticket (and the last one with every event), and
-- SQLite commits one writer at a time, so it keeps the fewest: the ticket id is the row id,
-- and every scope, the whole tree's included, is a range of the path index (an
-- installation on SQLite serves a street or a district, not a city's year).
CREATE INDEX ticket_facts_path_idx ON ticket_facts (org_path, created_at);
CREATE INDEX ticket_facts_last_event_idx ON ticket_facts (last_event_at);

CREATE TRIGGER ticket_facts_start AFTER INSERT ON tickets
BEGIN
  INSERT INTO ticket_facts (ticket_id, org_path, created_at, respond_by, resolve_by)
  VALUES (NEW.id, NEW.org_path, NEW.created_at, NEW.respond_by, NEW.resolve_by);
END;

CREATE TRIGGER ticket_facts_follow AFTER UPDATE OF org_path, created_at, respond_by, resolve_by ON tickets
WHEN OLD.org_path IS NOT NEW.org_path OR OLD.created_at IS NOT NEW.created_at
  OR OLD.respond_by IS NOT NEW.respond_by OR OLD.resolve_by IS NOT NEW.resolve_by
BEGIN
  UPDATE ticket_facts SET org_path = NEW.org_path, created_at = NEW.created_at,
    respond_by = NEW.respond_by, resolve_by = NEW.resolve_by,
    response_minutes = (((CAST(strftime('%s', substr(first_claim, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(NEW.created_at, 1, 19)) AS INTEGER)) * 1000000000 + CAST(substr(substr(first_claim, 21) || '000000000', 1, 9) AS INTEGER) - CAST(substr(substr(NEW.created_at, 21) || '000000000', 1, 9) AS INTEGER)) / 1000000000 / 60),
    resolution_minutes = (((CAST(strftime('%s', substr(first_resolve, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(NEW.created_at, 1, 19)) AS INTEGER)) * 1000000000 + CAST(substr(substr(first_resolve, 21) || '000000000', 1, 9) AS INTEGER) - CAST(substr(substr(NEW.created_at, 21) || '000000000', 1, 9) AS INTEGER)) / 1000000000 / 60)
  WHERE ticket_id = NEW.id;
END;

CREATE TRIGGER ticket_facts_fold AFTER INSERT ON ticket_events
BEGIN
  UPDATE ticket_facts SET
    first_claim = CASE WHEN NEW.kind = 'claimed' AND (first_claim IS NULL OR NEW.created_at < first_claim)
                       THEN NEW.created_at ELSE first_claim END,
    first_resolve = CASE WHEN NEW.kind = 'resolved' AND (first_resolve IS NULL OR NEW.created_at < first_resolve)
                         THEN NEW.created_at ELSE first_resolve END,
    response_minutes = CASE WHEN NEW.kind = 'claimed' AND (first_claim IS NULL OR NEW.created_at < first_claim)
                            THEN (((CAST(strftime('%s', substr(NEW.created_at, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER)) * 1000000000 + CAST(substr(substr(NEW.created_at, 21) || '000000000', 1, 9) AS INTEGER) - CAST(substr(substr(created_at, 21) || '000000000', 1, 9) AS INTEGER)) / 1000000000 / 60) ELSE response_minutes END,
    resolution_minutes = CASE WHEN NEW.kind = 'resolved' AND (first_resolve IS NULL OR NEW.created_at < first_resolve)
                              THEN (((CAST(strftime('%s', substr(NEW.created_at, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER)) * 1000000000 + CAST(substr(substr(NEW.created_at, 21) || '000000000', 1, 9) AS INTEGER) - CAST(substr(substr(created_at, 21) || '000000000', 1, 9) AS INTEGER)) / 1000000000 / 60) ELSE resolution_minutes END,
    resolved = CASE WHEN NEW.kind IN ('resolved', 'closed') THEN 1
                    WHEN NEW.kind = 'reopened' THEN 0 ELSE resolved END,
    satisfied = CASE WHEN NEW.kind NOT IN ('closed', 'reopened') THEN satisfied
                     WHEN json_extract(NEW.detail, '$.satisfaction') = 'unsatisfied' THEN 0
                     WHEN json_extract(NEW.detail, '$.satisfaction') IS NOT NULL THEN 1
                     ELSE satisfied END,
    holder = CASE WHEN NEW.kind IN ('claimed', 'dispatched', 'reassigned') THEN NEW.partner_id
                  WHEN NEW.kind = 'returned' THEN NULL ELSE holder END,
    ending = CASE WHEN NEW.kind IN ('cancelled', 'merged')
                  THEN CASE NEW.to_status WHEN 'cancelled' THEN 1 WHEN 'merged' THEN 2 ELSE 0 END
                  ELSE ending END,
    reopened = CASE WHEN NEW.kind = 'reopened' THEN 1 ELSE reopened END,
    escalated = CASE WHEN NEW.kind = 'escalated' THEN 1 ELSE escalated END,
    last_event_at = CASE WHEN last_event_at IS NULL OR NEW.created_at > last_event_at
                         THEN NEW.created_at ELSE last_event_at END
  WHERE ticket_id = NEW.ticket_id;
END;

-- Every ticket's facts from the trails written so far: started, then each event folded in
-- id order, as the triggers above do.
INSERT INTO ticket_facts (ticket_id, org_path, created_at, respond_by, resolve_by)
SELECT id, org_path, created_at, respond_by, resolve_by FROM tickets;
UPDATE ticket_facts SET
  first_claim = (SELECT MIN(created_at) FROM ticket_events e
                 WHERE e.ticket_id = ticket_facts.ticket_id AND e.kind = 'claimed'),
  first_resolve = (SELECT MIN(created_at) FROM ticket_events e
                   WHERE e.ticket_id = ticket_facts.ticket_id AND e.kind = 'resolved'),
  resolved = COALESCE((SELECT CASE WHEN e.kind = 'reopened' THEN 0 ELSE 1 END FROM ticket_events e
                       WHERE e.ticket_id = ticket_facts.ticket_id
                         AND e.kind IN ('resolved', 'closed', 'reopened')
                       ORDER BY e.id DESC LIMIT 1), 0),
  satisfied = (SELECT v FROM (
                 SELECT e.id, CASE WHEN e.kind NOT IN ('closed', 'reopened') THEN NULL
                                   WHEN json_extract(e.detail, '$.satisfaction') = 'unsatisfied' THEN 0
                                   WHEN json_extract(e.detail, '$.satisfaction') IS NOT NULL THEN 1 END AS v
                 FROM ticket_events e WHERE e.ticket_id = ticket_facts.ticket_id) w
               WHERE v IS NOT NULL ORDER BY id DESC LIMIT 1),
  holder = (SELECT CASE WHEN e.kind = 'returned' THEN NULL ELSE e.partner_id END FROM ticket_events e
            WHERE e.ticket_id = ticket_facts.ticket_id
              AND e.kind IN ('claimed', 'dispatched', 'reassigned', 'returned')
            ORDER BY e.id DESC LIMIT 1),
  ending = COALESCE((SELECT CASE e.to_status WHEN 'cancelled' THEN 1 WHEN 'merged' THEN 2 ELSE 0 END
                     FROM ticket_events e
                     WHERE e.ticket_id = ticket_facts.ticket_id AND e.kind IN ('cancelled', 'merged')
                     ORDER BY e.id DESC LIMIT 1), 0),
  reopened = EXISTS (SELECT 1 FROM ticket_events e
                     WHERE e.ticket_id = ticket_facts.ticket_id AND e.kind = 'reopened'),
  escalated = EXISTS (SELECT 1 FROM ticket_events e
                      WHERE e.ticket_id = ticket_facts.ticket_id AND e.kind = 'escalated'),
  last_event_at = (SELECT MAX(created_at) FROM ticket_events e
                   WHERE e.ticket_id = ticket_facts.ticket_id);
UPDATE ticket_facts SET
  response_minutes = (((CAST(strftime('%s', substr(first_claim, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER)) * 1000000000 + CAST(substr(substr(first_claim, 21) || '000000000', 1, 9) AS INTEGER) - CAST(substr(substr(created_at, 21) || '000000000', 1, 9) AS INTEGER)) / 1000000000 / 60),
  resolution_minutes = (((CAST(strftime('%s', substr(first_resolve, 1, 19)) AS INTEGER) - CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER)) * 1000000000 + CAST(substr(substr(first_resolve, 21) || '000000000', 1, 9) AS INTEGER) - CAST(substr(substr(created_at, 21) || '000000000', 1, 9) AS INTEGER)) / 1000000000 / 60);
