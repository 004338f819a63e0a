-- AWS SigV4 access keys (issue 16). Each belongs to one principal and authenticates as it.
-- The secret is needed to verify signatures, so it is sealed under the root key like key
-- material (bound to the key's id), not hashed.
CREATE TABLE access_keys (
    id            TEXT PRIMARY KEY,
    principal     TEXT NOT NULL REFERENCES principals (name),
    sealed_secret BLOB NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    created_by    TEXT NOT NULL
);
CREATE INDEX access_keys_by_principal ON access_keys (principal);
