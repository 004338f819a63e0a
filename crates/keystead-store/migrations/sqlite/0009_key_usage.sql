-- Audit at line rate (issue 15): each key version's uses counted by operation, with the first
-- and last use, kept by the audit writer in the transaction that stores the use events (so a
-- count never disagrees with the log, and no read scans the log for it); each key's newest use
-- on its row for the inventory filters; and an index that finds a key's status changes without
-- walking its uses.

CREATE TABLE key_usage (
    key_id            TEXT NOT NULL,
    version           BIGINT NOT NULL,
    operation         TEXT NOT NULL,
    uses              BIGINT NOT NULL,
    first_used_at_ms  BIGINT NOT NULL,
    last_used_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (key_id, version, operation)
);

ALTER TABLE keys ADD COLUMN last_used_at_ms BIGINT;
CREATE INDEX keys_last_used ON keys (last_used_at_ms);

CREATE INDEX audit_events_key_action ON audit_events (key_id, action, seq);

-- The uses already in the log.
INSERT INTO key_usage (key_id, version, operation, uses, first_used_at_ms, last_used_at_ms)
SELECT key_id, json_extract(event_json, '$.version'), substr(action, 8), COUNT(*), MIN(occurred_at_ms), MAX(occurred_at_ms)
FROM audit_events
WHERE outcome = 'success' AND key_id IS NOT NULL AND action LIKE 'crypto.%'
  AND json_extract(event_json, '$.version') IS NOT NULL
GROUP BY key_id, json_extract(event_json, '$.version'), action;

UPDATE keys SET last_used_at_ms = (SELECT MAX(u.last_used_at_ms) FROM key_usage u WHERE u.key_id = keys.id);
