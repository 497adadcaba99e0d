use thiserror::Error;

/// Every way JOSE input can be refused. Variants are precise enough to assert on in tests and
/// to map onto OAuth error codes at the edge.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    // --- base64url and JSON ---
    #[error("invalid base64url in {0}")]
    Base64(&'static str),
    #[error("malformed JSON in {part}: {reason}")]
    Json { part: &'static str, reason: String },
    #[error("duplicate member {0:?} in a JOSE object")]
    DuplicateMember(String),

    // --- JWK ---
    #[error("JWK carries private key member {0:?}")]
    PrivateKeyMember(&'static str),
    #[error("symmetric (kty oct) keys are refused")]
    SymmetricKey,
    #[error("unsupported key type {0:?}")]
    UnsupportedKeyType(String),
    #[error("unsupported curve {0:?}")]
    UnsupportedCurve(String),
    #[error("EC point is not on the curve")]
    PointNotOnCurve,
    #[error("RSA modulus of {0} bits is under the 2048-bit minimum")]
    RsaKeyTooSmall(usize),
    #[error("malformed JWK: {0}")]
    MalformedJwk(String),

    // --- JWS ---
    #[error("malformed JWS: {0}")]
    MalformedJws(&'static str),
    #[error("algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    #[error("unexpected typ: expected {expected:?}, found {found:?}")]
    UnexpectedType {
        expected: String,
        found: Option<String>,
    },
    #[error("critical header parameter {0:?} is not understood")]
    UnknownCritical(String),
    #[error("the header names no kid and the key source needs one")]
    MissingKid,
    #[error("no key with kid {0:?}")]
    UnknownKey(String),
    #[error("the header carries no jwk")]
    MissingEmbeddedKey,
    #[error("key does not fit algorithm {0}")]
    KeyAlgorithmMismatch(&'static str),
    #[error("signature verification failed")]
    InvalidSignature,

    // --- JWT claims ---
    #[error("JWT claim {0:?} is missing")]
    MissingClaim(&'static str),
    #[error("JWT claim {0:?} has the wrong type")]
    InvalidClaim(&'static str),
    #[error("JWT expired")]
    Expired,
    #[error("JWT not yet valid (nbf)")]
    NotYetValid,
    #[error("JWT issued in the future (iat)")]
    IssuedInFuture,
    #[error("JWT audience does not include {0:?}")]
    AudienceMismatch(String),
    #[error("JWT issuer is not {0:?}")]
    IssuerMismatch(String),

    // --- JWE ---
    #[error("malformed JWE: {0}")]
    MalformedJwe(&'static str),
    #[error("JWE key management algorithm {0:?} is not supported")]
    UnsupportedKeyManagement(String),
    #[error("JWE content encryption {0:?} is not supported")]
    UnsupportedContentEncryption(String),
    #[error("compressed JWE (zip) is refused")]
    CompressionRefused,
    #[error("JWE ephemeral key (epk) refused: {0}")]
    InvalidEphemeralKey(Box<Error>),
    #[error("JWE decryption failed")]
    DecryptionFailed,
    #[error("JWE encryption failed: {0}")]
    EncryptionFailed(String),

    // --- keys and signers ---
    #[error("key generation or encoding failed: {0}")]
    Key(String),
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
    #[error("PKCS#11 key {label:?} lacks required protection {attribute}")]
    KeyNotProtected {
        label: String,
        attribute: &'static str,
    },
}
