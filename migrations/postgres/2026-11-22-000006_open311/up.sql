-- Open311 GeoReport v2: channel keys, what each request brought besides the ticket,
-- where communities are (for mapping coordinates), and the attributes of categories.

-- A channel (a city app, a hotline system) and its key. Only a SHA-256 of the key is kept;
-- tickets are logged as the channel's own account, a supervisor of `org_unit_id`'s subtree.
CREATE TABLE open311_keys (
    id BIGSERIAL PRIMARY KEY,
    channel TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    account_id BIGINT NOT NULL REFERENCES users (id),
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE open311_requests (
    ticket_id BIGINT PRIMARY KEY REFERENCES tickets (id),
    key_id BIGINT NOT NULL REFERENCES open311_keys (id),
    token TEXT NOT NULL UNIQUE,
    address_id TEXT,
    email TEXT,
    device_id TEXT,
    account_id TEXT,
    first_name TEXT,
    last_name TEXT,
    media_url TEXT,
    -- The attribute[CODE] answers, as a JSON object.
    attributes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Where a community is: a centre and/or a boundary (a JSON array of [lat, long] points).
CREATE TABLE org_unit_geo (
    org_unit_id BIGINT PRIMARY KEY REFERENCES org_units (id),
    centre_lat DOUBLE PRECISION,
    centre_long DOUBLE PRECISION,
    boundary TEXT
);

-- The extra questions of a category (Open311 service attributes), a JSON array.
CREATE TABLE category_attributes (
    category_id BIGINT PRIMARY KEY REFERENCES categories (id),
    definition TEXT NOT NULL
);
