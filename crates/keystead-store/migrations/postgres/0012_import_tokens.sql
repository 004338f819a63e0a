-- Bring your own key (issue 16): import tokens. Each carries an RSA wrapping key pair whose
-- private half is sealed under the root key (bound to the token's id). A token imports once,
-- within 24 hours, into one key: an existing key (key_id) or a new key of that name in that
-- tenant (key_id NULL). A used token keeps its row as the record of the import, without its
-- private key.
CREATE TABLE import_tokens (
    id                  TEXT PRIMARY KEY,
    tenant              TEXT NOT NULL,
    key_id              TEXT REFERENCES keys (id),
    key_name            TEXT NOT NULL,
    wrapping_algorithm  TEXT NOT NULL,
    wrapping_key_spec   TEXT NOT NULL,
    public_key_der      BYTEA NOT NULL,
    sealed_private_key  BYTEA,
    created_at_ms       BIGINT NOT NULL,
    created_by          TEXT NOT NULL,
    expires_at_ms       BIGINT NOT NULL,
    used_at_ms          BIGINT
);
CREATE INDEX import_tokens_by_key ON import_tokens (key_id);
