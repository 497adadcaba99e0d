//! `immerse admission check` against the shipped ImagePolicies (deploy/admission/policies), as an
//! operator runs it on a manifest before applying it: what the webhook would admit and refuse.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PINNED: &str = "ghcr.io/immerse/immerse@sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/admission/policies")
}

fn namespace(name: &str, confidential: bool) -> String {
    let label = if confidential {
        "\n    immerse.dev/confidential: \"true\""
    } else {
        ""
    };
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n    team: immerse{label}\n"
    )
}

fn deployment(namespace: &str, name: &str, image: &str, runtime_class: Option<&str>) -> String {
    let runtime = runtime_class
        .map(|r| format!("      runtimeClassName: {r}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {namespace}
spec:
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
{runtime}      containers:
        - name: {name}
          image: {image}
"
    )
}

/// Writes the documents as one multi-document manifest and checks it offline.
fn check(documents: &[String]) -> (Output, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = dir.path().join("manifest.yaml");
    std::fs::write(&manifest, documents.join("---\n")).expect("manifest written");
    let output = Command::new(env!("CARGO_BIN_EXE_immerse"))
        .args(["admission", "check", "--offline", "--policy"])
        .arg(policies())
        .arg(&manifest)
        .output()
        .expect("immerse runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

fn assert_denied(documents: &[String], object: &str, reason: &str) {
    let (output, stdout) = check(documents);
    assert!(
        !output.status.success(),
        "admitted:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("DENIED  {object}:")))
        .unwrap_or_else(|| panic!("{object} not denied:\n{stdout}"));
    assert!(line.contains(reason), "{reason:?} not in {line:?}");
    assert!(stdout.contains("1 workloads judged, 1 denied"), "{stdout}");
}

#[test]
fn a_pinned_release_image_in_a_governed_namespace_is_allowed() {
    let (output, stdout) = check(&[
        namespace("apps", false),
        deployment("apps", "verifier", PINNED, None),
    ]);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("ALLOWED Deployment apps/verifier"),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 workloads judged, 0 denied (offline"),
        "{stdout}"
    );
}

#[test]
fn a_wallet_in_a_confidential_namespace_needs_the_snp_runtime_class() {
    let documents = |runtime| {
        [
            namespace("wallets", true),
            deployment("wallets", "wallet", PINNED, runtime),
        ]
    };
    assert_denied(
        &documents(None),
        "Deployment wallets/wallet",
        "runtimeClassName must be one of [kata-qemu-snp], found none",
    );
    assert_denied(
        &documents(Some("runc")),
        "Deployment wallets/wallet",
        "runtimeClassName",
    );
    let (output, stdout) = check(&documents(Some("kata-qemu-snp")));
    assert!(output.status.success(), "{stdout}");
}

#[test]
fn an_image_named_by_tag_is_not_pinned() {
    assert_denied(
        &[
            namespace("apps", false),
            deployment("apps", "verifier", "ghcr.io/immerse/immerse:v0.1.0", None),
        ],
        "Deployment apps/verifier",
        "is not pinned by digest",
    );
}

#[test]
fn an_image_no_policy_governs_is_denied() {
    let other = "ghcr.io/someone/else@sha256:2222222222222222222222222222222222222222222222222222222222222222";
    assert_denied(
        &[
            namespace("apps", false),
            deployment("apps", "other", other, None),
        ],
        "Deployment apps/other",
        "no ImagePolicy governs ghcr.io/someone/else in namespace apps",
    );
}

#[test]
fn a_workload_in_an_unknown_namespace_is_denied() {
    // Without the Namespace document its labels are unknown, and an unknown namespace might be
    // a confidential one: never judged as unlabelled.
    assert_denied(
        &[
            namespace("apps", false),
            deployment("elsewhere", "verifier", PINNED, None),
        ],
        "Deployment elsewhere/verifier",
        "namespace elsewhere: labels unavailable: not a known namespace",
    );
}
