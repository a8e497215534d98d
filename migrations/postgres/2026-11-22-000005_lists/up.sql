-- The three lists: needs (需求清单), resources (资源清单), projects (项目清单).

CREATE TABLE needs (
    id BIGSERIAL PRIMARY KEY,
    community_id BIGINT NOT NULL REFERENCES org_units (id),
    org_path TEXT NOT NULL,
    category_id BIGINT NOT NULL REFERENCES categories (id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    households INTEGER NOT NULL CHECK (households > 0),
    urgency TEXT NOT NULL CHECK (urgency IN ('urgent', 'high', 'normal', 'low')),
    status TEXT NOT NULL CHECK (status IN ('open', 'matched', 'in_progress', 'done', 'dropped')),
    -- 'direct' (entered by a supervisor) or 'tickets' (gathered from tickets).
    source TEXT NOT NULL CHECK (source IN ('direct', 'tickets')),
    -- Published needs are readable, and claimable, by the partner units of the community.
    published BOOLEAN NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX needs_org_path_idx ON needs (org_path text_pattern_ops, id);

-- A ticket belongs to at most one need.
CREATE TABLE need_tickets (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id),
    need_id BIGINT NOT NULL REFERENCES needs (id)
);
CREATE INDEX need_tickets_need_idx ON need_tickets (need_id);

CREATE TABLE resources (
    id BIGSERIAL PRIMARY KEY,
    partner_id BIGINT NOT NULL REFERENCES partners (id),
    category_id BIGINT REFERENCES categories (id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    capacity TEXT NOT NULL,
    schedule TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX resources_partner_idx ON resources (partner_id);

CREATE TABLE resource_communities (
    resource_id BIGINT NOT NULL REFERENCES resources (id),
    org_unit_id BIGINT NOT NULL REFERENCES org_units (id),
    PRIMARY KEY (resource_id, org_unit_id)
);

CREATE TABLE projects (
    id BIGSERIAL PRIMARY KEY,
    need_id BIGINT REFERENCES needs (id),
    resource_id BIGINT REFERENCES resources (id),
    owner_partner_id BIGINT NOT NULL REFERENCES partners (id),
    community_id BIGINT NOT NULL REFERENCES org_units (id),
    org_path TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('planned', 'in_progress', 'done', 'cancelled')),
    due_at TIMESTAMP NOT NULL,
    created_by BIGINT NOT NULL REFERENCES users (id),
    version INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX projects_org_path_idx ON projects (org_path text_pattern_ops, id);
CREATE INDEX projects_owner_idx ON projects (owner_partner_id);
-- One live project per need.
CREATE UNIQUE INDEX projects_one_per_need_idx ON projects (need_id) WHERE status <> 'cancelled';

CREATE TABLE project_milestones (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    title TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    done_at TIMESTAMP
);
CREATE INDEX project_milestones_project_idx ON project_milestones (project_id);

CREATE TABLE project_events (
    id BIGSERIAL PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    actor_id BIGINT REFERENCES users (id),
    kind TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    note TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX project_events_project_idx ON project_events (project_id, id);
CREATE FUNCTION project_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'project events are append-only';
END;
$$;
CREATE TRIGGER project_events_no_update BEFORE UPDATE OR DELETE ON project_events
    FOR EACH ROW EXECUTE FUNCTION project_events_append_only();
