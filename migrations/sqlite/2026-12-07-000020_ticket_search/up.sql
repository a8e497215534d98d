-- Finding a ticket by the last four digits of the resident's phone (or the whole number:
-- the same index, then the number). Addresses are searched with LIKE, as titles are.
CREATE INDEX tickets_phone_tail_idx ON tickets (substr(resident_phone, -4))
    WHERE resident_phone IS NOT NULL;

-- The front page's map: the tickets being worked that have coordinates, newest first.
CREATE INDEX tickets_open_placed_idx ON tickets (id)
    WHERE latitude IS NOT NULL AND status NOT IN ('resolved', 'closed', 'cancelled', 'merged');
