-- Ticket lists are newest first (id descending) under a scope and one filter. Each index
-- below hands the planner the rows of one filter already in id order (or the few rows of
-- a scope within it), so a page reads about as many rows as it shows, however large the
-- city.

-- `category=`: a category's tickets, newest first.
CREATE INDEX tickets_category_idx ON tickets (category_id, id);

-- `level=`: the escalated tickets (a few per cent), newest first.
CREATE INDEX tickets_level_idx ON tickets (level, id) WHERE level > 0;

-- `partner_id=` under a scope: a unit serves a few communities, so a district's view of a
-- city-wide unit is a short range here instead of a walk through all the unit's tickets.
CREATE INDEX tickets_partner_path_idx ON tickets (partner_id, org_path, id)
    WHERE partner_id IS NOT NULL;

-- The open tickets (a few per cent of a city's year) in id order, the city's and a scope's:
-- lists of several open statuses read these instead of walking past the closed ones. The
-- predicate is the one the open statuses imply.
CREATE INDEX tickets_open_idx ON tickets (id)
    WHERE status NOT IN ('resolved', 'closed', 'cancelled', 'merged');
CREATE INDEX tickets_open_path_idx ON tickets (org_path, id)
    WHERE status NOT IN ('resolved', 'closed', 'cancelled', 'merged');

-- Overdue: the instant each open ticket falls late (`tickets::queries::LATE_SINCE`, the
-- same expression): the late ones are the range before now, the most late first.
CREATE INDEX tickets_late_idx ON tickets ((CASE WHEN responded_at IS NULL AND respond_by IS NOT NULL
     AND (resolve_by IS NULL OR respond_by < resolve_by) THEN respond_by ELSE resolve_by END), id)
    WHERE status NOT IN ('resolved', 'closed', 'cancelled', 'merged');
