use thiserror::Error;

/// Every way a Status List, a Status List Token, a status reference or the index allocator can
/// be refused. Each refusal is its own variant, precise enough to assert on in tests; messages
/// say what was expected and what was found.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StatusListError {
    // --- the Status List itself (draft s4) ---
    #[error("status list bits must be 1, 2, 4 or 8 (draft s4.1 step 1), found {found}")]
    InvalidBits { found: String },
    #[error("lst must be base64url without padding (RFC 7515 s2), found {found}")]
    InvalidBase64 { found: &'static str },
    #[error("lst must be a ZLIB (RFC 1950) DEFLATE stream (draft s4.1 step 4), found {reason}")]
    NotZlib { reason: String },
    #[error("lst must hold a complete ZLIB stream, found one that ends early")]
    TruncatedZlib,
    #[error("lst must end with its ZLIB stream, found {extra} trailing bytes")]
    TrailingData { extra: usize },
    #[error(
        "decompressed status list must be at most {limit} bytes, found a stream that inflates \
         beyond it"
    )]
    DecompressionBomb { limit: usize },
    #[error("index must be below the list's {len} entries, found {index}")]
    IndexOutOfRange { index: u64, len: usize },
    #[error("status value must fit in {bits} bits, found {value:#04x}")]
    StatusTooWide { value: u8, bits: u8 },
    #[error("status list member {member} must be {expected}, found {found}")]
    InvalidStatusListMember {
        member: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("status list member {0} is missing")]
    MissingStatusListMember(&'static str),

    // --- the Status List Token (draft s5.1, s8.3) ---
    #[error("status list token refused: {0}")]
    Token(#[from] immerse_jose::Error),
    #[error("status list token claim {0} is required (draft s5.1) and missing")]
    MissingClaim(&'static str),
    #[error("status list token claim {claim} must be {expected}, found {found}")]
    InvalidClaim {
        claim: &'static str,
        expected: &'static str,
        found: &'static str,
    },
    #[error("status list token sub must equal the referenced uri {expected:?}, found {found:?}")]
    SubjectMismatch { expected: String, found: String },
    #[error("status list token ttl must be a positive integer (draft s5.1), found {found}")]
    InvalidTtl { found: String },
    #[error("status list token exp must be after iat {iat}, found {exp}")]
    ExpiryBeforeIssue { iat: i64, exp: i64 },

    // --- the reference in a Referenced Token (draft s6.2) ---
    #[error("referenced token member {0} is required (draft s6.2) and missing")]
    MissingReference(&'static str),
    #[error("referenced token member {member} must be {expected}, found {found}")]
    InvalidReference {
        member: &'static str,
        expected: &'static str,
        found: &'static str,
    },

    // --- index allocation (draft s12.5.1, s13.3) ---
    #[error("status list capacity must be at least 1 entry, found {found}")]
    InvalidCapacity { found: usize },
    #[error("all {capacity} indices of the status list are allocated")]
    Exhausted { capacity: usize },
    #[error("stored allocator state refused: expected {expected}, found {found}")]
    InvalidAllocatorState {
        expected: &'static str,
        found: String,
    },
    #[error("the CSPRNG failed: {0}")]
    Random(String),
    #[error("compressing the status list failed: {0}")]
    Compression(String),
}

/// A short name for a JSON value's type, for error messages.
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => "an integer",
        serde_json::Value::Number(_) => "a fractional number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
