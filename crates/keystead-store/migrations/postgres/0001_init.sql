-- Keystead schema v1 (PostgreSQL). Same tables and columns as migrations/sqlite/0001_init.sql;
-- only BYTEA, BIGSERIAL and the trigger syntax differ.

CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE keys (
    id                      TEXT PRIMARY KEY,
    tenant                  TEXT NOT NULL,
    name                    TEXT NOT NULL,
    purpose                 TEXT NOT NULL,
    algorithm               TEXT NOT NULL,
    usage_context           TEXT NOT NULL,
    owner                   TEXT NOT NULL,
    environment             TEXT NOT NULL,
    classification          TEXT NOT NULL,
    labels                  TEXT NOT NULL,
    origin                  TEXT NOT NULL,
    rotation_period_seconds BIGINT,
    recoverable             BIGINT NOT NULL,
    criticality             TEXT NOT NULL,
    created_at_ms           BIGINT NOT NULL,
    updated_at_ms           BIGINT NOT NULL,
    UNIQUE (tenant, name)
);

CREATE TABLE key_versions (
    key_id            TEXT NOT NULL REFERENCES keys (id),
    number            BIGINT NOT NULL,
    state             TEXT NOT NULL,
    kcv               TEXT NOT NULL,
    public_key_der    BYTEA,
    provenance        TEXT NOT NULL,
    sealed_material   BYTEA,
    created_at_ms     BIGINT NOT NULL,
    activated_at_ms   BIGINT,
    suspended_at_ms   BIGINT,
    deactivated_at_ms BIGINT,
    PRIMARY KEY (key_id, number)
);

CREATE TABLE principals (
    name          TEXT PRIMARY KEY,
    token_hash    BYTEA NOT NULL UNIQUE,
    roles         TEXT NOT NULL,
    tenant        TEXT,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE audit_events (
    seq            BIGSERIAL PRIMARY KEY,
    node           TEXT NOT NULL,
    node_seq       BIGINT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    actor          TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    action         TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    key_id         TEXT,
    event_json     TEXT NOT NULL,
    prev_hash      TEXT NOT NULL,
    hash           TEXT NOT NULL,
    UNIQUE (node, node_seq)
);

CREATE INDEX audit_events_key ON audit_events (key_id, seq);

CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
