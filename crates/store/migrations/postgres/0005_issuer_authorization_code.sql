-- OpenID4VCI 1.0 s5: the authorization code flow with PAR (RFC 9126) and PKCE (RFC 7636).
-- Handles (request_uri, authorization code) are stored only as SHA-256 hashes; their single
-- use is decided by the replay cache (take_once), these rows only carry what was authorized.

-- The issuer_state of an offer's authorization_code grant: the admin API pre-approved the
-- offer's subject, and an authorization request carrying this value is theirs.
ALTER TABLE issuer_offers ADD COLUMN issuer_state_hash TEXT;
CREATE UNIQUE INDEX issuer_offers_issuer_state ON issuer_offers (issuer_state_hash);

-- A pushed authorization request ('request_uri') and, after the authorization endpoint, the
-- authorization code issued for it ('code'), each with the parameters the token endpoint
-- checks again: client, redirect_uri, PKCE challenge (S256 only), what was authorized.
CREATE TABLE issuer_authorizations (
    handle_hash       TEXT    PRIMARY KEY,
    kind              TEXT    NOT NULL CHECK (kind IN ('request_uri', 'code')),
    offer_id          TEXT    NOT NULL REFERENCES issuer_offers (offer_id),
    client_id         TEXT    NOT NULL,
    redirect_uri      TEXT    NOT NULL,
    code_challenge    TEXT    NOT NULL,
    state             TEXT,
    configuration_ids TEXT    NOT NULL,
    by_details        BIGINT  NOT NULL CHECK (by_details IN (0, 1)),
    expires_at        BIGINT  NOT NULL
);

-- Credential identifiers (OpenID4VCI 1.0 s6.2) granted with the token, a JSON array; NULL when
-- the grant named no authorization_details and requests name a credential_configuration_id.
ALTER TABLE issuer_access_tokens ADD COLUMN credential_identifiers TEXT;
