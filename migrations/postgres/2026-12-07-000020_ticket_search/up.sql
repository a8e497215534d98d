-- Finding a ticket the way a hotline does when a resident calls back: by the last four
-- digits of the resident's phone (or the whole number: the same index, then the number),
-- and by a piece of the address (the address's two-character pieces, as titles' are in
-- migration 16). Without them each search reads every ticket of the scope.
CREATE INDEX tickets_phone_tail_idx ON tickets (right(resident_phone, 4))
    WHERE resident_phone IS NOT NULL;
CREATE INDEX tickets_address_grams_idx ON tickets USING gin (ticket_title_grams(address));

-- The front page's map: the tickets being worked that have coordinates, newest first. Most
-- of a city's tickets may have none, and without this the map walked them all.
CREATE INDEX tickets_open_placed_idx ON tickets (id)
    WHERE latitude IS NOT NULL AND status NOT IN ('resolved', 'closed', 'cancelled', 'merged');
