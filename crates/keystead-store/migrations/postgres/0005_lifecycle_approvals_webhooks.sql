-- Compromise reports, scheduled destruction and originator-usage periods; quorum approvals;
-- webhooks and their durable outbox. Same tables on SQLite and PostgreSQL.

ALTER TABLE keys ADD COLUMN protect_period_seconds BIGINT;

ALTER TABLE key_versions ADD COLUMN compromise TEXT;
ALTER TABLE key_versions ADD COLUMN destroy_at_ms BIGINT;
ALTER TABLE key_versions ADD COLUMN destroyed_at_ms BIGINT;

-- The scheduler's questions ("what is due?") read these without scanning every version.
CREATE INDEX key_versions_destroy_at ON key_versions (destroy_at_ms);
CREATE INDEX key_versions_state ON key_versions (state, key_id);

-- One row per request; body holds the parameters, policy and justification as JSON.
CREATE TABLE approvals (
    id             TEXT PRIMARY KEY,
    operation      TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    key_id         TEXT NOT NULL REFERENCES keys (id),
    version        BIGINT,
    requester      TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    decided_at_ms  BIGINT,
    body           TEXT NOT NULL
);

CREATE INDEX approvals_status ON approvals (status, expires_at_ms);
CREATE INDEX approvals_key ON approvals (key_id, operation, status);

-- The primary key makes "one vote per principal per request" a rule of the database.
CREATE TABLE approval_votes (
    approval_id TEXT NOT NULL REFERENCES approvals (id),
    principal   TEXT NOT NULL,
    role        TEXT NOT NULL,
    approve     BIGINT NOT NULL,
    reason      TEXT,
    at_ms       BIGINT NOT NULL,
    PRIMARY KEY (approval_id, principal)
);

-- The signing secret is sealed under the root key like key material.
CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,
    sealed_secret BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL,
    created_by    TEXT NOT NULL
);

-- The outbox: written in the transaction of the change it reports, delivered and retried
-- by a worker on any node (a lease keeps two nodes from sending the same row at once).
CREATE TABLE webhook_outbox (
    id                 TEXT PRIMARY KEY,
    webhook_id         TEXT NOT NULL REFERENCES webhooks (id),
    event_type         TEXT NOT NULL,
    body               TEXT NOT NULL,
    status             TEXT NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    created_at_ms      BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    expires_at_ms      BIGINT NOT NULL,
    lease_until_ms     BIGINT,
    delivered_at_ms    BIGINT,
    last_error         TEXT
);

CREATE INDEX webhook_outbox_due ON webhook_outbox (status, next_attempt_at_ms);
