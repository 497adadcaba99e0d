use thiserror::Error;

use crate::ClaimPath;

/// Every way issuing, presenting or verifying an SD-JWT can fail. Each refusal that RFC 9901 or
/// the SD-JWT VC draft makes a MUST has its own variant, so that a test can assert on it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    // --- bounds (our limits; RFC 9901 s10 leaves them to the verifier) ---
    #[error("SD-JWT of {0} bytes exceeds the size limit")]
    TooLarge(usize),
    #[error("more than {0} disclosures")]
    TooManyDisclosures(usize),
    #[error("JSON nested deeper than {0} levels")]
    TooDeep(usize),

    // --- serialization (RFC 9901 s4, s7.1 step 1) ---
    #[error("an SD-JWT has at least one '~' separator")]
    MissingSeparator,
    #[error("an SD-JWT without Key Binding must end with '~'")]
    MissingTrailingSeparator,
    #[error("empty component between '~' separators")]
    EmptyComponent,
    #[error("malformed JSON in {part}: {reason}")]
    Json { part: &'static str, reason: String },
    #[error("invalid base64url in {0}")]
    Base64(&'static str),

    // --- issuer-signed JWT (RFC 9901 s7.1 step 2) ---
    #[error("issuer JWT typ is not the one expected: {0:?}")]
    IssuerTypeMismatch(Option<String>),
    #[error("issuer JWT algorithm {0:?} is not allowed")]
    IssuerAlgorithmNotAllowed(String),
    #[error("issuer JWT signature is invalid")]
    IssuerSignatureInvalid,
    #[error("issuer JWT refused: {0}")]
    IssuerJwt(immerse_jose::Error),
    #[error("unsupported _sd_alg {0:?}")]
    UnsupportedSdAlg(String),

    // --- disclosures (RFC 9901 s4.2.1, s4.2.2, s7.1 step 3) ---
    #[error("a disclosure is not a JSON array of two or three elements")]
    DisclosureNotArray,
    #[error("a disclosure salt is not a string")]
    DisclosureSaltNotString,
    #[error("a disclosure claim name is not a string")]
    DisclosureNameNotString,
    #[error("claim name {0:?} may not be disclosed")]
    ForbiddenClaimName(String),
    #[error("the same disclosure appears twice")]
    DuplicateDisclosure,
    #[error("_sd is not an array of strings")]
    MalformedSd,
    #[error("an array element with '...' is not an object holding only a digest string")]
    MalformedArrayDigest,
    #[error("digest {0} appears more than once")]
    DuplicateDigest(String),
    #[error("an object-property digest refers to an array-element disclosure")]
    ExpectedPropertyDisclosure,
    #[error("an array-element digest refers to an object-property disclosure")]
    ExpectedArrayElementDisclosure,
    #[error("disclosed claim {0:?} already exists at that level")]
    ClaimAlreadyExists(String),
    #[error("a disclosure is not referenced by any digest")]
    UnreferencedDisclosure,

    // --- time (RFC 9901 s7.1 step 6, RFC 7519 s4.1.4, s4.1.5) ---
    #[error("claim {0:?} is missing")]
    MissingClaim(&'static str),
    #[error("claim {0:?} has the wrong type or value")]
    InvalidClaim(&'static str),
    #[error("SD-JWT expired")]
    Expired,
    #[error("SD-JWT not yet valid (nbf)")]
    NotYetValid,

    // --- Key Binding (RFC 9901 s4.3, s7.3) ---
    #[error("Key Binding is required and the presentation carries no KB-JWT")]
    KeyBindingRequired,
    #[error("the presentation carries a KB-JWT the verifier cannot check (no expectations)")]
    UnexpectedKeyBinding,
    #[error("an SD-JWT received from the issuer carries a KB-JWT")]
    IssuanceWithKeyBinding,
    #[error("the SD-JWT names no holder key (cnf.jwk)")]
    MissingHolderKey,
    #[error("cnf.jwk is not an acceptable public key: {0}")]
    InvalidHolderKey(immerse_jose::Error),
    #[error("KB-JWT typ is not kb+jwt: {0:?}")]
    KbTypeMismatch(Option<String>),
    #[error("KB-JWT algorithm {0:?} is not allowed")]
    KbAlgorithmNotAllowed(String),
    #[error("KB-JWT signature is not by the holder key")]
    KbSignatureInvalid,
    #[error("KB-JWT refused: {0}")]
    KbJwt(immerse_jose::Error),
    #[error("KB-JWT claim {0:?} is missing or has the wrong type")]
    KbInvalidClaim(&'static str),
    #[error("KB-JWT iat is in the future")]
    KbIssuedInFuture,
    #[error("KB-JWT iat is older than the allowed window")]
    KbTooOld,
    #[error("KB-JWT aud is not the expected audience")]
    KbAudienceMismatch,
    #[error("KB-JWT nonce is not the expected nonce")]
    KbNonceMismatch,
    #[error("KB-JWT sd_hash does not match the presented SD-JWT")]
    KbSdHashMismatch,

    // --- SD-JWT VC (draft-ietf-oauth-sd-jwt-vc s3.2.2) ---
    #[error("vct is missing")]
    VcMissingVct,
    #[error("vct is not a string")]
    VcInvalidVct,
    #[error("claim {0:?} must never be selectively disclosable in an SD-JWT VC")]
    VcClaimNotDisclosable(String),
    #[error("status is not an object with status_list {{idx, uri}}")]
    VcInvalidStatus,
    #[error("iss is not the expected issuer")]
    VcIssuerMismatch,

    // --- issuance and presentation (our own input) ---
    #[error("claims to issue must be a JSON object")]
    ClaimsNotObject,
    #[error("claim name {0:?} is reserved by RFC 9901 and may not be issued")]
    ReservedClaimName(String),
    #[error("disclosure policy names {0} which is not in the claims")]
    PolicyPathNotFound(ClaimPath),
    #[error("the selection names {0} which the SD-JWT does not disclose")]
    SelectionNotDisclosable(ClaimPath),
    #[error("signing failed: {0}")]
    Signing(immerse_jose::Error),
    #[error("random number generation failed")]
    Random,
}
