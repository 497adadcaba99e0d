//! The supply-chain commands as a release pipeline and an admission check run them, against
//! the real test registry: `cosign sign`, `slsa generate`, `cosign attest`, then
//! `slsa verify-image` (and `slsa verify-artifact` for the files themselves).
use std::path::Path;
use std::process::{Command, Output};

use immerse_jose::SoftwareSigner;
use immerse_oci::manifest::{OCI_CONFIG, OCI_LAYER_TAR};
use immerse_oci::testing::TestRegistry;
use immerse_oci::{Descriptor, ImageManifest, Manifest};
use immerse_sigstore::{Policy, TrustedRoot, Verifier};

const REPO: &str = "https://github.com/immerse/immerse";
const BUILDER: &str =
    "https://github.com/immerse/immerse/.github/workflows/release.yml@refs/heads/main";
const COMMIT: &str = "4d329c75e7ec1725f7c9ce917a8799d408d06be3";
const CONFIG: &[u8] = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#;

fn immerse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_immerse"))
        .args(args)
        .output()
        .expect("immerse runs")
}

fn assert_ok(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[tokio::test]
async fn sign_generate_attest_then_verify_image_round_trip() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // The release key, and its public half as a verifier is given it.
    let signer = SoftwareSigner::generate().expect("key");
    let key_file = dir.path().join("release.key");
    std::fs::write(&key_file, signer.to_pkcs8_pem().expect("PEM").as_bytes()).expect("write");
    let public = dir.path().join("release.pub");
    let key = immerse_sigstore::sign::signer_key(&signer).expect("public key");
    std::fs::write(&public, key.to_pem()).expect("write");

    // The built image, pushed by the pipeline.
    let client = registry.client();
    let repo = client.repository("immerse/app").expect("repo");
    let artifact = dir.path().join("immerse-linux-amd64");
    std::fs::write(&artifact, b"the release binary").expect("write");
    repo.push_blob(CONFIG).await.expect("config");
    repo.push_blob(b"the release binary").await.expect("layer");
    let manifest = ImageManifest::new(
        Descriptor::for_content(OCI_CONFIG, CONFIG),
        vec![Descriptor::for_content(
            OCI_LAYER_TAR,
            b"the release binary",
        )],
    );
    let image = repo
        .push_manifest(&Manifest::Image(manifest), Some("v1"))
        .await
        .expect("manifest")
        .digest;
    let by_tag = format!("{}/immerse/app:v1", registry.host());
    let pinned = format!("{}/immerse/app@{image}", registry.host());

    // cosign sign (by tag: the command resolves and signs the digest).
    let out = immerse(&[
        "cosign",
        "sign",
        &by_tag,
        "--key-file",
        path(&key_file),
        "--allow-http",
    ]);
    assert_ok(&out, "cosign sign");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&image.to_string()));
    let verifier = Verifier::new(TrustedRoot::default());
    let signatures = immerse_slsa::verify_image_signatures(
        &repo,
        &image,
        &verifier,
        &Policy::key(key.clone()).allowing_missing_tlog(),
    )
    .await
    .expect("the signature verifies");
    assert_eq!(signatures.len(), 2, "a .sig layer and a bundle referrer");

    // slsa generate (unsigned statement about the files), then cosign attest for the image.
    let statement = dir.path().join("provenance.json");
    let source = [
        "--source-uri",
        REPO,
        "--source-ref",
        "refs/heads/main",
        "--source-commit",
        COMMIT,
    ];
    let mut args = vec!["slsa", "generate", "--builder-id", BUILDER, "--output"];
    args.push(path(&statement));
    args.extend(source);
    args.push(path(&artifact));
    assert_ok(&immerse(&args), "slsa generate");
    assert_ok(
        &immerse(&[
            "cosign",
            "attest",
            &pinned,
            "--predicate",
            path(&statement),
            "--type",
            "slsaprovenance1",
            "--key-file",
            path(&key_file),
            "--allow-http",
        ]),
        "cosign attest",
    );

    // slsa verify-image: the admission check.
    let verify = |source_uri: &str, extra: &[&str]| {
        let mut args = vec![
            "slsa",
            "verify-image",
            &pinned,
            "--source-uri",
            source_uri,
            "--builder-id",
            BUILDER,
            "--key",
            path(&public),
            "--allow-http",
        ];
        args.extend(extra);
        immerse(&args)
    };
    let out = verify(REPO, &["--allow-missing-tlog", "--source-branch", "main"]);
    assert_ok(&out, "slsa verify-image");
    assert!(String::from_utf8_lossy(&out.stderr).contains("PASSED"));
    let refused = verify("https://github.com/evil/immerse", &["--allow-missing-tlog"]);
    assert!(!refused.status.success(), "a wrong --source-uri must fail");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("FAILED") && stderr.contains("source repository"),
        "{stderr}"
    );
    let refused = verify(
        REPO,
        &["--allow-missing-tlog", "--source-branch", "release"],
    );
    assert!(
        !refused.status.success(),
        "a wrong --source-branch must fail"
    );
    let refused = verify(REPO, &[]);
    assert!(
        !refused.status.success(),
        "no log entry without --allow-missing-tlog"
    );
    let unpinned = immerse(&[
        "slsa",
        "verify-image",
        &by_tag,
        "--source-uri",
        REPO,
        "--key",
        path(&public),
    ]);
    assert!(!unpinned.status.success(), "a tag is not a pinned image");
}

