//! Generate a SLSA Provenance v1 statement (in-toto Statement v1) for a build, as canonical
//! JSON bytes ready to be signed into a DSSE envelope by the sigstore crate.
//!
//! Determinism: members are sorted (RFC 8785 order), subjects are sorted by name, and nothing
//! is read from the clock or the environment; identical inputs give identical bytes, so two
//! reproducible builds of the same source yield byte-identical provenance.

use crate::builder::BuilderId;
use crate::error::SlsaError;
use crate::json::to_canonical_vec;
use crate::provenance::{BuildDefinition, BuildMetadata, Builder, ProvenanceV1, RunDetails};
use crate::statement::{
    DigestSet, IN_TOTO_PAYLOAD_TYPE, ResourceDescriptor, SLSA_PROVENANCE_V1, STATEMENT_V1,
    VerifiedStatement,
};
use crate::time::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::Read;

/// A subject `{name, digest: {sha256}}` for an artifact's bytes.
pub fn subject_from_bytes(name: &str, bytes: &[u8]) -> ResourceDescriptor {
    subject_with_sha256(name, &hex::encode(Sha256::digest(bytes)))
}

/// A subject for an artifact read from `reader` (streamed, for large files).
pub fn subject_from_reader<R: Read>(
    name: &str,
    mut reader: R,
) -> std::io::Result<ResourceDescriptor> {
    let mut hasher = Sha256::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(subject_with_sha256(name, &hex::encode(hasher.finalize())))
}

fn subject_with_sha256(name: &str, hex: &str) -> ResourceDescriptor {
    let mut digest = DigestSet::new();
    // A hex-encoded SHA-256 is always a valid sha256 value.
    let _ = digest.insert("sha256", hex);
    ResourceDescriptor {
        name: Some(name.to_owned()),
        digest,
        ..ResourceDescriptor::default()
    }
}

/// Everything the provenance says about one build.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BuildDescription {
    /// The build's outputs; each needs a name and a digest. Sorted by name in the output.
    pub subjects: Vec<ResourceDescriptor>,
    /// `runDetails.builder.id`, e.g. the signing workflow
    /// `https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.2.3`.
    pub builder_id: String,
    pub builder_version: BTreeMap<String, String>,
    /// `buildDefinition.buildType`, a URI naming the build template.
    pub build_type: String,
    pub external_parameters: Map<String, Value>,
    pub internal_parameters: Option<Map<String, Value>>,
    /// Kept in the given order: by GitHub convention the first is the built source
    /// (`git+https://github.com/org/repo@refs/...` with its `gitCommit`).
    pub resolved_dependencies: Vec<ResourceDescriptor>,
    pub invocation_id: Option<String>,
    pub started_on: Option<Timestamp>,
    pub finished_on: Option<Timestamp>,
    pub byproducts: Vec<ResourceDescriptor>,
}

/// The statement to sign: DSSE `payloadType` and `payload` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedStatement {
    pub payload_type: &'static str,
    pub payload: Vec<u8>,
}

#[derive(Serialize)]
struct StatementOut<'a> {
    #[serde(rename = "_type")]
    statement_type: &'static str,
    subject: &'a [ResourceDescriptor],
    #[serde(rename = "predicateType")]
    predicate_type: &'static str,
    predicate: &'a ProvenanceV1,
}

/// Build the statement. Refuses what the verifier would refuse (no subject, a subject without
/// name or digest, two subjects with one name, an unparsable builder id, an empty build type),
/// and re-parses its own output as a last check.
pub fn generate(build: &BuildDescription) -> Result<GeneratedStatement, SlsaError> {
    let fail = |msg: String| Err(SlsaError::Generate(msg));
    if build.subjects.is_empty() {
        return fail("no subjects".into());
    }
    BuilderId::parse(&build.builder_id)?;
    if build.build_type.is_empty() {
        return fail("empty buildType".into());
    }

    let mut subjects = build.subjects.clone();
    for s in &subjects {
        if s.name.as_deref().is_none_or(str::is_empty) {
            return fail("a subject has no name".into());
        }
        if s.digest.is_empty() {
            return fail(format!("subject {:?} has no digest", s.name));
        }
    }
    subjects.sort_by(|a, b| a.name.cmp(&b.name));
    subjects.dedup();
    if let Some(w) = subjects.windows(2).find(|w| w[0].name == w[1].name) {
        return fail(format!(
            "two subjects named {:?} with different content",
            w[0].name
        ));
    }

    let metadata = BuildMetadata {
        invocation_id: build.invocation_id.clone(),
        started_on: build.started_on.clone(),
        finished_on: build.finished_on.clone(),
    };
    let predicate = ProvenanceV1 {
        build_definition: BuildDefinition {
            build_type: build.build_type.clone(),
            external_parameters: build.external_parameters.clone(),
            internal_parameters: build.internal_parameters.clone(),
            resolved_dependencies: build.resolved_dependencies.clone(),
        },
        run_details: RunDetails {
            builder: Builder {
                id: build.builder_id.clone(),
                version: build.builder_version.clone(),
                builder_dependencies: Vec::new(),
            },
            metadata: (metadata != BuildMetadata::default()).then_some(metadata),
            byproducts: build.byproducts.clone(),
        },
    };
    let statement = StatementOut {
        statement_type: STATEMENT_V1,
        subject: &subjects,
        predicate_type: SLSA_PROVENANCE_V1,
        predicate: &predicate,
    };
    let payload = to_canonical_vec(&statement).map_err(|e| SlsaError::Generate(e.to_string()))?;
    VerifiedStatement::parse(IN_TOTO_PAYLOAD_TYPE, &payload)?;
    Ok(GeneratedStatement {
        payload_type: IN_TOTO_PAYLOAD_TYPE,
        payload,
    })
}
