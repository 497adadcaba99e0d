-- Replay cache: one row per (scope, value) seen and still protected.
-- The primary key is what makes check-and-record atomic (INSERT ... ON CONFLICT).
-- The CHECKs repeat the bounds enforced in replay.rs, so a bad writer cannot bypass them.
CREATE TABLE replay_cache (
    scope      TEXT    NOT NULL CHECK (length(scope) BETWEEN 1 AND 128),
    value      TEXT    NOT NULL CHECK (length(value) BETWEEN 1 AND 512),
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, value)
) WITHOUT ROWID;

-- purge_expired deletes by expiry; without this index every purge scans the table.
CREATE INDEX replay_cache_expires_at ON replay_cache (expires_at);
