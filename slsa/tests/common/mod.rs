//! Shared builders for the integration tests: a good provenance (made with the crate's own
//! generator), the certificate identity that signed it, and the policy that accepts it.
#![allow(dead_code)]

use immerse_slsa::{
    BuildDescription, Digest, DigestSet, ProvenanceOptions, ResourceDescriptor, SignerIdentity,
    VerifiedStatement, generate, subject_from_bytes,
};
use serde_json::{Map, Value, json};

pub const GENERIC: &str = "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_generic_slsa3.yml";
pub const REPO: &str = "https://github.com/org/repo";
pub const COMMIT: &str = "4d329c75e7ec1725f7c9ce917a8799d408d06be3";
pub const ARTIFACT: &[u8] = b"the artifact";

/// What the synthetic provenance says.
#[derive(Clone, Debug)]
pub struct Prov {
    pub builder: String,
    /// `externalParameters.workflow.repository` (`https://github.com/...`).
    pub workflow_repo: String,
    pub workflow_ref: String,
    /// `resolvedDependencies[0].uri`.
    pub source_uri: String,
    pub commit: String,
    pub subject: ResourceDescriptor,
}

impl Default for Prov {
    fn default() -> Self {
        Prov {
            builder: format!("{GENERIC}@refs/tags/v2.0.0"),
            workflow_repo: REPO.into(),
            workflow_ref: "refs/tags/v14.2.0".into(),
            source_uri: format!("git+{REPO}@refs/tags/v14.2.0"),
            commit: COMMIT.into(),
            subject: subject_from_bytes("artifact.tar.gz", ARTIFACT),
        }
    }
}

impl Prov {
    /// Move the trigger and the source to another ref together.
    pub fn at_ref(mut self, reference: &str) -> Self {
        self.workflow_ref = reference.into();
        self.source_uri = format!("git+{}@{reference}", self.workflow_repo);
        self
    }

    pub fn statement(&self) -> VerifiedStatement {
        let mut workflow = Map::new();
        workflow.insert(
            "repository".into(),
            Value::String(self.workflow_repo.clone()),
        );
        workflow.insert("ref".into(), Value::String(self.workflow_ref.clone()));
        workflow.insert("path".into(), json!(".github/workflows/release.yml"));
        let mut external = Map::new();
        external.insert("workflow".into(), Value::Object(workflow));
        let mut digest = DigestSet::new();
        digest
            .insert("gitCommit", &self.commit)
            .expect("test commit");
        let build = BuildDescription {
            subjects: vec![self.subject.clone()],
            builder_id: self.builder.clone(),
            build_type: "https://actions.github.io/buildtypes/workflow/v1".into(),
            external_parameters: external,
            resolved_dependencies: vec![ResourceDescriptor {
                uri: Some(self.source_uri.clone()),
                digest,
                ..ResourceDescriptor::default()
            }],
            invocation_id: Some("https://github.com/org/repo/actions/runs/1/attempts/1".into()),
            ..BuildDescription::default()
        };
        let generated = generate(&build).expect("test provenance generates");
        VerifiedStatement::parse(generated.payload_type, &generated.payload)
            .expect("generated provenance parses")
    }
}

/// The certificate of the builder's signing workflow for [`Prov::default`].
pub fn signer() -> SignerIdentity {
    let uri = format!("{GENERIC}@refs/tags/v2.0.0");
    SignerIdentity {
        build_signer_uri: Some(uri.clone()),
        san: uri,
        source_repository_uri: Some(REPO.into()),
        source_repository_ref: Some("refs/tags/v14.2.0".into()),
        source_repository_digest: Some(COMMIT.into()),
    }
}

pub fn artifact_sha256() -> Digest {
    Digest::sha256(&hex::encode(sha256(ARTIFACT))).expect("hex digest")
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

/// The policy that accepts [`Prov::default`] signed by [`signer`].
pub fn options() -> ProvenanceOptions {
    ProvenanceOptions {
        expected_digests: vec![artifact_sha256()],
        source_uri: "github.com/org/repo".into(),
        builder_id: Some(GENERIC.into()),
        trusted_delegators: Vec::new(),
        require_builder_release_tag: true,
        source_ref: None,
    }
}

/// Read a fixture from tests/data.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}
