-- Key recovery (CEK-20): a request to restore a backup, and the review of a break-glass
-- restore, are about a backup, not one key, so an approval's key becomes optional.

ALTER TABLE approvals ALTER COLUMN key_id DROP NOT NULL;
CREATE INDEX approvals_operation ON approvals (operation, status);
