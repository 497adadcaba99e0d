//! Shared pieces of the supply-chain tests: a small image, provenance for it, keys, the local
//! Sigstore's identities and policies.
#![allow(dead_code)]

use immerse_jose::SoftwareSigner;
use immerse_oci::cosign::{SIMPLE_SIGNING_MEDIA_TYPE, StoredSignature, legacy_config};
use immerse_oci::manifest::{OCI_CONFIG, OCI_LAYER_TAR};
use immerse_oci::{
    Descriptor, Digest as OciDigest, ImageManifest, Manifest, OciLayout, Repository,
};
use immerse_sigstore::testing::{BundleOptions, TestIdentity};
use immerse_sigstore::{IdentityPolicy, Matcher, Policy, TrustedRoot, Verifier, sign};
use immerse_slsa::{
    BuildDescription, ProvenanceOptions, RejectReason, ResourceDescriptor, SupplyChainError,
    generate,
};
use serde_json::{Value, json};

pub const CONFIG: &[u8] =
    br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
pub const REPO: &str = "https://github.com/immerse/immerse";
pub const REF: &str = "refs/tags/v1.0.0";
pub const COMMIT: &str = "4d329c75e7ec1725f7c9ce917a8799d408d06be3";
pub const BUILDER: &str =
    "https://github.com/immerse/immerse/.github/workflows/release.yml@refs/tags/v1.0.0";
pub const OTHER_WORKFLOW: &str =
    "https://github.com/immerse/immerse/.github/workflows/other.yml@refs/tags/v1.0.0";
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const WORKFLOW_BUILD_TYPE: &str = "https://actions.github.io/buildtypes/workflow/v1";

fn image_manifest(layer: &[u8]) -> ImageManifest {
    ImageManifest::new(
        Descriptor::for_content(OCI_CONFIG, CONFIG),
        vec![Descriptor::for_content(OCI_LAYER_TAR, layer)],
    )
}

/// The manifest bytes of the image whose layer is `layer` (its digest is the image digest).
pub fn manifest_bytes(layer: &[u8]) -> Vec<u8> {
    image_manifest(layer).to_json()
}

/// Pushes config, layer and manifest; returns the image digest.
pub async fn push_image(repo: &Repository<'_>, tag: &str, layer: &[u8]) -> OciDigest {
    repo.push_blob(CONFIG).await.expect("push config");
    repo.push_blob(layer).await.expect("push layer");
    repo.push_manifest(&Manifest::Image(image_manifest(layer)), Some(tag))
        .await
        .expect("push manifest")
        .digest
}

/// Writes the image into a layout; returns its digest.
pub fn write_image(layout: &OciLayout, tag: &str, layer: &[u8]) -> OciDigest {
    layout.write_blob(CONFIG).expect("config");
    layout.write_blob(layer).expect("layer");
    layout
        .put_manifest(&Manifest::Image(image_manifest(layer)), Some(tag))
        .expect("manifest")
        .digest
}

/// Pushes a `.sig` layer as stored elsewhere under `image`'s tag, bypassing the producer's
/// checks: what an attacker copying a signature from another image would do.
pub async fn push_raw_sig(repo: &Repository<'_>, image: &OciDigest, layer: &StoredSignature) {
    repo.push_blob(&layer.payload).await.expect("layer");
    let layers = vec![
        Descriptor::for_content(SIMPLE_SIGNING_MEDIA_TYPE, &layer.payload)
            .with_annotations(layer.annotations.clone()),
    ];
    let config = legacy_config(&layers);
    repo.push_blob(&config).await.expect("config");
    let manifest = ImageManifest::new(Descriptor::for_content(OCI_CONFIG, &config), layers);
    repo.push_manifest(
        &Manifest::Image(manifest),
        Some(&immerse_oci::cosign::signature_tag(image)),
    )
    .await
    .expect("sig manifest");
}

/// SLSA v1 provenance (our generator) for an image digest, built by [`BUILDER`] from [`REPO`].
pub fn provenance_for(image: &OciDigest) -> Vec<u8> {
    let Value::Object(external) = json!({
        "workflow": {"repository": REPO, "ref": REF, "path": ".github/workflows/release.yml"}
    }) else {
        unreachable!("an object literal");
    };
    let mut subject = ResourceDescriptor {
        name: Some("127.0.0.1/demo".into()),
        ..ResourceDescriptor::default()
    };
    subject
        .digest
        .insert("sha256", &image.hex())
        .expect("sha256");
    let mut source = ResourceDescriptor {
        uri: Some(format!("git+{REPO}@{REF}")),
        ..ResourceDescriptor::default()
    };
    source.digest.insert("gitCommit", COMMIT).expect("commit");
    generate(&BuildDescription {
        subjects: vec![subject],
        builder_id: BUILDER.into(),
        build_type: WORKFLOW_BUILD_TYPE.into(),
        external_parameters: external,
        resolved_dependencies: vec![source],
        ..BuildDescription::default()
    })
    .expect("provenance")
    .payload
}

/// The policy the provenance above satisfies.
pub fn options() -> ProvenanceOptions {
    ProvenanceOptions {
        source_uri: REPO.into(),
        builder_id: Some(BUILDER.into()),
        ..ProvenanceOptions::default()
    }
}

pub fn key_policy(signer: &SoftwareSigner) -> Policy {
    Policy::key(sign::signer_key(signer).expect("key")).allowing_missing_tlog()
}

/// A verifier with an empty trusted root: enough for key policies.
pub fn key_verifier() -> Verifier {
    Verifier::new(TrustedRoot::default())
}

/// A GitHub-workflow-like Fulcio identity: SAN and Build Signer URI `workflow`, source
/// repository, ref and commit extensions.
pub fn workflow_identity(workflow: &str) -> BundleOptions {
    BundleOptions {
        identity: TestIdentity {
            emails: Vec::new(),
            uris: vec![workflow.to_owned()],
            issuer: GITHUB_ISSUER.to_owned(),
            extensions: vec![
                (9, workflow.to_owned()),
                (12, REPO.to_owned()),
                (13, COMMIT.to_owned()),
                (14, REF.to_owned()),
            ],
        },
        ..BundleOptions::default()
    }
}

/// Any workflow of GitHub's issuer: the provenance policy judges the workflow itself.
pub fn github_policy() -> Policy {
    Policy::identity(IdentityPolicy {
        identity: Matcher::regex("https://github.com/.*").expect("pattern"),
        issuer: Matcher::exact(GITHUB_ISSUER),
    })
}

/// The reasons behind a fail-closed refusal.
pub fn reasons(err: &SupplyChainError) -> Vec<RejectReason> {
    assert!(
        matches!(
            err,
            SupplyChainError::NoValidSignature { .. } | SupplyChainError::NoValidProvenance { .. }
        ),
        "not a fail-closed refusal: {err}"
    );
    err.rejections().iter().map(|r| r.reason.clone()).collect()
}

pub fn signer() -> SoftwareSigner {
    SoftwareSigner::generate().expect("key")
}
