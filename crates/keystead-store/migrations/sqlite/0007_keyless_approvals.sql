-- Key recovery (CEK-20): a request to restore a backup, and the review of a break-glass
-- restore, are about a backup, not one key, so an approval's key becomes optional. SQLite
-- cannot drop NOT NULL in place: both approval tables are rebuilt (votes reference requests)
-- and renamed back, which also repoints the votes' foreign key.

CREATE TABLE approvals_v7 (
    id             TEXT PRIMARY KEY,
    operation      TEXT NOT NULL,
    tenant         TEXT NOT NULL,
    key_id         TEXT REFERENCES keys (id),
    version        BIGINT,
    requester      TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL,
    decided_at_ms  BIGINT,
    body           TEXT NOT NULL
);
INSERT INTO approvals_v7 (id, operation, tenant, key_id, version, requester, status, created_at_ms,
    expires_at_ms, decided_at_ms, body)
    SELECT id, operation, tenant, key_id, version, requester, status, created_at_ms, expires_at_ms,
    decided_at_ms, body FROM approvals;

CREATE TABLE approval_votes_v7 (
    approval_id TEXT NOT NULL REFERENCES approvals_v7 (id),
    principal   TEXT NOT NULL,
    role        TEXT NOT NULL,
    approve     BIGINT NOT NULL,
    reason      TEXT,
    at_ms       BIGINT NOT NULL,
    PRIMARY KEY (approval_id, principal)
);
INSERT INTO approval_votes_v7 (approval_id, principal, role, approve, reason, at_ms)
    SELECT approval_id, principal, role, approve, reason, at_ms FROM approval_votes;

DROP TABLE approval_votes;
DROP TABLE approvals;
ALTER TABLE approvals_v7 RENAME TO approvals;
ALTER TABLE approval_votes_v7 RENAME TO approval_votes;

CREATE INDEX approvals_status ON approvals (status, expires_at_ms);
CREATE INDEX approvals_key ON approvals (key_id, operation, status);
CREATE INDEX approvals_operation ON approvals (operation, status);

-- Backup shares held for their recovery officers (`backup create --holder`): each sealed
-- under the root key until its holder collects it, then deleted (the row stays as the record).
CREATE TABLE backup_shares (
    backup_id       TEXT NOT NULL,
    share_index     BIGINT NOT NULL,
    holder          TEXT NOT NULL,
    sealed_share    BLOB,
    created_at_ms   BIGINT NOT NULL,
    collected_at_ms BIGINT,
    PRIMARY KEY (backup_id, share_index)
);
CREATE UNIQUE INDEX backup_shares_holder ON backup_shares (backup_id, holder);
