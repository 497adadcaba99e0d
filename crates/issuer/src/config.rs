//! Issuer configuration: identifiers, lifetimes, policy. Every field has a default that holds
//! for this profile; tests and the binary override what they need.
use std::collections::HashMap;

use base64::Engine as _;
use immerse_jose::PublicJwk;
use openssl::asn1::Asn1Time;
use openssl::x509::X509;
use serde_json::{Map, Value};

/// A configuration the issuer refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("certificate chain: {0}")]
    ChainUnreadable(String),
    #[error("certificate chain: the leaf certifies another key than the signing key")]
    ChainKeyMismatch,
    #[error("certificate chain: certificate {index} is not valid now ({reason})")]
    ChainNotValidNow { index: usize, reason: &'static str },
    #[error("certificate chain: certificate {index} is not signed by the next one")]
    ChainBroken { index: usize },
    #[error("type metadata: {0}")]
    TypeMetadata(String),
    #[error("key rotation: {0}")]
    KeyRotation(String),
}

/// The certificate chain of the issuer's signing key, leaf first, sent as `x5c` (RFC 7515
/// s4.1.6) on signed metadata.
#[derive(Debug, Clone)]
pub struct CertificateChain {
    certificates: Vec<X509>,
    /// RFC 7515 s4.1.6 form, computed once: signed metadata is served on every request.
    x5c: Vec<String>,
    leaf_thumbprint: [u8; 32],
}

impl CertificateChain {
    /// Every certificate of a PEM file, in file order (leaf first).
    pub fn from_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        let unreadable =
            |err: &dyn std::fmt::Display| ConfigError::ChainUnreadable(err.to_string());
        let certificates = X509::stack_from_pem(pem).map_err(|err| unreadable(&err))?;
        let Some(leaf) = certificates.first() else {
            return Err(ConfigError::ChainUnreadable("no certificate".into()));
        };
        let leaf_pem = leaf
            .public_key()
            .and_then(|key| key.public_key_to_pem())
            .map_err(|err| unreadable(&err))?;
        let leaf_pem = String::from_utf8(leaf_pem).map_err(|err| unreadable(&err))?;
        let leaf_thumbprint = PublicJwk::from_spki_pem(&leaf_pem)
            .map_err(|err| unreadable(&err))?
            .thumbprint();
        let x5c = certificates
            .iter()
            .map(|cert| {
                cert.to_der()
                    .map(|der| base64::engine::general_purpose::STANDARD.encode(der))
                    .map_err(|err| unreadable(&err))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            certificates,
            x5c,
            leaf_thumbprint,
        })
    }

    /// Base64 (not base64url) DER, leaf first.
    pub fn x5c(&self) -> &[String] {
        &self.x5c
    }

    /// Does the leaf certify `key`?
    pub fn certifies(&self, key: &PublicJwk) -> bool {
        self.leaf_thumbprint == key.thumbprint()
    }

    /// The startup checks: the leaf certifies `key`, every certificate is within its validity
    /// at `now`, and each is signed by the next (a chain a relying party could build).
    pub fn check(&self, key: &PublicJwk, now: i64) -> Result<(), ConfigError> {
        if !self.certifies(key) {
            return Err(ConfigError::ChainKeyMismatch);
        }
        let at = Asn1Time::from_unix(now)
            .map_err(|err| ConfigError::ChainUnreadable(err.to_string()))?;
        for (index, cert) in self.certificates.iter().enumerate() {
            let before = cert
                .not_before()
                .compare(&at)
                .map_err(|err| ConfigError::ChainUnreadable(err.to_string()))?;
            if before == std::cmp::Ordering::Greater {
                return Err(ConfigError::ChainNotValidNow {
                    index,
                    reason: "not yet valid",
                });
            }
            let after = cert
                .not_after()
                .compare(&at)
                .map_err(|err| ConfigError::ChainUnreadable(err.to_string()))?;
            if after != std::cmp::Ordering::Greater {
                return Err(ConfigError::ChainNotValidNow {
                    index,
                    reason: "expired",
                });
            }
            if let Some(issuer) = self.certificates.get(index + 1) {
                let issuer_key = issuer
                    .public_key()
                    .map_err(|err| ConfigError::ChainUnreadable(err.to_string()))?;
                if !cert.verify(&issuer_key).unwrap_or(false) {
                    return Err(ConfigError::ChainBroken { index });
                }
            }
        }
        Ok(())
    }
}

/// One credential configuration (OpenID4VCI 1.0 s12.2.4, `credential_configurations_supported`)
/// of format `dc+sd-jwt` (app. A.3).
#[derive(Debug, Clone)]
pub struct CredentialConfiguration {
    pub id: String,
    pub vct: String,
    /// OAuth scope for this configuration (OpenID4VCI 1.0 s12.2.4).
    pub scope: String,
    /// Top-level claim names the credential may carry.
    pub claims: Vec<String>,
    /// The claims made selectively disclosable, by path (member names from the top level);
    /// a path the offer's claims lack is skipped. `None`: every leaf, so that a holder asked
    /// for `address.locality` sends that member alone: each top-level claim that is not an
    /// object, and within an object claim each member, recursively (the objects themselves
    /// stay visible as structure, RFC 9901 s6.2).
    pub selectively_disclosable: Option<Vec<Vec<String>>>,
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
    /// Decoy digests added to every `_sd` array (RFC 9901 s4.2.5), so that the number of
    /// digests does not tell how many claims a credential holds.
    pub decoy_digests: usize,
    /// Status list size (entries) and bits per entry; and its token lifetime / ttl.
    pub status_list_capacity: usize,
    pub status_list_ttl: u64,
    pub admin_tokens: Vec<AdminToken>,
    /// Extra metadata (e.g. `display`) merged into the Credential Issuer Metadata.
    pub extra_metadata: Map<String, Value>,
    /// Certificate chain of the signing key, leaf first; sent as `x5c` on signed metadata
    /// while the signing key is the one it certifies.
    pub x5c_chain: Option<CertificateChain>,
    /// Per credential configuration id: members of its SD-JWT VC type metadata document
    /// (`description`, `display`, `claims`, ...) that replace the defaults derived from the
    /// configuration. `vct` cannot be replaced.
    pub type_metadata: HashMap<String, Map<String, Value>>,
    /// Seconds between signing-key rotations, when rotation is enabled.
    pub key_rotation_interval: i64,
    /// Seconds a retired key stays valid in the registry; must equal the registry's retention
    /// (the registry applies it; the issuer only checks that both agree).
    pub key_retention: i64,
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
            decoy_digests: 3,
            status_list_capacity: 1 << 17,
            status_list_ttl: 300,
            admin_tokens: Vec::new(),
            extra_metadata: Map::new(),
            x5c_chain: None,
            type_metadata: HashMap::new(),
            key_rotation_interval: 24 * 3600,
            key_retention: 48 * 3600,
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
