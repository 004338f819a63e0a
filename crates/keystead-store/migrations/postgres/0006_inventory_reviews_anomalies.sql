-- Owners' periodic attestations (inventory review) and anomalies raised over the audit stream.
-- Same tables on SQLite and PostgreSQL.

CREATE TABLE key_reviews (
    key_id         TEXT NOT NULL REFERENCES keys (id),
    reviewed_at_ms BIGINT NOT NULL,
    reviewer       TEXT NOT NULL,
    as_owner       BIGINT NOT NULL,
    attestation    TEXT NOT NULL,
    PRIMARY KEY (key_id, reviewed_at_ms, reviewer)
);

-- One row per finding; `dedupe` names the rule and its subject (an event, or a principal in a
-- time window), so two nodes scanning the same events raise it once.
CREATE TABLE anomalies (
    id             TEXT PRIMARY KEY,
    rule           TEXT NOT NULL,
    dedupe         TEXT NOT NULL UNIQUE,
    severity       TEXT NOT NULL,
    detected_at_ms BIGINT NOT NULL,
    occurred_at_ms BIGINT NOT NULL,
    actor          TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    key_id         TEXT,
    summary        TEXT NOT NULL,
    evidence       TEXT NOT NULL
);

CREATE INDEX anomalies_detected ON anomalies (detected_at_ms);

-- Inventory filters and sorts over many keys.
CREATE INDEX keys_owner ON keys (owner);
CREATE INDEX keys_created ON keys (created_at_ms);
CREATE INDEX audit_events_time ON audit_events (occurred_at_ms);

-- The newest version's and the newest review's times, kept on the key row so the inventory
-- filters and sorts on them without a subquery per key.
ALTER TABLE keys ADD COLUMN rotated_at_ms BIGINT;
ALTER TABLE keys ADD COLUMN reviewed_at_ms BIGINT;
UPDATE keys SET rotated_at_ms = (SELECT MAX(v.created_at_ms) FROM key_versions v WHERE v.key_id = keys.id);
CREATE INDEX keys_rotated ON keys (rotated_at_ms);
CREATE INDEX keys_reviewed ON keys (reviewed_at_ms);
