-- OpenID4VP verifier sessions: one row per authorization request a relying party created.
-- The ephemeral decryption key is never stored (SYSTEM.md s1: in memory only); nonce and state
-- single use is decided by the replay cache (take_once), completion by the status column.
CREATE TABLE verifier_sessions (
    id                 TEXT    NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    -- SHA-256 hex of the relying party's API token: only its owner reads a session.
    owner              TEXT    NOT NULL,
    state              TEXT    NOT NULL UNIQUE,
    nonce              TEXT    NOT NULL,
    -- JSON text of what the request asked (query, response mode, client id, flow).
    request            TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'verified', 'failed')),
    -- JSON text of the verified claims by credential query id.
    result             TEXT,
    error_code         TEXT,
    error_detail       TEXT,
    -- SHA-256 hex of the response_code handed to a same-device wallet's redirect.
    response_code_hash TEXT,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    completed_at       INTEGER
) WITHOUT ROWID;

CREATE INDEX verifier_sessions_expires_at ON verifier_sessions (expires_at);
