-- The org tree, partner units, categories with SLA policies, and accounts.
-- Timestamps are UTC without time zone (the application passes `now` in).

CREATE TABLE org_units (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id BIGINT REFERENCES org_units (id),
    kind TEXT NOT NULL CHECK (kind IN ('city', 'district', 'street', 'community', 'grid')),
    name TEXT NOT NULL,
    code TEXT NOT NULL UNIQUE,
    -- Materialised path of ids, '/1/4/9/': a subtree is a prefix match.
    path TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (parent_id, name)
);
CREATE INDEX org_units_path_idx ON org_units (path);
CREATE INDEX org_units_parent_idx ON org_units (parent_id);

CREATE TABLE org_unit_emails (
    org_unit_id BIGINT NOT NULL REFERENCES org_units (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    PRIMARY KEY (org_unit_id, email)
);

CREATE TABLE categories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    default_priority TEXT NOT NULL CHECK (default_priority IN ('urgent', 'high', 'normal', 'low')),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE sla_policies (
    category_id BIGINT NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    priority TEXT NOT NULL CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
    respond_minutes INTEGER NOT NULL CHECK (respond_minutes > 0),
    resolve_minutes INTEGER NOT NULL CHECK (resolve_minutes > 0),
    clock TEXT NOT NULL CHECK (clock IN ('calendar', 'working')),
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (category_id, priority)
);

CREATE TABLE partners (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('property', 'school', 'hospital', 'elderly_care', 'enterprise', 'social_org', 'government_dept', 'other')),
    contact_email TEXT NOT NULL,
    contact_phone TEXT,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE partner_communities (
    partner_id BIGINT NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    org_unit_id BIGINT NOT NULL REFERENCES org_units (id),
    PRIMARY KEY (partner_id, org_unit_id)
);
CREATE INDEX partner_communities_org_idx ON partner_communities (org_unit_id);

CREATE TABLE partner_categories (
    partner_id BIGINT NOT NULL REFERENCES partners (id) ON DELETE CASCADE,
    category_id BIGINT NOT NULL REFERENCES categories (id),
    PRIMARY KEY (partner_id, category_id)
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    email TEXT,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('grid_member', 'unit_staff', 'supervisor', 'admin')),
    org_unit_id BIGINT REFERENCES org_units (id),
    partner_id BIGINT REFERENCES partners (id),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX users_org_unit_idx ON users (org_unit_id);
CREATE INDEX users_partner_idx ON users (partner_id);
