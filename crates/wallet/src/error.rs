//! The wallet's one error type. Each refusal names what failed precisely enough to test, and
//! an answer from a service keeps its OAuth `error` code.
use immerse_registry::RegistryError;
use immerse_registry::model::KeyInvalid;

#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The offer URI or the offer object is malformed (OpenID4VCI 1.0 s4.1).
    #[error("invalid credential offer: {0}")]
    InvalidOffer(String),
    /// The offer asks for a transaction code and none was given (s4.1.1 `tx_code`).
    #[error("the offer requires a transaction code ({0})")]
    TxCodeRequired(String),
    #[error("{url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// A service refused with an OAuth error (`error`, `error_description`).
    #[error("{url} refused ({status}): {error}: {description}")]
    Refused {
        url: String,
        status: u16,
        error: String,
        description: String,
    },
    /// A response that is not what the protocol says it must be.
    #[error("unexpected response from {url}: {reason}")]
    UnexpectedResponse { url: String, reason: String },
    /// Metadata was not served as a signed JWT (OpenID4VCI 1.0 s12.2.3; SYSTEM.md s3).
    #[error("{0} did not serve signed metadata")]
    UnsignedMetadata(String),
    /// Signed metadata whose signature, `typ` or time claims do not verify against the
    /// issuer's keys in the registry.
    #[error("signed metadata refused: {0}")]
    MetadataSignature(immerse_jose::Error),
    /// Signed metadata about another issuer (`sub`, `credential_issuer` or `issuer`).
    #[error("metadata names {found}, not {expected}")]
    MetadataSubject { expected: String, found: String },
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
    /// The Attestation Service refused (its OAuth `error` code) or answered nonsense.
    #[error("client attestation refused: {error}: {description}")]
    Attestation { error: String, description: String },
    #[error("no SEV-SNP evidence: {0}")]
    Evidence(String),
    #[error("no service-account token: {0}")]
    ServiceAccountToken(String),
    /// What the issuer offers is beyond this wallet: a configuration its metadata does not
    /// describe or that is not `dc+sd-jwt` with `jwk` binding and ES256 proofs, a missing
    /// endpoint, no encryption algorithm in common.
    #[error("{0}: unsupported: {1}")]
    UnsupportedConfiguration(String, &'static str),
    #[error("the credential response does not decrypt: {0}")]
    Decryption(immerse_jose::Error),
    /// The issued credential fails SD-JWT VC verification.
    #[error("credential refused: {0}")]
    Credential(immerse_sd_jwt::Error),
    /// The key that signed the credential was not valid for its issuer at `iat` (or now).
    #[error("credential refused: issuer key {kid}: {reason}")]
    IssuerKeyInvalid { kid: String, reason: KeyInvalid },
    /// The credential names a key its issuer never registered.
    #[error("credential refused: issuer key {0} is not in the registry")]
    IssuerKeyUnknown(String),
    /// `cnf.jwk` is not the Holder Key the proof was made with.
    #[error("credential refused: cnf is not the holder key")]
    HolderKeyMismatch,
    #[error("credential refused: vct {found}, expected {expected}")]
    VctMismatch { expected: String, found: String },
    #[error("credential refused: {0}")]
    CredentialMalformed(String),
    /// The issuer deferred issuance (s9); this wallet does not poll.
    #[error("issuance deferred (transaction {0}); not supported by this wallet")]
    Deferred(String),
    /// No verified status list could be had for a credential.
    #[error("status unavailable: {0}")]
    StatusUnavailable(String),
    #[error(transparent)]
    Jose(#[from] immerse_jose::Error),
    #[error("internal error: {0}")]
    Internal(String),
}
