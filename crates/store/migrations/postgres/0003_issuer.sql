-- OpenID4VCI issuer. Codes, tx_codes and access tokens are stored only as SHA-256 hashes.
-- Times are unix seconds.

-- A credential offer and its pre-authorized code. `state` moves open -> redeemed (once, by one
-- UPDATE) or open -> dead (tx_code attempts used up); `offer_json` holds the offer for a
-- by-reference fetch and is cleared by that fetch.
CREATE TABLE issuer_offers (
    offer_id          TEXT    PRIMARY KEY,
    code_hash         TEXT    NOT NULL UNIQUE,
    configuration_ids TEXT    NOT NULL,
    claims            TEXT    NOT NULL,
    tx_code_hash      TEXT,
    attempts_left     BIGINT  NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN ('open', 'redeemed', 'dead')),
    status            TEXT    NOT NULL CHECK (status IN ('active', 'revoked')),
    offer_json        TEXT,
    deferred          BIGINT  NOT NULL CHECK (deferred IN (0, 1)),
    ready             BIGINT  NOT NULL CHECK (ready IN (0, 1)),
    created_at        BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL
);

CREATE TABLE issuer_access_tokens (
    token_hash TEXT    PRIMARY KEY,
    offer_id   TEXT    NOT NULL REFERENCES issuer_offers (offer_id),
    client_id  TEXT    NOT NULL,
    jkt        TEXT    NOT NULL,
    expires_at BIGINT  NOT NULL
);

CREATE TABLE issuer_status_lists (
    list_id    TEXT    PRIMARY KEY,
    bits       BIGINT  NOT NULL CHECK (bits IN (1, 2, 4, 8)),
    capacity   BIGINT  NOT NULL CHECK (capacity > 0),
    created_at BIGINT  NOT NULL
);

-- One row per issued credential: its place in a status list and its current status. The
-- primary key makes a doubly allocated index fail instead of sharing a status.
CREATE TABLE issuer_credentials (
    list_id    TEXT    NOT NULL REFERENCES issuer_status_lists (list_id),
    idx        BIGINT  NOT NULL CHECK (idx >= 0),
    offer_id   TEXT    NOT NULL REFERENCES issuer_offers (offer_id),
    status     BIGINT  NOT NULL CHECK (status BETWEEN 0 AND 255),
    issued_at  BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    PRIMARY KEY (list_id, idx)
);
CREATE INDEX issuer_credentials_offer ON issuer_credentials (offer_id);

-- Deferred issuance (OpenID4VCI 1.0 s9): proofs were checked and the holder keys kept; the
-- credentials are issued once, when the offer is ready and the wallet asks again.
CREATE TABLE issuer_deferred (
    transaction_id   TEXT    PRIMARY KEY,
    offer_id         TEXT    NOT NULL REFERENCES issuer_offers (offer_id),
    configuration_id TEXT    NOT NULL,
    holder_keys      TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending', 'done')),
    created_at       BIGINT  NOT NULL,
    expires_at       BIGINT  NOT NULL
);
