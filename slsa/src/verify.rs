//! The provenance policy, with slsa-verifier's semantics (verifiers/internal/gha): subject
//! digest, builder identity bound to the signing certificate, source repository and ref, and
//! agreement with the certificate's Fulcio source extensions. Only [`verify_provenance`] makes a
//! [`VerifiedProvenance`].

use crate::builder::BuilderId;
use crate::error::SlsaError;
use crate::git::{RefKind, normalize_source_uri, parse_ref};
use crate::semver::{Version, VersionedTagMatch, versioned_tag_matches};
use crate::source::{ProvenanceSource, provenance_source};
use crate::statement::{Predicate, ResourceDescriptor, VerifiedStatement, check_digest_value};

/// Digest algorithms accepted for matching subjects. Others are ignored, as the DigestSet spec
/// requires of algorithms a consumer does not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    Sha256,
    Sha512,
}

impl DigestAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha256",
            DigestAlgorithm::Sha512 => "sha512",
        }
    }
}

/// One digest of the artifact being judged, lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl Digest {
    /// Validate length and hex; uppercase hex is lowered (subjects use lowercase hex).
    pub fn new(algorithm: DigestAlgorithm, hex: &str) -> Result<Self, SlsaError> {
        let hex = hex.to_ascii_lowercase();
        check_digest_value(algorithm.name(), &hex).map_err(|reason| {
            SlsaError::InvalidExpectedDigest {
                algorithm: algorithm.name().to_owned(),
                value: hex.clone(),
                reason,
            }
        })?;
        Ok(Digest { algorithm, hex })
    }
    pub fn sha256(hex: &str) -> Result<Self, SlsaError> {
        Digest::new(DigestAlgorithm::Sha256, hex)
    }
    pub fn sha512(hex: &str) -> Result<Self, SlsaError> {
        Digest::new(DigestAlgorithm::Sha512, hex)
    }
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

/// Which source ref the artifact must have been built from (at most one, as in slsa-verifier's
/// `--source-branch | --source-tag | --source-versioned-tag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRefPolicy {
    /// `refs/heads/<name>`, name compared exactly.
    Branch(String),
    /// `refs/tags/<name>`, name compared exactly.
    Tag(String),
    /// `refs/tags/<semver>` within the given major[.minor[.patch]] (see [`versioned_tag_matches`]).
    VersionedTag(String),
}

/// What the caller requires of the provenance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProvenanceOptions {
    /// The digests of the one artifact being judged (sha256, and sha512 if known).
    pub expected_digests: Vec<Digest>,
    /// The source repository: `github.com/org/repo`, with or without `https://` or `git+https://`.
    pub source_uri: String,
    /// The trusted builder: `<builder>`, `<builder>@vX.Y.Z` or `<builder>@refs/tags/vX.Y.Z`.
    /// `None` trusts whichever builder signed its own provenance; the caller then judges
    /// [`VerifiedProvenance::builder_id`] itself. A delegated build always needs it.
    pub builder_id: Option<String>,
    /// Signing workflows trusted to sign provenance that names *another* builder: BYOB
    /// delegators (slsa-github-generator's `delegator_generic_slsa3.yml` signs for a TRW), or a
    /// repository's own workflow signing for GitHub's hosted runner (`actions/runner`). Same
    /// forms as `builder_id`. Empty means the signer must be the predicate's builder.
    pub trusted_delegators: Vec<String>,
    /// Require the builder to be referenced at a release tag `refs/tags/vX.Y.Z`: the signing
    /// workflow, and for a delegated build also the predicate's builder. slsa-verifier
    /// always requires this of the builders it trusts; set it when trusting a third-party
    /// reusable workflow. Off, a builder at a branch (which can move) is accepted.
    pub require_builder_release_tag: bool,
    pub source_ref: Option<SourceRefPolicy>,
}

/// The signer of the DSSE envelope, from its verified Fulcio certificate. Values are the
/// extension values as text; `None` means the certificate lacks the extension.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignerIdentity {
    /// Build Signer URI, OID 1.3.6.1.4.1.57264.1.9.
    pub build_signer_uri: Option<String>,
    /// The certificate's URI SAN (for GitHub: the job workflow ref).
    pub san: String,
    /// Source Repository URI, OID 1.3.6.1.4.1.57264.1.12 (`https://github.com/org/repo`).
    pub source_repository_uri: Option<String>,
    /// Source Repository Ref, OID 1.3.6.1.4.1.57264.1.14 (`refs/tags/v1.2.3`).
    pub source_repository_ref: Option<String>,
    /// Source Repository Digest, OID 1.3.6.1.4.1.57264.1.13 (the commit).
    pub source_repository_digest: Option<String>,
}

/// Provenance that passed [`verify_provenance`]; it cannot be built any other way.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedProvenance {
    subject: ResourceDescriptor,
    predicate_type: &'static str,
    build_type: String,
    builder_id: String,
    signer: String,
    delegated: bool,
    source: ProvenanceSource,
    invocation_id: Option<String>,
}

