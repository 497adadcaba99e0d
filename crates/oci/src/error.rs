//! The one error type of this crate. Variants are precise enough for tests to assert on, and
//! every registry answer that does not fit the specifications becomes one of them, never a panic.

use crate::digest::Digest;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// A digest string is not `sha256:` followed by 64 lowercase hex characters.
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex>")]
    InvalidDigest(String),
    /// A digest names an algorithm other than sha256 (the only one we verify).
    #[error("unsupported digest algorithm in {0:?}: only sha256 is supported")]
    UnsupportedDigestAlgorithm(String),
    /// Content does not hash to the digest that names it.
    #[error("content does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    /// Content is not as long as its descriptor says.
    #[error("content of {digest} is {actual} bytes, its descriptor says {expected}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    /// An image reference does not follow the distribution reference grammar.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        reference: String,
        reason: &'static str,
    },
    /// A response or file is larger than we accept (an untrusted registry must not exhaust memory).
    #[error("{what} exceeds the limit of {limit} bytes")]
    TooLarge { what: &'static str, limit: u64 },
    /// A manifest or index is not valid JSON of the expected shape.
    #[error("invalid {what}: {source}")]
    InvalidJson {
        what: &'static str,
        source: serde_json::Error,
    },
    /// A manifest is structurally valid JSON but breaks the image spec.
    #[error("invalid manifest: {0}")]
    InvalidManifest(&'static str),
    /// The media type is not one we accept here.
    #[error("unsupported media type {0:?}")]
    UnsupportedMediaType(String),
    /// The `mediaType` in a manifest body and the Content-Type it was served with disagree.
    #[error("media type mismatch: body says {body:?}, header says {header:?}")]
    MediaTypeMismatch { body: String, header: String },
    /// A cosign simple-signing payload is not in the exact format.
    #[error("invalid simple-signing payload: {0}")]
    InvalidPayload(String),
    /// Plain http was asked for a host that is not loopback.
    #[error("plain http is allowed only for loopback hosts, not {0:?}")]
    PlainHttpNotLoopback(String),
    /// A registry host (or redirect, upload location, token realm) is not acceptable.
    #[error("invalid or disallowed URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    /// The referrers tag holds something other than an image index.
    #[error("referrers tag {0} does not hold an image index")]
    ReferrersTagNotIndex(String),
    /// The registry demands authentication we cannot satisfy.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// A manifest or blob does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The registry answered with a status the spec does not allow for this request.
    #[error("registry answered {status} to {operation}: {body}")]
    UnexpectedStatus {
        operation: &'static str,
        status: u16,
        body: String,
    },
    /// The registry answered without a header the spec requires, or with a malformed one.
    #[error("registry response for {operation}: missing or invalid header {header}")]
    BadHeader {
        operation: &'static str,
        header: &'static str,
    },
    /// Transport failure (connection, TLS, timeout).
    #[error("http transport: {0}")]
    Http(#[from] reqwest::Error),
    /// File system failure in an OCI image layout.
    #[error("i/o on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// An OCI image layout is malformed (missing `oci-layout`, unknown version, ...).
    #[error("invalid OCI image layout: {0}")]
    InvalidLayout(String),
}

pub type Result<T> = std::result::Result<T, OciError>;

impl OciError {
    /// For `map_err` on serde_json results.
    pub(crate) fn json(what: &'static str) -> impl FnOnce(serde_json::Error) -> Self {
        move |source| OciError::InvalidJson { what, source }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| OciError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
