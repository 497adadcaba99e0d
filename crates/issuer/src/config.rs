//! Issuer configuration: identifiers, lifetimes, policy. Every field has a default that holds
//! for this profile; tests and the binary override what they need.
use serde_json::{Map, Value};

/// One credential configuration (OpenID4VCI 1.0 s12.2.4, `credential_configurations_supported`)
/// of format `dc+sd-jwt` (app. A.3).
#[derive(Debug, Clone)]
pub struct CredentialConfiguration {
    pub id: String,
    pub vct: String,
    /// OAuth scope for this configuration (OpenID4VCI 1.0 s12.2.4).
    pub scope: String,
    /// Top-level claim names the credential may carry; each is made selectively disclosable.
    pub claims: Vec<String>,
    /// Credential lifetime in seconds (`exp` = `iat` + this).
    pub lifetime_seconds: i64,
    pub display_name: String,
}

/// A bearer token for the admin API, by SHA-256 hash (hex); the token itself is never kept.
#[derive(Debug, Clone)]
pub struct AdminToken {
    pub sha256_hex: String,
    /// What it may do: [`SCOPE_OFFERS`], [`SCOPE_STATUS`].
    pub scopes: Vec<String>,
}

/// Admin scope: create credential offers.
pub const SCOPE_OFFERS: &str = "issuer:offers";
/// Admin scope: revoke, suspend or reinstate credentials.
pub const SCOPE_STATUS: &str = "issuer:status";

#[derive(Debug, Clone)]
pub struct Config {
    /// The Credential Issuer Identifier (OpenID4VCI 1.0 s12.2.1): https URL, no query or
    /// fragment; plain http only for loopback tests. Also the authorization server `issuer`.
    pub issuer: String,
    pub configurations: Vec<CredentialConfiguration>,
    /// Registry entities whose keys may sign client attestations.
    pub trusted_attesters: Vec<String>,
    /// Accepted `tee` values of a client attestation; `none` only when configured.
    pub accepted_tee: Vec<String>,
    /// Require a challenge from our challenge endpoint in the attestation PoP.
    pub require_attestation_challenge: bool,
    /// Require a server-provided DPoP nonce (RFC 9449 s8) at the token and credential endpoints.
    pub require_dpop_nonce: bool,
    /// Also the lifetime of an offer with the authorization_code grant (its `issuer_state`).
    pub pre_authorized_code_lifetime: i64,
    pub tx_code_attempts: i64,
    /// Redirect URIs a pushed authorization request may name, compared exactly (RFC 9700
    /// s2.1). Attested wallets are not registered one by one, so the list is the issuer's.
    pub redirect_uris: Vec<String>,
    /// Lifetime of a PAR `request_uri` (RFC 9126 s2.2 suggests 5 to 600 s).
    pub par_lifetime: i64,
    /// Lifetime of an authorization code (RFC 6749 s4.1.2: short, 10 minutes at most).
    pub authorization_code_lifetime: i64,
    pub access_token_lifetime: i64,
    pub c_nonce_lifetime: i64,
    pub dpop_nonce_lifetime: i64,
    pub challenge_lifetime: i64,
    /// How far in the past an `iat` of a proof may be (DPoP, PoP, key proofs), seconds.
    pub proof_max_age: i64,
    pub skew_seconds: i64,
    /// OpenID4VCI 1.0 s12.2.4 `batch_credential_issuance.batch_size`.
    pub batch_size: usize,
    /// Credential responses must be encrypted (OpenID4VCI 1.0 s12.2.4 `encryption_required`).
    pub response_encryption_required: bool,
    /// Status list size (entries) and bits per entry; and its token lifetime / ttl.
    pub status_list_capacity: usize,
    pub status_list_ttl: u64,
    pub admin_tokens: Vec<AdminToken>,
    /// Extra metadata (e.g. `display`) merged into the Credential Issuer Metadata.
    pub extra_metadata: Map<String, Value>,
}

impl Config {
    /// Defaults of this profile for `issuer`; no configuration, attester or admin token yet.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            configurations: Vec::new(),
            trusted_attesters: Vec::new(),
            accepted_tee: vec!["sev-snp".into()],
            require_attestation_challenge: false,
            require_dpop_nonce: true,
            pre_authorized_code_lifetime: 300,
            tx_code_attempts: 3,
            redirect_uris: Vec::new(),
            par_lifetime: 60,
            authorization_code_lifetime: 60,
            access_token_lifetime: 300,
            c_nonce_lifetime: 300,
            dpop_nonce_lifetime: 300,
            challenge_lifetime: 300,
            proof_max_age: 300,
            skew_seconds: immerse_jose::jwt::DEFAULT_SKEW_SECONDS,
            batch_size: 4,
            response_encryption_required: true,
            status_list_capacity: 1 << 17,
            status_list_ttl: 300,
            admin_tokens: Vec::new(),
            extra_metadata: Map::new(),
        }
    }

    /// The path part of the issuer identifier ("" or "/tenant"), under which endpoints live.
    pub fn issuer_path(&self) -> &str {
        let after_scheme = self.issuer.split_once("://").map_or("", |(_, rest)| rest);
        after_scheme.find('/').map_or("", |at| &after_scheme[at..])
    }

    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/{name}", self.issuer)
    }

    pub fn configuration(&self, id: &str) -> Option<&CredentialConfiguration> {
        self.configurations.iter().find(|conf| conf.id == id)
    }
}