impl VerifiedProvenance {
    /// The subject that matched the artifact's digests.
    pub fn subject(&self) -> &ResourceDescriptor {
        &self.subject
    }
    pub fn predicate_type(&self) -> &'static str {
        self.predicate_type
    }
    pub fn build_type(&self) -> &str {
        &self.build_type
    }
    /// The predicate's builder id.
    pub fn builder_id(&self) -> &str {
        &self.builder_id
    }
    /// The signing workflow (Build Signer URI, else SAN).
    pub fn signer(&self) -> &str {
        &self.signer
    }
    /// True when a trusted delegator signed for another builder.
    pub fn delegated(&self) -> bool {
        self.delegated
    }
    /// `git+https://github.com/org/repo`.
    pub fn source_repository(&self) -> &str {
        &self.source.repository
    }
    pub fn source_ref(&self) -> &str {
        &self.source.reference
    }
    pub fn source_commit(&self) -> Option<&str> {
        self.source.commit.as_deref()
    }
    pub fn invocation_id(&self) -> Option<&str> {
        self.invocation_id.as_deref()
    }
}

/// Judge a statement (already signature-verified) signed by `signer` against `options`.
/// Order: the policy itself, subject, builder, source, certificate agreement, source ref.
pub fn verify_provenance(
    statement: &VerifiedStatement,
    signer: &SignerIdentity,
    options: &ProvenanceOptions,
) -> Result<VerifiedProvenance, SlsaError> {
    // The policy: parse everything first so that a broken policy never half-applies.
    let expected_source = normalize_source_uri(&options.source_uri)?;
    let trusted = options
        .builder_id
        .as_deref()
        .map(BuilderId::parse)
        .transpose()?;
    let delegators = options
        .trusted_delegators
        .iter()
        .map(|d| BuilderId::parse(d))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(SourceRefPolicy::VersionedTag(v)) = &options.source_ref
        && Version::parse(v).is_none()
    {
        return Err(SlsaError::InvalidExpectedSemver(v.clone()));
    }

    let subject = matching_subject(statement.subject(), &options.expected_digests)?;
    let (builder_id, signer_id, delegated) =
        check_builder(statement.predicate(), signer, trusted.as_ref(), &delegators)?;
    // slsa-verifier pins both the certificate's workflow (`verifyTrustedBuilderRef`) and, for
    // BYOB, the delegated builder (`isValidDelegatorBuilderID`).
    if options.require_builder_release_tag {
        let pinned = [Some(&signer_id), delegated.then_some(&builder_id)];
        if let Some(loose) = pinned.into_iter().flatten().find(|b| !b.at_release_tag()) {
            return Err(SlsaError::BuilderRefNotRelease {
                builder: loose.to_string(),
            });
        }
    }
    let source = provenance_source(statement.predicate(), &expected_source)?;
    check_certificate_source(signer, &source)?;
    if let Some(policy) = &options.source_ref {
        check_source_ref(policy, &source.reference)?;
    }

    let predicate = statement.predicate();
    let invocation_id = match predicate {
        Predicate::SlsaV1(p) => p
            .run_details
            .metadata
            .as_ref()
            .and_then(|m| m.invocation_id.clone()),
        Predicate::SlsaV02(p) => p
            .metadata
            .as_ref()
            .and_then(|m| m.build_invocation_id.clone()),
    };
    Ok(VerifiedProvenance {
        subject: subject.clone(),
        predicate_type: predicate.predicate_type(),
        build_type: predicate.build_type().to_owned(),
        builder_id: builder_id.to_string(),
        signer: signer_id.to_string(),
        delegated,
        source,
        invocation_id,
    })
}

/// A subject matches when it shares at least one accepted algorithm with the artifact and every
/// shared algorithm agrees (stricter than DigestSet's "any field matches": a subject whose sha256
/// matches but whose sha512 does not is not this artifact).
fn matching_subject<'a>(
    subjects: &'a [ResourceDescriptor],
    expected: &[Digest],
) -> Result<&'a ResourceDescriptor, SlsaError> {
    if expected.is_empty() {
        return Err(SlsaError::NoExpectedDigest);
    }
    for (i, a) in expected.iter().enumerate() {
        if expected[..i]
            .iter()
            .any(|b| b.algorithm == a.algorithm && b.hex != a.hex)
        {
            return Err(SlsaError::InvalidExpectedDigest {
                algorithm: a.algorithm.name().to_owned(),
                value: a.hex.clone(),
                reason: "two different values for one algorithm",
            });
        }
    }
    let matches = |s: &ResourceDescriptor| {
        let mut shared = 0usize;
        for want in expected {
            if let Some(have) = s.digest.get(want.algorithm.name()) {
                if have != want.hex {
                    return false;
                }
                shared += 1;
            }
        }
        shared > 0
    };
    subjects
        .iter()
        .find(|s| matches(s))
        .ok_or_else(|| SlsaError::SubjectMismatch {
            expected: expected
                .iter()
                .map(|d| format!("{}:{}", d.algorithm.name(), d.hex))
                .collect(),
            found: subjects
                .iter()
                .flat_map(|s| s.digest.iter())
                .filter(|(alg, _)| matches!(*alg, "sha256" | "sha512"))
                .take(16)
                .map(|(alg, hex)| format!("{alg}:{hex}"))
                .collect(),
        })
}

