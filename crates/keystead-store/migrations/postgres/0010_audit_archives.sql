-- Retention and archival (issue 15): old audit events move into a signed archive file and out
-- of the hot store. Each archive is recorded per node with the last event it holds (a signed
-- checkpoint) and that event's hash, so `audit verify` resumes the remaining chain from it and
-- refuses any other gap. Key status changes among archived events are kept (key show history).

CREATE TABLE audit_archives (
    id             TEXT NOT NULL,
    node           TEXT NOT NULL,
    first_seq      BIGINT NOT NULL,
    through_seq    BIGINT NOT NULL,
    through_hash   TEXT NOT NULL,
    events         BIGINT NOT NULL,
    file_sha256    TEXT NOT NULL,
    before_ms      BIGINT NOT NULL,
    archived_at_ms BIGINT NOT NULL,
    archived_by    TEXT NOT NULL,
    PRIMARY KEY (id, node)
);
CREATE INDEX audit_archives_node ON audit_archives (node, through_seq);

CREATE TABLE key_history (
    seq        BIGINT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    node       TEXT NOT NULL,
    node_seq   BIGINT NOT NULL,
    event_json TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX key_history_key ON key_history (key_id, seq);

-- Still append-only, except for events an archive recorded in the same transaction covers.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (
        SELECT 1 FROM audit_archives a WHERE a.node = OLD.node AND OLD.node_seq <= a.through_seq
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE FUNCTION audit_archives_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'archive records are append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_archives_no_update BEFORE UPDATE ON audit_archives
    FOR EACH ROW EXECUTE FUNCTION audit_archives_append_only();
CREATE TRIGGER audit_archives_no_delete BEFORE DELETE ON audit_archives
    FOR EACH ROW EXECUTE FUNCTION audit_archives_append_only();
