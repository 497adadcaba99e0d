//! What can stop a decision. Every one of these denies (fail closed); none admits.

/// Errors of policy loading and of admission itself (not an image failing its checks: that is
/// a [`crate::CheckFailure`], a verdict rather than an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A policy document that cannot be enforced as written.
    #[error("policy {policy}: {reason}")]
    InvalidPolicy { policy: String, reason: String },
    /// A policy file or manifest that is not YAML of the expected shape.
    #[error("{0}")]
    Load(String),
    /// The admitted object's pod spec is not shaped as Kubernetes defines it.
    #[error("malformed object: {0}")]
    MalformedObject(String),
    /// The AdmissionReview itself is unusable.
    #[error("invalid AdmissionReview: {0}")]
    InvalidReview(String),
    /// The namespace's labels could not be read, so the policies that govern it are unknown.
    #[error("namespace {namespace}: labels unavailable: {reason}")]
    NamespaceUnavailable { namespace: String, reason: String },
    /// Pull credentials could not be read.
    #[error("credentials: {0}")]
    Credentials(String),
}
