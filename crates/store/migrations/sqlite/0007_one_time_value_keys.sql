-- The MAC key of each kind of stateless one-time value (c_nonce, DPoP nonce, attestation
-- challenge), made by the first replica that needs it and shared by all through this row: a
-- value is checked by its MAC and expiry, and only a spent value takes a replay_cache row.
CREATE TABLE one_time_value_keys (
    purpose TEXT NOT NULL PRIMARY KEY CHECK (length(purpose) BETWEEN 1 AND 128),
    key_hex TEXT NOT NULL CHECK (length(key_hex) = 64)
);
