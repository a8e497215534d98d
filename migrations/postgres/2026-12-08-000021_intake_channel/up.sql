-- How each ticket came in (12345 hotline transfer, grid patrol, walk-in, app, the
-- residents' web form, other) and, for a hotline transfer, the hotline's own ticket
-- number: one row per ticket, beside it (the tickets table is at its column limit).
CREATE TABLE ticket_intake (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    channel TEXT NOT NULL
        CHECK (channel IN ('hotline', 'patrol', 'walk_in', 'app', 'web', 'other')),
    -- The hotline (e.g. 12345) and its number for the transfer; both or neither, and only
    -- on a hotline transfer.
    hotline TEXT,
    hotline_ref TEXT,
    CHECK ((hotline IS NULL) = (hotline_ref IS NULL)),
    CHECK (hotline_ref IS NULL OR channel = 'hotline')
);

-- A hotline's transfer is logged once: the same number again is refused. Led by the
-- number, so a search by the number alone reads it too.
CREATE UNIQUE INDEX ticket_intake_hotline_ref_idx ON ticket_intake (hotline_ref, hotline)
    WHERE hotline_ref IS NOT NULL;
-- The list's channel filter, newest first.
CREATE INDEX ticket_intake_channel_idx ON ticket_intake (channel, ticket_id);

-- The tickets already logged: those an Open311 request brought came by app, those a grid
-- member logged by patrol, the rest by a channel nobody recorded.
INSERT INTO ticket_intake (ticket_id, channel)
SELECT t.id,
       CASE WHEN EXISTS (SELECT 1 FROM open311_requests o WHERE o.ticket_id = t.id) THEN 'app'
            WHEN u.role = 'grid_member' THEN 'patrol'
            ELSE 'other' END
FROM tickets t JOIN users u ON u.id = t.reported_by;
