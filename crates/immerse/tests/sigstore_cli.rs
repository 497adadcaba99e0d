//! `immerse sigstore verify-bundle` against real Sigstore staging data (the fixtures of
//! crates/sigstore/tests/data), following the sigstore-conformance client protocol: exit 0
//! on success, non-zero on any refusal.
use std::path::PathBuf;
use std::process::{Command, Output};

fn data(name: &str) -> String {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "sigstore",
        "tests",
        "data",
        name,
    ]
    .iter()
    .collect();
    path.to_string_lossy().into_owned()
}

const V3_DIGEST: &str = "sha256:4191e6b4e2b0260e6e297d4797d2a873584965afef021bf22f2bb7bec41102d0";

fn immerse(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_immerse"))
        .args(args)
        .output()
        .expect("immerse runs")
}

fn verify(bundle: &str, identity: &str, artifact: &str, root: Option<&str>) -> Output {
    let bundle = data(bundle);
    let root = root.map(data);
    let mut args = vec![
        "sigstore",
        "verify-bundle",
        "--bundle",
        &bundle,
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        "https://github.com/login/oauth",
    ];
    if let Some(root) = &root {
        args.extend(["--trusted-root", root]);
    }
    args.push(artifact);
    immerse(&args)
}

#[test]
fn real_bundle_verifies_by_digest() {
    let out = verify(
        "bundle_v3_alt.txt.sigstore.json",
        "william@yossarian.net",
        V3_DIGEST,
        Some("staging_trusted_root.json"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"verified\""));
}

#[test]
fn real_rekor_v2_bundle_verifies_by_file() {
    let artifact = data("staging-rekor-v2.txt");
    let out = verify(
        "staging-rekor-v2.txt.sigstore.json",
        "jku@goto.fi",
        &artifact,
        Some("staging_trusted_root.json"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn wrong_identity_exits_non_zero() {
    let out = verify(
        "bundle_v3_alt.txt.sigstore.json",
        "mallory@example.com",
        V3_DIGEST,
        Some("staging_trusted_root.json"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("refused"));
}

#[test]
fn wrong_digest_exits_non_zero() {
    let digest = format!("sha256:{}", "00".repeat(32));
    let out = verify(
        "bundle_v3_alt.txt.sigstore.json",
        "william@yossarian.net",
        &digest,
        Some("staging_trusted_root.json"),
    );
    assert!(!out.status.success());
}

#[test]
fn missing_trusted_root_is_refused_with_a_clear_message() {
    let out = verify(
        "bundle_v3_alt.txt.sigstore.json",
        "william@yossarian.net",
        V3_DIGEST,
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--trusted-root is required"));
}

#[test]
fn identity_and_key_are_mutually_exclusive() {
    let bundle = data("bundle_v3_alt.txt.sigstore.json");
    let out = immerse(&[
        "sigstore",
        "verify-bundle",
        "--bundle",
        &bundle,
        "--key",
        "/nonexistent.pem",
        "--certificate-identity",
        "x",
        "--certificate-oidc-issuer",
        "y",
        V3_DIGEST,
    ]);
    assert!(!out.status.success());
}
