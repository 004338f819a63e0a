-- Key recovery (CEK-20): a request to restore a backup, and the review of a break-glass
-- restore, are about a backup, not one key, so an approval's key becomes optional.

ALTER TABLE approvals ALTER COLUMN key_id DROP NOT NULL;
CREATE INDEX approvals_operation ON approvals (operation, status);

-- Backup shares held for their recovery officers (`backup create --holder`): each sealed
-- under the root key until its holder collects it, then deleted (the row stays as the record).
CREATE TABLE backup_shares (
    backup_id       TEXT NOT NULL,
    share_index     BIGINT NOT NULL,
    holder          TEXT NOT NULL,
    sealed_share    BYTEA,
    created_at_ms   BIGINT NOT NULL,
    collected_at_ms BIGINT,
    PRIMARY KEY (backup_id, share_index)
);
CREATE UNIQUE INDEX backup_shares_holder ON backup_shares (backup_id, holder);
