//! The one error type of this crate. Every refusal has its own variant so that callers and tests
//! can assert on the exact reason; messages say what was expected and what was found.

/// Why a statement could not be parsed, a policy could not be applied, or provenance could not
/// be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlsaError {
    // ---- envelope and statement layer (in-toto attestation framework v1) ----
    /// The DSSE `payloadType` is not the in-toto one.
    #[error("DSSE payloadType: expected {expected:?}, found {found:?}")]
    PayloadType {
        expected: &'static str,
        found: String,
    },
    /// The payload is larger than this crate is willing to parse.
    #[error("statement payload of {size} bytes exceeds the limit of {limit} bytes")]
    PayloadTooLarge { size: usize, limit: usize },
    /// The payload is not JSON, has a duplicate member, or does not have the statement's shape.
    #[error("malformed statement: {0}")]
    MalformedStatement(String),
    /// `_type` names a statement version this crate does not know.
    #[error("unknown statement _type {0:?} (expected https://in-toto.io/Statement/v1 or v0.1)")]
    UnknownStatementType(String),
    /// `predicateType` is not a SLSA provenance type this crate judges.
    #[error(
        "unknown predicateType {0:?} (expected https://slsa.dev/provenance/v1 or https://slsa.dev/provenance/v0.2)"
    )]
    UnknownPredicateType(String),
    /// A subject or resource descriptor breaks the in-toto field rules.
    #[error("invalid resource descriptor {field}: {reason}")]
    InvalidResourceDescriptor { field: String, reason: String },
    /// The predicate does not have the SLSA provenance shape.
    #[error("malformed provenance predicate: {0}")]
    MalformedPredicate(String),

    // ---- caller's policy (options) ----
    /// An expected digest is not a lowercase hex digest of the right length.
    #[error("invalid expected digest {algorithm}:{value:?}: {reason}")]
    InvalidExpectedDigest {
        algorithm: String,
        value: String,
        reason: &'static str,
    },
    /// The policy names no artifact digest, so no subject could ever match.
    #[error("the policy names no expected artifact digest")]
    NoExpectedDigest,
    /// A builder id (trusted builder, delegator, signer or predicate) does not parse.
    #[error("invalid builder id {id:?}: {reason}")]
    InvalidBuilderId { id: String, reason: &'static str },
    /// The expected source URI cannot be normalised to a git URI without a ref.
    #[error("invalid expected source URI {0:?}")]
    InvalidSourceUri(String),
    /// The expected versioned tag is not a semantic version.
    #[error("expected versioned tag {0:?} is not a semantic version")]
    InvalidExpectedSemver(String),

    // ---- subject ----
    /// No subject carries one of the artifact's digests.
    #[error("no subject matches the artifact digests {expected:?}; subjects carry {found:?}")]
    SubjectMismatch {
        expected: Vec<String>,
        found: Vec<String>,
    },

    // ---- builder identity ----
    /// The builder is not the one the policy trusts.
    #[error("builder: expected {expected:?}, found {found:?}")]
    BuilderMismatch { expected: String, found: String },
    /// The builder is the trusted one but at another version than the policy pins.
    #[error("builder version: expected {expected:?}, found {found:?}")]
    BuilderVersionMismatch { expected: String, found: String },
    /// The workflow that signed (certificate) is not the builder the predicate names.
    #[error("provenance names builder {predicate:?} but was signed by workflow {signer:?}")]
    SignerBuilderMismatch { signer: String, predicate: String },
    /// The certificate's Build Signer URI and URI SAN name different workflows.
    #[error("certificate SAN {san:?} and Build Signer URI {build_signer_uri:?} differ")]
    SignerIdentityInconsistent {
        san: String,
        build_signer_uri: String,
    },
    /// The builder is referenced at something other than a release tag `refs/tags/vX.Y.Z`
    /// (a branch can move; slsa-verifier refuses it for trusted builders).
    #[error("builder {builder:?} is not pinned to a release tag refs/tags/vX.Y.Z")]
    BuilderRefNotRelease { builder: String },
    /// A delegated build (the signer vouches for another builder) needs the policy to pin the
    /// builder it trusts.
    #[error(
        "signer {signer:?} delegates to builder {predicate:?}; the policy must name the trusted builder"
    )]
    BuilderIdRequired { signer: String, predicate: String },

    // ---- source ----
    /// The provenance does not say where the source came from.
    #[error("provenance has no source: {0}")]
    MissingSource(String),
    /// A git URI in the provenance is malformed (not `git+...`, no ref where one is needed).
    #[error("malformed git URI {uri:?}: {reason}")]
    MalformedGitUri { uri: String, reason: &'static str },
    /// The provenance's source repository is not the expected one.
    #[error("source repository: expected {expected:?}, found {found:?}")]
    SourceMismatch { expected: String, found: String },
    /// The triggering workflow's repository@ref and the built source's repository@ref differ.
    #[error("provenance is inconsistent: trigger {trigger:?} but source {source_uri:?}")]
    SourceInconsistent { trigger: String, source_uri: String },
    /// A branch or tag policy met a ref of the other kind (or no kind).
    #[error("source ref: expected a {expected} ref, found {found:?}")]
    UnexpectedRefType {
        expected: &'static str,
        found: String,
    },
    /// The source branch is not the expected one.
    #[error("source branch: expected {expected:?}, found {found:?}")]
    BranchMismatch { expected: String, found: String },
    /// The source tag is not the expected one.
    #[error("source tag: expected {expected:?}, found {found:?}")]
    TagMismatch { expected: String, found: String },
    /// The source tag is a semantic version outside the expected major/minor/patch.
    #[error("source versioned tag: expected {expected:?}, found {found:?}")]
    VersionedTagMismatch { expected: String, found: String },
    /// The source tag is not a semantic version, so no versioned-tag policy can accept it.
    #[error("source tag {0:?} is not a semantic version")]
    ProvenanceTagNotSemver(String),

    // ---- agreement with the signing certificate (Fulcio extensions) ----
    /// Source Repository URI (OID 1.3.6.1.4.1.57264.1.12) differs from the provenance.
    #[error("certificate source repository {certificate:?} differs from provenance {provenance:?}")]
    CertificateSourceMismatch {
        certificate: String,
        provenance: String,
    },
    /// Source Repository Ref (OID 1.3.6.1.4.1.57264.1.14) differs from the provenance.
    #[error("certificate source ref {certificate:?} differs from provenance {provenance:?}")]
    CertificateRefMismatch {
        certificate: String,
        provenance: String,
    },
    /// Source Repository Digest (OID 1.3.6.1.4.1.57264.1.13) differs from the provenance.
    #[error("certificate source digest {certificate:?} differs from provenance {provenance:?}")]
    CertificateDigestMismatch {
        certificate: String,
        provenance: Option<String>,
    },

    // ---- generation ----
    /// A timestamp is not an RFC 3339 `YYYY-MM-DDThh:mm:ss[.frac]Z` UTC time.
    #[error("invalid timestamp {0:?} (expected RFC 3339 UTC, e.g. 2026-01-02T03:04:05Z)")]
    InvalidTimestamp(String),
    /// The build description cannot be turned into provenance.
    #[error("cannot generate provenance: {0}")]
    Generate(String),
}
