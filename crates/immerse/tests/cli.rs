//! The binary as a user runs it.
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn immerse() -> Command {
    Command::new(env!("CARGO_BIN_EXE_immerse"))
}

#[test]
fn demo_runs_on_embedded_defaults() {
    let output = immerse().arg("demo").output().expect("immerse runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("demo finished: every step held"),
        "{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn generated_software_key_is_private_to_its_owner_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.pem");
    let generated = immerse()
        .args(["keys", "generate", "--key-file"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(generated.status.success());
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let public: serde_json::Value = serde_json::from_slice(&generated.stdout).unwrap();
    assert!(
        public.get("d").is_none(),
        "the printed JWK holds no private member"
    );

    let shown = immerse()
        .args(["keys", "show", "--key-file"])
        .arg(&path)
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["kid"], public["kid"]);

    let before = std::fs::read(&path).unwrap();
    let again = immerse()
        .args(["keys", "generate", "--key-file"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing key file must not be replaced"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

fn snp_testdata(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/snp")
        .join(name);
    assert!(
        path.exists(),
        "SEV-SNP test data missing at {} (shared/ must sit beside the repository)",
        path.display()
    );
    path
}

#[test]
fn verify_snp_accepts_a_real_report_and_refuses_a_flipped_byte() {
    let run = |report: &std::path::Path| {
        immerse()
            .args([
                "attestation",
                "verify-snp",
                "--at",
                "2026-01-01T00:00:00Z",
                "--report",
            ])
            .arg(report)
            .arg("--vcek")
            .arg(snp_testdata("genoa-vcek.der"))
            .arg("--chain")
            .arg(snp_testdata("genoa-ask-ark-asvk.pem"))
            .output()
            .unwrap()
    };
    let accepted = run(&snp_testdata("genoa-report.bin"));
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    let verdict: serde_json::Value = serde_json::from_slice(&accepted.stdout).unwrap();
    assert_eq!(verdict["verdict"], "accepted");
    assert_eq!(verdict["claims"]["platform"], "Genoa");

    let dir = tempfile::tempdir().unwrap();
    let mut report = std::fs::read(snp_testdata("genoa-report.bin")).unwrap();
    report[0x90] ^= 1; // a byte of MEASUREMENT, inside the signed range
    let flipped = dir.path().join("flipped.bin");
    std::fs::write(&flipped, report).unwrap();
    let refused = run(&flipped);
    assert!(!refused.status.success());
    let verdict: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(verdict["verdict"], "refused");
}
