-- Per-key grants of crypto operations to principals (crypto users need one per key).
CREATE TABLE grants (
    principal     TEXT NOT NULL REFERENCES principals (name),
    key_id        TEXT NOT NULL REFERENCES keys (id),
    operations    TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (principal, key_id)
);