#[test]
fn generate_signed_then_verify_artifact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = SoftwareSigner::generate().expect("key");
    let key_file = dir.path().join("release.key");
    std::fs::write(&key_file, signer.to_pkcs8_pem().expect("PEM").as_bytes()).expect("write");
    let public = dir.path().join("release.pub");
    let pem = immerse_sigstore::sign::signer_key(&signer)
        .expect("key")
        .to_pem();
    std::fs::write(&public, pem).expect("write");
    let artifact = dir.path().join("immerse.tar.gz");
    std::fs::write(&artifact, b"release tarball").expect("write");
    let other = dir.path().join("other.tar.gz");
    std::fs::write(&other, b"something else").expect("write");
    let envelope = dir.path().join("immerse.intoto.jsonl");

    assert_ok(
        &immerse(&[
            "slsa",
            "generate",
            "--builder-id",
            BUILDER,
            "--source-uri",
            REPO,
            "--source-ref",
            "refs/tags/v1.2.3",
            "--source-commit",
            COMMIT,
            "--output",
            path(&envelope),
            "--key-file",
            path(&key_file),
            path(&artifact),
        ]),
        "slsa generate --key-file",
    );
    let verify = |file: &Path, extra: &[&str]| {
        let mut args = vec![
            "slsa",
            "verify-artifact",
            "--provenance-path",
            path(&envelope),
            "--source-uri",
            REPO,
            "--builder-id",
            BUILDER,
            "--key",
            path(&public),
            "--allow-missing-tlog",
        ];
        args.extend(extra);
        args.push(path(file));
        immerse(&args)
    };
    assert_ok(
        &verify(&artifact, &["--source-versioned-tag", "v1"]),
        "verify-artifact",
    );
    assert!(
        !verify(&other, &[]).status.success(),
        "another file is not a subject"
    );
    assert!(
        !verify(&artifact, &["--source-versioned-tag", "v2"])
            .status
            .success(),
        "v2 does not accept v1.2.3"
    );
    assert!(
        !verify(&artifact, &["--source-tag", "v1.2.4"])
            .status
            .success(),
        "another tag"
    );
}

/// Keyless: a Sigstore bundle from the local Sigstore, signed by a workflow whose Fulcio
/// certificate carries the GitHub extensions, trusted through `--trusted-root`.
#[test]
fn keyless_bundle_verifies_with_trusted_root_and_binds_the_workflow() {
    use immerse_sigstore::testing::{BundleOptions, TestIdentity, TestInstance};
    const ISSUER: &str = "https://token.actions.githubusercontent.com";
    const TAG_BUILDER: &str =
        "https://github.com/immerse/immerse/.github/workflows/release.yml@refs/tags/v1.2.3";
    let dir = tempfile::tempdir().expect("tempdir");
    let artifact = dir.path().join("immerse.tar.gz");
    std::fs::write(&artifact, b"keyless release").expect("write");
    // The statement, as `slsa generate` writes it.
    let statement = dir.path().join("statement.json");
    assert_ok(
        &immerse(&[
            "slsa",
            "generate",
            "--builder-id",
            TAG_BUILDER,
            "--source-uri",
            REPO,
            "--source-ref",
            "refs/tags/v1.2.3",
            "--source-commit",
            COMMIT,
            "--output",
            path(&statement),
            path(&artifact),
        ]),
        "slsa generate",
    );
    let payload = std::fs::read(&statement).expect("read");
    let mut sigstore = TestInstance::new();
    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, sigstore.trusted_root_json()).expect("write");
    let identity = |workflow: &str| BundleOptions {
        identity: TestIdentity {
            emails: Vec::new(),
            uris: vec![workflow.to_owned()],
            issuer: ISSUER.to_owned(),
            extensions: vec![
                (9, workflow.to_owned()),
                (12, REPO.to_owned()),
                (13, COMMIT.to_owned()),
                (14, "refs/tags/v1.2.3".to_owned()),
            ],
        },
        ..BundleOptions::default()
    };
    let write_bundle = |name: &str, bundle: &immerse_sigstore::Bundle| {
        let file = dir.path().join(name);
        std::fs::write(&file, bundle.to_json().to_string()).expect("write");
        file
    };
    let good = sigstore.sign_dsse(
        "application/vnd.in-toto+json",
        &payload,
        &identity(TAG_BUILDER),
    );
    let forged = sigstore.sign_dsse(
        "application/vnd.in-toto+json",
        &payload,
        &identity(
            "https://github.com/immerse/immerse/.github/workflows/other.yml@refs/tags/v1.2.3",
        ),
    );
    let verify = |bundle: &Path, extra: &[&str]| {
        let mut args = vec![
            "slsa",
            "verify-artifact",
            "--provenance-path",
            path(bundle),
            "--source-uri",
            REPO,
            "--trusted-root",
            path(&root),
        ];
        args.extend(extra);
        args.push(path(&artifact));
        immerse(&args)
    };
    let good_file = write_bundle("good.sigstore.json", &good);
    assert_ok(
        &verify(
            &good_file,
            &["--builder-id", TAG_BUILDER, "--source-tag", "v1.2.3"],
        ),
        "keyless verify-artifact",
    );
    // Without --builder-id the signing workflow itself is the builder.
    assert_ok(
        &verify(&good_file, &[]),
        "keyless verify-artifact, any builder",
    );
    let refused = verify(&write_bundle("forged.sigstore.json", &forged), &[]);
    assert!(!refused.status.success(), "signed by another workflow");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("signed by workflow"), "{stderr}");
    // `.intoto.jsonl`: one bundle per line; the forged one does not spoil the good one.
    let jsonl = dir.path().join("immerse.intoto.jsonl");
    std::fs::write(
        &jsonl,
        format!("{}\n{}\n", forged.to_json(), good.to_json()),
    )
    .expect("write");
    assert_ok(&verify(&jsonl, &["--builder-id", TAG_BUILDER]), "jsonl");
    // Another OIDC issuer than the certificate's is refused.
    assert!(
        !verify(
            &good_file,
            &["--certificate-oidc-issuer", "https://accounts.google.com"]
        )
        .status
        .success()
    );
}

