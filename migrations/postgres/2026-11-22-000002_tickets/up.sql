-- Tickets, their append-only event trail, human-readable numbers, idempotent logging, photos.

CREATE TABLE tickets (
    id BIGSERIAL PRIMARY KEY,
    -- <district code>-<year>-<sequence>, counted per district and year (ticket_counters).
    number TEXT NOT NULL UNIQUE,
    category_id BIGINT NOT NULL REFERENCES categories (id),
    priority TEXT NOT NULL CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    community_id BIGINT NOT NULL REFERENCES org_units (id),
    grid_id BIGINT REFERENCES org_units (id),
    -- The community's materialised path: scope filters are a range scan on it.
    org_path TEXT NOT NULL,
    address TEXT NOT NULL,
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    resident_name TEXT,
    resident_phone TEXT,
    households INTEGER NOT NULL CHECK (households > 0),
    status TEXT NOT NULL CHECK (status IN ('reported', 'dispatched', 'claimed', 'in_progress', 'resolved', 'closed', 'returned', 'reopened', 'cancelled', 'merged')),
    partner_id BIGINT REFERENCES partners (id),
    in_pool BOOLEAN NOT NULL,
    level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 3),
    satisfaction TEXT CHECK (satisfaction IN ('satisfied', 'basically_satisfied', 'unsatisfied')),
    respond_by TIMESTAMP,
    resolve_by TIMESTAMP,
    responded_at TIMESTAMP,
    resolved_at TIMESTAMP,
    closed_at TIMESTAMP,
    merged_into_id BIGINT REFERENCES tickets (id),
    reopen_count INTEGER NOT NULL,
    return_count INTEGER NOT NULL,
    reported_by BIGINT NOT NULL REFERENCES users (id),
    -- Bumped by every change; a change names the version it read, so one of two racing wins.
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX tickets_org_path_idx ON tickets (org_path text_pattern_ops, id);
CREATE INDEX tickets_partner_idx ON tickets (partner_id, id);
CREATE INDEX tickets_status_idx ON tickets (status, id);
CREATE INDEX tickets_pool_idx ON tickets (community_id, category_id) WHERE in_pool;

CREATE TABLE ticket_events (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    -- NULL for the system (the scheduler).
    actor_id BIGINT REFERENCES users (id),
    kind TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    partner_id BIGINT REFERENCES partners (id),
    note TEXT,
    -- Extra facts of the event as JSON text (satisfaction, merged ticket, ...).
    detail TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX ticket_events_ticket_idx ON ticket_events (ticket_id, id);
CREATE INDEX ticket_events_kind_idx ON ticket_events (kind, created_at);

-- The audit trail is append-only, whoever connects.
CREATE FUNCTION ticket_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ticket events are append-only';
END;
$$;
CREATE TRIGGER ticket_events_no_update BEFORE UPDATE OR DELETE ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION ticket_events_append_only();

CREATE TABLE ticket_counters (
    district_id BIGINT NOT NULL REFERENCES org_units (id),
    year INTEGER NOT NULL,
    last_number BIGINT NOT NULL,
    PRIMARY KEY (district_id, year)
);

CREATE TABLE idempotency_keys (
    user_id BIGINT NOT NULL REFERENCES users (id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE attachments (
    id BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    file_name TEXT NOT NULL,
    uploaded_by BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX attachments_ticket_idx ON attachments (ticket_id);
