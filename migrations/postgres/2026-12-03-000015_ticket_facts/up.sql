-- Each ticket's facts for the three rates, folded from its event trail and kept by the
-- database in the same transaction as every ticket and event write (whichever path writes
-- them: the lifecycle, the sweep, Open311, the generator, a repair by hand). A period's
-- figures read one narrow row per ticket instead of the ticket's wide row and its trail.
--
-- The fold is the one `stats::setwise` makes over the events (and `stats::reference`
-- replays): the first claim and first resolve (earliest) and the whole minutes from
-- logging to each, as chrono's `num_minutes` counts them; of the last event of each kind
-- (by id, the order a ticket's trail is written in): resolved or reopened, the return
-- visit's verdict, the holding unit (none after a return), cancelled or merged; whether it
-- was ever reopened or escalated. `last_event_at` says for which period ends the row
-- holds: a period ending after it sees the whole trail, so the row is the trail's fold as
-- of that end; a period ending before it folds the events again.

CREATE TABLE ticket_facts (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    org_path TEXT COLLATE "C" NOT NULL,
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

-- A subtree's period (a range of paths, then of instants), the city's period, and the few
-- tickets whose trail goes on past a period's end.
CREATE INDEX ticket_facts_path_idx ON ticket_facts (org_path, created_at);
CREATE INDEX ticket_facts_created_idx ON ticket_facts (created_at);
CREATE INDEX ticket_facts_last_event_idx ON ticket_facts (last_event_at);

-- Every ticket's facts from the trails written so far: started, then folded as the
-- trigger below folds new events (the same statement over all of them).
INSERT INTO ticket_facts (ticket_id, org_path, created_at, respond_by, resolve_by)
SELECT id, org_path, created_at, respond_by, resolve_by FROM tickets;
UPDATE ticket_facts x SET
      first_claim = LEAST(x.first_claim, b.first_claim),
      first_resolve = LEAST(x.first_resolve, b.first_resolve),
      response_minutes = CAST(trunc(extract(epoch FROM LEAST(x.first_claim, b.first_claim) - x.created_at)) AS BIGINT) / 60,
      resolution_minutes = CAST(trunc(extract(epoch FROM LEAST(x.first_resolve, b.first_resolve) - x.created_at)) AS BIGINT) / 60,
      resolved = COALESCE(CAST(b.state % 2 AS SMALLINT), x.resolved),
      satisfied = COALESCE(CAST(b.visit % 2 AS SMALLINT), x.satisfied),
      holder = CASE WHEN b.hold IS NULL THEN x.holder ELSE NULLIF(b.hold % 16777216, 0) END,
      ending = COALESCE(CAST(b.ending % 4 AS SMALLINT), x.ending),
      reopened = GREATEST(x.reopened, b.reopened),
      escalated = GREATEST(x.escalated, b.escalated),
      last_event_at = GREATEST(x.last_event_at, b.last_event_at)
    FROM (
      SELECT e.ticket_id,
        MIN(CASE WHEN e.kind = 'claimed' THEN e.created_at END) AS first_claim,
        MIN(CASE WHEN e.kind = 'resolved' THEN e.created_at END) AS first_resolve,
        MAX(CASE WHEN e.kind IN ('resolved', 'closed') THEN e.id * 2 + 1
                 WHEN e.kind = 'reopened' THEN e.id * 2 END) AS state,
        MAX(e.id * 2 + CASE WHEN e.kind NOT IN ('closed', 'reopened') THEN NULL
                            WHEN (CAST(e.detail AS jsonb) ->> 'satisfaction') = 'unsatisfied' THEN 0
                            WHEN (CAST(e.detail AS jsonb) ->> 'satisfaction') IS NOT NULL THEN 1 END) AS visit,
        MAX(CASE WHEN e.kind IN ('claimed', 'dispatched', 'reassigned', 'returned')
                 THEN e.id * 16777216 + CASE WHEN e.kind = 'returned' THEN 0
                                             ELSE COALESCE(e.partner_id, 0) END END) AS hold,
        MAX(CASE WHEN e.kind IN ('cancelled', 'merged') THEN e.id * 4 +
                 CASE e.to_status WHEN 'cancelled' THEN 1 WHEN 'merged' THEN 2 ELSE 0 END END) AS ending,
        MAX(CASE WHEN e.kind = 'reopened' THEN 1 ELSE 0 END) AS reopened,
        MAX(CASE WHEN e.kind = 'escalated' THEN 1 ELSE 0 END) AS escalated,
        MAX(e.created_at) AS last_event_at
      FROM ticket_events e GROUP BY e.ticket_id) b
    WHERE x.ticket_id = b.ticket_id;

-- A new ticket starts its facts.
CREATE FUNCTION ticket_facts_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ticket_facts (ticket_id, org_path, created_at, respond_by, resolve_by)
  SELECT id, org_path, created_at, respond_by, resolve_by FROM new_tickets;
  RETURN NULL;
END
$$;
CREATE TRIGGER ticket_facts_start AFTER INSERT ON tickets
  REFERENCING NEW TABLE AS new_tickets FOR EACH STATEMENT EXECUTE FUNCTION ticket_facts_start();

-- A ticket's place and deadlines follow it (escalation, extension, a pause).
CREATE FUNCTION ticket_facts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ticket_facts SET org_path = NEW.org_path, created_at = NEW.created_at,
    respond_by = NEW.respond_by, resolve_by = NEW.resolve_by,
    response_minutes = CAST(trunc(extract(epoch FROM first_claim - NEW.created_at)) AS BIGINT) / 60,
    resolution_minutes = CAST(trunc(extract(epoch FROM first_resolve - NEW.created_at)) AS BIGINT) / 60
  WHERE ticket_id = NEW.id;
  RETURN NULL;
END
$$;
CREATE TRIGGER ticket_facts_follow AFTER UPDATE OF org_path, created_at, respond_by, resolve_by
  ON tickets FOR EACH ROW
  WHEN (OLD.org_path IS DISTINCT FROM NEW.org_path OR OLD.created_at IS DISTINCT FROM NEW.created_at
        OR OLD.respond_by IS DISTINCT FROM NEW.respond_by OR OLD.resolve_by IS DISTINCT FROM NEW.resolve_by)
  EXECUTE FUNCTION ticket_facts_follow();

-- New events fold into their tickets' facts, set-wise per statement: the new events come
-- after every earlier one of their ticket, so the last of a kind among them is the last.
CREATE FUNCTION ticket_facts_fold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ticket_facts x SET
      first_claim = LEAST(x.first_claim, b.first_claim),
      first_resolve = LEAST(x.first_resolve, b.first_resolve),
      response_minutes = CAST(trunc(extract(epoch FROM LEAST(x.first_claim, b.first_claim) - x.created_at)) AS BIGINT) / 60,
      resolution_minutes = CAST(trunc(extract(epoch FROM LEAST(x.first_resolve, b.first_resolve) - x.created_at)) AS BIGINT) / 60,
      resolved = COALESCE(CAST(b.state % 2 AS SMALLINT), x.resolved),
      satisfied = COALESCE(CAST(b.visit % 2 AS SMALLINT), x.satisfied),
      holder = CASE WHEN b.hold IS NULL THEN x.holder ELSE NULLIF(b.hold % 16777216, 0) END,
      ending = COALESCE(CAST(b.ending % 4 AS SMALLINT), x.ending),
      reopened = GREATEST(x.reopened, b.reopened),
      escalated = GREATEST(x.escalated, b.escalated),
      last_event_at = GREATEST(x.last_event_at, b.last_event_at)
    FROM (
      SELECT e.ticket_id,
        MIN(CASE WHEN e.kind = 'claimed' THEN e.created_at END) AS first_claim,
        MIN(CASE WHEN e.kind = 'resolved' THEN e.created_at END) AS first_resolve,
        MAX(CASE WHEN e.kind IN ('resolved', 'closed') THEN e.id * 2 + 1
                 WHEN e.kind = 'reopened' THEN e.id * 2 END) AS state,
        MAX(e.id * 2 + CASE WHEN e.kind NOT IN ('closed', 'reopened') THEN NULL
                            WHEN (CAST(e.detail AS jsonb) ->> 'satisfaction') = 'unsatisfied' THEN 0
                            WHEN (CAST(e.detail AS jsonb) ->> 'satisfaction') IS NOT NULL THEN 1 END) AS visit,
        MAX(CASE WHEN e.kind IN ('claimed', 'dispatched', 'reassigned', 'returned')
                 THEN e.id * 16777216 + CASE WHEN e.kind = 'returned' THEN 0
                                             ELSE COALESCE(e.partner_id, 0) END END) AS hold,
        MAX(CASE WHEN e.kind IN ('cancelled', 'merged') THEN e.id * 4 +
                 CASE e.to_status WHEN 'cancelled' THEN 1 WHEN 'merged' THEN 2 ELSE 0 END END) AS ending,
        MAX(CASE WHEN e.kind = 'reopened' THEN 1 ELSE 0 END) AS reopened,
        MAX(CASE WHEN e.kind = 'escalated' THEN 1 ELSE 0 END) AS escalated,
        MAX(e.created_at) AS last_event_at
      FROM new_events e GROUP BY e.ticket_id) b
    WHERE x.ticket_id = b.ticket_id;
  RETURN NULL;
END
$$;
CREATE TRIGGER ticket_facts_fold AFTER INSERT ON ticket_events
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION ticket_facts_fold();
