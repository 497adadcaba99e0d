//! The one error type of this crate: each check that can refuse a bundle has its own variant,
//! so that tests (and callers) can tell exactly which check failed.
use immerse_merkle::MerkleError;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    // ---- trusted_root.json ----
    #[error("trusted root is not valid JSON of the expected shape: {0}")]
    TrustRootJson(String),
    #[error("trusted root media type {0:?} is not supported")]
    TrustRootMediaType(String),
    #[error("trusted root entry is invalid: {0}")]
    TrustRootEntry(String),

    // ---- bundle parsing and version rules ----
    #[error("bundle is not valid JSON of the expected shape: {0}")]
    BundleJson(String),
    #[error("bundle media type {0:?} is not supported")]
    BundleMediaType(String),
    #[error("bundle field is invalid: {0}")]
    BundleField(String),
    /// Bundle v0.1 carries no inclusion proof, so each entry must carry a signed promise.
    #[error("a v0.1 bundle needs an inclusion promise in every log entry")]
    MissingInclusionPromise,
    /// Bundles v0.2 and later must carry an inclusion proof (protobuf-specs bundle.proto).
    #[error("a v0.2+ bundle needs an inclusion proof in every log entry")]
    MissingInclusionProof,
    /// Bundle v0.3 replaced `x509CertificateChain` with a single `certificate`.
    #[error("a v0.3 bundle must use `certificate`, not `x509CertificateChain`")]
    CertificateChainInV03,

    // ---- keys ----
    #[error("unsupported or malformed key: {0}")]
    UnsupportedKey(String),
    #[error("RSA key of {bits} bits is below the 2048-bit minimum")]
    KeyTooSmall { bits: u32 },

    // ---- artifact signature and content ----
    #[error("the artifact digest does not match the bundle's message digest")]
    ArtifactDigestMismatch,
    #[error("the signature over the artifact does not verify")]
    ArtifactSignature,
    #[error("the DSSE envelope is malformed: {0}")]
    DsseMalformed(String),
    #[error("the DSSE payload type {0:?} is not the one the policy expects")]
    DssePayloadType(String),
    #[error("no DSSE signature verifies over the pre-authentication encoding")]
    DsseSignature,
    #[error("the DSSE payload does not match the artifact digest")]
    DssePayloadDigestMismatch,

    // ---- Fulcio certificate ----
    #[error("certificate is malformed: {0}")]
    CertificateMalformed(String),
    #[error("certificate does not chain to a trusted Fulcio CA: {0}")]
    CertificateUntrusted(String),
    #[error("certificate lacks the extended key usage {0}")]
    CertificateUsage(&'static str),
    #[error("certificate is not valid at the verified signing time {time}")]
    CertificateNotValidAtTime { time: i64 },
    #[error("no verified signing time: no tlog integrated time and no trusted timestamp")]
    NoVerifiedTime,

    // ---- SCT (RFC 6962) ----
    #[error("certificate carries no embedded SCT")]
    SctMissing,
    #[error("SCT list is malformed: {0}")]
    SctMalformed(String),
    #[error("SCT is from a CT log not in the trusted root")]
    SctUnknownLog,
    #[error("SCT signature does not verify")]
    SctSignature,

    // ---- Rekor ----
    #[error("log entry names a log not in the trusted root: {0}")]
    UnknownLog(String),
    #[error("the log key is not valid at the entry's time")]
    LogKeyNotValid,
    #[error("the signed entry timestamp does not verify")]
    SetSignature,
    #[error("Merkle inclusion proof does not verify: {0}")]
    InclusionProof(MerkleError),
    #[error("checkpoint is malformed: {0}")]
    CheckpointMalformed(String),
    #[error("checkpoint carries no valid signature by the log's key")]
    CheckpointSignature,
    #[error("checkpoint root hash or tree size differs from the inclusion proof's")]
    CheckpointMismatch,
    #[error("log entry body is malformed or of an unsupported kind: {0}")]
    BodyMalformed(String),
    #[error("log entry kind/version in the bundle differs from the body")]
    BodyKindMismatch,
    #[error("log entry body digest does not match the artifact")]
    BodyDigestMismatch,
    #[error("log entry body signature does not match the bundle's signature")]
    BodySignatureMismatch,
    #[error("log entry body key or certificate does not match the bundle's")]
    BodyKeyMismatch,
    #[error("a Rekor v2 entry needs a verified RFC 3161 timestamp")]
    RekorV2NeedsTimestamp,
    #[error("the bundle has no transparency log entry and the policy requires one")]
    TransparencyLogRequired,
    #[error("the bundle has {found} tlog entries, the policy requires {required}")]
    NotEnoughLogEntries { found: usize, required: usize },

    // ---- RFC 3161 ----
    #[error("timestamp token is malformed: {0}")]
    TimestampMalformed(String),
    #[error("timestamp token is not signed by a trusted TSA")]
    TimestampUntrusted,
    #[error("timestamp token message imprint is not the hash of the signature")]
    TimestampImprintMismatch,
    #[error("timestamp time is outside the TSA certificate's validity")]
    TimestampOutsideValidity,

    // ---- identity policy ----
    #[error("certificate identity {found:?} does not match the policy")]
    IdentityMismatch { found: Vec<String> },
    #[error("certificate OIDC issuer {found:?} does not match the policy")]
    IssuerMismatch { found: Option<String> },
    #[error("invalid identity pattern: {0}")]
    Pattern(String),
    #[error(
        "the policy expects a key, but the bundle is signed with a certificate (or vice versa)"
    )]
    MaterialMismatch,
    #[error("the bundle's signing key is not the key the policy names")]
    KeyMismatch,

    // ---- signing side ----
    #[error("signing failed: {0}")]
    Signing(String),
}

impl From<MerkleError> for Error {
    fn from(err: MerkleError) -> Self {
        Self::InclusionProof(err)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
