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
