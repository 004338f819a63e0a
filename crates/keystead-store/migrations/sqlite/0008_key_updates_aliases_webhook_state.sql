-- Admin verbs (issue 14): a key's description (set by `key update`), key aliases, and the
-- state of a webhook (disabled, when its secret was last rotated).

ALTER TABLE keys ADD COLUMN description TEXT NOT NULL DEFAULT '';

-- An alias names one key of its tenant; several aliases may name the same key. Alias names
-- start with `alias/`, so they never collide with key names.
CREATE TABLE aliases (
    tenant        TEXT NOT NULL,
    alias         TEXT NOT NULL,
    key_id        TEXT NOT NULL REFERENCES keys (id),
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, alias)
);
CREATE INDEX aliases_by_key ON aliases (key_id);

ALTER TABLE webhooks ADD COLUMN disabled BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN secret_rotated_at_ms BIGINT;
