-- Key Registry. Entities and keys are the current state; registry_log is the append-only
-- transparency log from which that state can be recomputed, and registry_checkpoints holds the
-- signed tree heads. Times are unix seconds.

CREATE TABLE registry_entities (
    id           TEXT   PRIMARY KEY,
    role         TEXT   NOT NULL CHECK (role IN ('issuer', 'verifier', 'attester', 'wallet-provider')),
    display_name TEXT   NOT NULL,
    allowances   TEXT   NOT NULL,
    status       TEXT   NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE registry_keys (
    kid               TEXT   PRIMARY KEY,
    entity_id         TEXT   NOT NULL REFERENCES registry_entities (id),
    jwk               TEXT   NOT NULL,
    key_use           TEXT   NOT NULL,
    alg               TEXT   NOT NULL,
    nbf               BIGINT,
    exp               BIGINT,
    status            TEXT   NOT NULL CHECK (status IN ('active', 'retired', 'revoked')),
    created_at        BIGINT NOT NULL,
    retired_at        BIGINT,
    revoked_at        BIGINT,
    revocation_reason TEXT CHECK (revocation_reason IN ('unspecified', 'compromised', 'superseded')),
    log_index         BIGINT NOT NULL
);
CREATE INDEX registry_keys_entity ON registry_keys (entity_id);

-- Enrolment secrets and admin tokens are stored only as SHA-256 hashes.
CREATE TABLE registry_enrolment_secrets (
    secret_hash TEXT   PRIMARY KEY,
    entity_id   TEXT   NOT NULL REFERENCES registry_entities (id),
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);

CREATE TABLE registry_admin_tokens (
    token_hash  TEXT   PRIMARY KEY,
    scopes      TEXT   NOT NULL,
    description TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT
);

-- The log: leaf_index is the primary key, so two writers that pick the same next index
-- conflict and one retries: the log cannot fork.
CREATE TABLE registry_log (
    leaf_index BIGINT PRIMARY KEY CHECK (leaf_index >= 0),
    leaf       TEXT   NOT NULL,
    leaf_hash  TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE registry_checkpoints (
    tree_size  BIGINT PRIMARY KEY,
    root_hash  TEXT   NOT NULL,
    signed     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- Every decision, accepted or refused; refusals store nothing else.
CREATE TABLE registry_audit (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    entity_id  TEXT,
    kid        TEXT,
    outcome    TEXT   NOT NULL CHECK (outcome IN ('accepted', 'refused')),
    error_code TEXT,
    detail     TEXT   NOT NULL
);
