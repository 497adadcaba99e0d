//! Where the provenance says the source came from, read the way slsa-verifier reads GitHub
//! provenance (verifiers/internal/gha/provenance.go `verifySourceURI` and the per-version
//! `TriggerURI`/`SourceURI`):
//!
//! - the *trigger*: the repository and ref whose workflow started the build;
//!   v0.2 `invocation.configSource.uri`; v1 `externalParameters.workflow.{repository,ref}` for
//!   GitHub workflow build types, else `internalParameters.GITHUB_WORKFLOW_REF`;
//! - the *source*: what was built; v0.2 `materials[0]`, v1 `resolvedDependencies[0]`.
//!
//! Both must name the expected repository exactly, both must carry a ref, and the two full
//! URIs (`repo@ref`) must be equal. The ref that branch/tag policies judge is that common ref.

use crate::error::SlsaError;
use crate::git::parse_git_uri_and_ref;
use crate::provenance::{ProvenanceV1, ProvenanceV02};
use crate::statement::{DigestSet, Predicate};
use serde_json::Value;

/// v1 build types whose `externalParameters.workflow` holds `{repository, ref, path}`.
pub const GITHUB_WORKFLOW_BUILD_TYPES: [&str; 2] = [
    // GitHub artifact attestations (actions/attest-build-provenance).
    "https://actions.github.io/buildtypes/workflow/v1",
    // slsa-framework/github-actions-buildtypes, workflow/v1.
    "https://slsa-framework.github.io/github-actions-buildtypes/workflow/v1",
];

/// The source as the provenance states it, after the consistency checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenanceSource {
    /// `git+https://github.com/org/repo`.
    pub repository: String,
    /// `refs/heads/...` or `refs/tags/...` (or whatever ref the builder recorded).
    pub reference: String,
    /// The git commit of the built source, when the provenance records one.
    pub commit: Option<String>,
}

/// Read and cross-check the source; `expected` is the normalised `git+https://...` URI.
pub fn provenance_source(
    predicate: &Predicate,
    expected: &str,
) -> Result<ProvenanceSource, SlsaError> {
    let (trigger, source_uri, source_digest) = match predicate {
        Predicate::SlsaV1(p) => v1_uris(p)?,
        Predicate::SlsaV02(p) => v02_uris(p)?,
    };

    let (trigger_repo, trigger_ref) = parse_git_uri_and_ref(&trigger)?;
    if trigger_repo != expected {
        return Err(SlsaError::SourceMismatch {
            expected: expected.to_owned(),
            found: trigger_repo.to_owned(),
        });
    }
    if trigger_ref.is_empty() {
        return Err(SlsaError::MalformedGitUri {
            uri: trigger.clone(),
            reason: "the trigger has no ref",
        });
    }
    let (source_repo, source_ref) = parse_git_uri_and_ref(&source_uri)?;
    if source_repo != expected {
        return Err(SlsaError::SourceMismatch {
            expected: expected.to_owned(),
            found: source_repo.to_owned(),
        });
    }
    if source_ref.is_empty() {
        return Err(SlsaError::MalformedGitUri {
            uri: source_uri.clone(),
            reason: "the source has no ref",
        });
    }
    // The build must have built what triggered it (slsa-verifier: "source and trigger URIs do
    // not match").
    if trigger != source_uri {
        return Err(SlsaError::SourceInconsistent {
            trigger,
            source_uri,
        });
    }
    let commit = ["gitCommit", "sha1"]
        .iter()
        .find_map(|alg| source_digest.get(alg))
        .map(str::to_owned);
    Ok(ProvenanceSource {
        repository: expected.to_owned(),
        reference: trigger_ref.to_owned(),
        commit,
    })
}

fn v1_uris(p: &ProvenanceV1) -> Result<(String, String, DigestSet), SlsaError> {
    let def = &p.build_definition;
    let trigger = if GITHUB_WORKFLOW_BUILD_TYPES.contains(&def.build_type.as_str()) {
        let workflow = def
            .external_parameters
            .get("workflow")
            .and_then(Value::as_object)
            .ok_or_else(|| SlsaError::MissingSource("externalParameters.workflow".into()))?;
        let field = |name: &str| {
            workflow
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    SlsaError::MissingSource(format!("externalParameters.workflow.{name}"))
                })
        };
        format!("git+{}@{}", field("repository")?, field("ref")?)
    } else {
        let workflow_ref = def
            .internal_parameters
            .as_ref()
            .and_then(|m| m.get("GITHUB_WORKFLOW_REF"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                SlsaError::MissingSource("internalParameters.GITHUB_WORKFLOW_REF".into())
            })?;
        github_workflow_ref_to_uri(workflow_ref)?
    };
    let first = def.resolved_dependencies.first().ok_or_else(|| {
        SlsaError::MissingSource("buildDefinition.resolvedDependencies is empty".into())
    })?;
    let source = first
        .uri
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| SlsaError::MissingSource("resolvedDependencies[0].uri".into()))?;
    Ok((trigger, source, first.digest.clone()))
}

/// `org/repo/.github/workflows/x.yml@refs/tags/v1` to `git+https://github.com/org/repo@refs/tags/v1`.
fn github_workflow_ref_to_uri(workflow_ref: &str) -> Result<String, SlsaError> {
    let malformed = |reason| SlsaError::MalformedGitUri {
        uri: workflow_ref.to_owned(),
        reason,
    };
    let mut at = workflow_ref.split('@');
    let (Some(repo_and_path), Some(reference), None) = (at.next(), at.next(), at.next()) else {
        return Err(malformed("GITHUB_WORKFLOW_REF is not <repo>/<path>@<ref>"));
    };
    let mut segments = repo_and_path.split('/');
    let (Some(owner), Some(repo)) = (segments.next(), segments.next()) else {
        return Err(malformed("GITHUB_WORKFLOW_REF has no <owner>/<repo>"));
    };
    if owner.is_empty() || repo.is_empty() || reference.is_empty() {
        return Err(malformed("GITHUB_WORKFLOW_REF has an empty part"));
    }
    Ok(format!("git+https://github.com/{owner}/{repo}@{reference}"))
}

fn v02_uris(p: &ProvenanceV02) -> Result<(String, String, DigestSet), SlsaError> {
    let trigger = p
        .invocation
        .as_ref()
        .and_then(|i| i.config_source.as_ref())
        .and_then(|c| c.uri.clone())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| SlsaError::MissingSource("invocation.configSource.uri".into()))?;
    let first = p
        .materials
        .first()
        .ok_or_else(|| SlsaError::MissingSource("materials is empty".into()))?;
    let source = first
        .uri
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| SlsaError::MissingSource("materials[0].uri".into()))?;
    Ok((trigger, source, first.digest.clone()))
}
