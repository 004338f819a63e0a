-- The change feed: one row per committed change that other nodes must apply to their caches
-- (key state and versions, principal disabled, grants, seal initialized). Written in the
-- transaction of the change, so a node that reads the feed never misses one.
CREATE TABLE changes (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    node    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    at_ms   BIGINT NOT NULL
);