/// Bind the predicate's builder to the certificate: the signing workflow must be the builder the
/// predicate names (slsa-verifier `verifyBuilderIDExactMatch` against the certificate's
/// builder), unless the signer is a trusted delegator; then the trusted builder id is checked.
fn check_builder(
    predicate: &Predicate,
    signer: &SignerIdentity,
    trusted: Option<&BuilderId>,
    delegators: &[BuilderId],
) -> Result<(BuilderId, BuilderId, bool), SlsaError> {
    if let Some(uri) = &signer.build_signer_uri
        && uri != &signer.san
    {
        return Err(SlsaError::SignerIdentityInconsistent {
            san: signer.san.clone(),
            build_signer_uri: uri.clone(),
        });
    }
    let signer_id =
        BuilderId::parse_versioned(signer.build_signer_uri.as_deref().unwrap_or(&signer.san))?;
    let predicate_id = BuilderId::parse(predicate.builder_id())?;

    if signer_id.same_as(&predicate_id) {
        if let Some(trusted) = trusted {
            trusted.check(&signer_id)?;
        }
        return Ok((predicate_id, signer_id, false));
    }
    if delegators.iter().any(|d| d.check(&signer_id).is_ok()) {
        let Some(trusted) = trusted else {
            return Err(SlsaError::BuilderIdRequired {
                signer: signer_id.to_string(),
                predicate: predicate_id.to_string(),
            });
        };
        trusted.check(&predicate_id)?;
        return Ok((predicate_id, signer_id, true));
    }
    Err(SlsaError::SignerBuilderMismatch {
        signer: signer_id.to_string(),
        predicate: predicate_id.to_string(),
    })
}

/// The certificate's source extensions, when present, must say what the provenance says
/// (slsa-verifier `VerifyCertficateSourceRepository` and the workflow identity checks).
fn check_certificate_source(
    signer: &SignerIdentity,
    source: &ProvenanceSource,
) -> Result<(), SlsaError> {
    if let Some(uri) = &signer.source_repository_uri {
        let same = normalize_source_uri(uri).is_ok_and(|u| u == source.repository);
        if !same {
            return Err(SlsaError::CertificateSourceMismatch {
                certificate: uri.clone(),
                provenance: source.repository.clone(),
            });
        }
    }
    if let Some(reference) = &signer.source_repository_ref
        && reference != &source.reference
    {
        return Err(SlsaError::CertificateRefMismatch {
            certificate: reference.clone(),
            provenance: source.reference.clone(),
        });
    }
    if let Some(digest) = &signer.source_repository_digest
        && source.commit.as_deref() != Some(digest.as_str())
    {
        return Err(SlsaError::CertificateDigestMismatch {
            certificate: digest.clone(),
            provenance: source.commit.clone(),
        });
    }
    Ok(())
}

fn check_source_ref(policy: &SourceRefPolicy, reference: &str) -> Result<(), SlsaError> {
    let want_kind = match policy {
        SourceRefPolicy::Branch(_) => RefKind::Branch,
        SourceRefPolicy::Tag(_) | SourceRefPolicy::VersionedTag(_) => RefKind::Tag,
    };
    let name = match parse_ref(reference) {
        Some((kind, name)) if kind == want_kind => name,
        _ => {
            return Err(SlsaError::UnexpectedRefType {
                expected: if want_kind == RefKind::Branch {
                    "branch (refs/heads/...)"
                } else {
                    "tag (refs/tags/...)"
                },
                found: reference.to_owned(),
            });
        }
    };
    match policy {
        SourceRefPolicy::Branch(want) if want != name => Err(SlsaError::BranchMismatch {
            expected: want.clone(),
            found: name.to_owned(),
        }),
        SourceRefPolicy::Tag(want) if want != name => Err(SlsaError::TagMismatch {
            expected: want.clone(),
            found: name.to_owned(),
        }),
        SourceRefPolicy::VersionedTag(want) => match versioned_tag_matches(name, want) {
            VersionedTagMatch::Match => Ok(()),
            VersionedTagMatch::Mismatch => Err(SlsaError::VersionedTagMismatch {
                expected: want.clone(),
                found: name.to_owned(),
            }),
            VersionedTagMatch::TagNotSemver => {
                Err(SlsaError::ProvenanceTagNotSemver(name.to_owned()))
            }
            VersionedTagMatch::ExpectedNotSemver => {
                Err(SlsaError::InvalidExpectedSemver(want.clone()))
            }
        },
        _ => Ok(()),
    }
}
