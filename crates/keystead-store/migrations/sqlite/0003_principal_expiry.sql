-- A principal may be given a lifetime: after expires_at_ms its token and certificate stop
-- authenticating (NULL: no expiry).
ALTER TABLE principals ADD COLUMN expires_at_ms BIGINT;
