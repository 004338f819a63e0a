-- The change feed: one row per committed change that other nodes must apply to their caches
-- (key state and versions, principal disabled, grants, seal initialized). Written in the
-- transaction of the change, so a node that reads the feed never misses one; the trigger
-- wakes every listening node at commit (NOTIFY is delivered only if the transaction commits).
CREATE TABLE changes (
    seq     BIGSERIAL PRIMARY KEY,
    node    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    at_ms   BIGINT NOT NULL
);

CREATE FUNCTION keystead_notify_change() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('keystead_changes', NEW.seq::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER changes_notify AFTER INSERT ON changes
    FOR EACH ROW EXECUTE FUNCTION keystead_notify_change();