/// `slsa verify-image` on an OCI layout directory (air-gapped admission), with `--digest`.
#[tokio::test]
async fn verify_image_reads_an_oci_layout_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout_dir = dir.path().join("layout");
    let layout = immerse_oci::OciLayout::create(&layout_dir).expect("layout");
    layout.write_blob(CONFIG).expect("config");
    layout.write_blob(b"layout binary").expect("layer");
    let manifest = ImageManifest::new(
        Descriptor::for_content(OCI_CONFIG, CONFIG),
        vec![Descriptor::for_content(OCI_LAYER_TAR, b"layout binary")],
    );
    let image = layout
        .put_manifest(&Manifest::Image(manifest), Some("v1"))
        .expect("manifest")
        .digest;
    let signer = SoftwareSigner::generate().expect("key");
    let public = dir.path().join("release.pub");
    let pem = immerse_sigstore::sign::signer_key(&signer)
        .expect("key")
        .to_pem();
    std::fs::write(&public, pem).expect("write");
    // The pipeline's provenance for the image, attached in both schemes.
    let mut source = immerse_slsa::ResourceDescriptor {
        uri: Some(format!("git+{REPO}@refs/heads/main")),
        ..Default::default()
    };
    source.digest.insert("gitCommit", COMMIT).expect("commit");
    let mut workflow = serde_json::Map::new();
    workflow.insert(
        "workflow".into(),
        serde_json::json!({"repository": REPO, "ref": "refs/heads/main", "path": ".github/workflows/release.yml"}),
    );
    let mut subject = immerse_slsa::ResourceDescriptor {
        name: Some("registry.example/immerse/app".into()),
        ..Default::default()
    };
    subject
        .digest
        .insert("sha256", &image.hex())
        .expect("digest");
    let statement = immerse_slsa::generate(&immerse_slsa::BuildDescription {
        subjects: vec![subject],
        builder_id: BUILDER.into(),
        build_type: "https://actions.github.io/buildtypes/workflow/v1".into(),
        external_parameters: workflow,
        resolved_dependencies: vec![source],
        ..Default::default()
    })
    .expect("statement");
    immerse_slsa::sign::attest_image(&layout, &image, &statement.payload, &signer)
        .await
        .expect("attest");

    let digest = image.to_string();
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "slsa",
            "verify-image",
            path(&layout_dir),
            "--source-uri",
            REPO,
            "--builder-id",
            BUILDER,
            "--key",
            path(&public),
            "--allow-missing-tlog",
        ];
        args.extend(extra);
        immerse(&args)
    };
    assert_ok(&verify(&["--digest", &digest]), "verify-image on a layout");
    assert!(!verify(&[]).status.success(), "a layout needs --digest");
    let other = format!("sha256:{}", "0".repeat(64));
    assert!(
        !verify(&["--digest", &other]).status.success(),
        "no provenance for another digest"
    );
}
