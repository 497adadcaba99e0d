//! Interop with the reference implementation of RFC 9901 (PyPI `sd-jwt`, version pinned in
//! `tests/interop/requirements.txt`): (a) we verify what Python issues and presents, (b) Python
//! verifies what we issue and present.
//!
//! The interpreter is `python3`, or `IMMERSE_SDJWT_PYTHON` (for example a virtualenv's python
//! after `pip install -r tests/interop/requirements.txt`). Without it the tests announce the skip
//! on stderr; with `IMMERSE_REQUIRE_SDJWT_PY=1` (CI) they fail instead.
use std::io::Write;
use std::process::{Command, Stdio};

use immerse_jose::{PublicJwk, Signer, SoftwareSigner, jwt};
use immerse_sd_jwt::{
    ClaimPath, DisclosurePolicy, IssueOptions, KeyBindingInput, KeyBindingPolicy, Limits,
    Validation, issue, present, verify,
};
use serde_json::{Value, json};

const PINNED: &str = "sd-jwt==";

fn script() -> String {
    format!(
        "{}/tests/interop/sd_jwt_interop.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn pinned_version() -> String {
    let path = format!(
        "{}/tests/interop/requirements.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("requirements.txt");
    text.lines()
        .find_map(|line| line.trim().strip_prefix(PINNED))
        .expect("sd-jwt pinned in requirements.txt")
        .trim()
        .to_owned()
}

/// The interpreter to use, or `None` after announcing why the test is skipped.
fn python() -> Option<String> {
    let python = std::env::var("IMMERSE_SDJWT_PYTHON").unwrap_or_else(|_| "python3".into());
    let problem = match Command::new(&python).arg(script()).arg("version").output() {
        Err(err) => format!("{python} not runnable: {err}"),
        Ok(output) if !output.status.success() => format!(
            "{python} lacks the sd-jwt package (pip install -r crates/sd-jwt/tests/interop/requirements.txt): {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        ),
        Ok(output) => {
            let found = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if found == pinned_version() {
                return Some(python);
            }
            format!(
                "{python} has sd-jwt {found}, the pinned version is {}",
                pinned_version()
            )
        }
    };
    if std::env::var("IMMERSE_REQUIRE_SDJWT_PY").as_deref() == Ok("1") {
        panic!("IMMERSE_REQUIRE_SDJWT_PY=1 and {problem}");
    }
    // Straight to the stderr handle: the test harness captures `eprintln!`, not this.
    let _ = writeln!(
        std::io::stderr(),
        "*** SKIPPED: SD-JWT Python interop: {problem} ***"
    );
    None
}

fn run(python: &str, command: &str, input: Option<&Value>) -> Value {
    let mut child = Command::new(python)
        .arg(script())
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(input.to_string().as_bytes())
            .expect("writes stdin");
    }
    let output = child.wait_with_output().expect("python runs");
    assert!(
        output.status.success(),
        "python {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("python prints JSON")
}

#[test]
fn we_verify_what_the_python_reference_issues_and_presents() {
    let Some(python) = python() else { return };
    let issued = run(&python, "issue", None);
    let issuer_key = PublicJwk::try_from(issued["issuer_jwk"].clone()).expect("issuer key");
    let presentation = issued["presentation"].as_str().expect("presentation");
    let (aud, nonce) = (
        issued["aud"].as_str().expect("aud"),
        issued["nonce"].as_str().expect("nonce"),
    );
    let validation = Validation::new(&["dc+sd-jwt"]).key_binding(KeyBindingPolicy::new(aud, nonce));
    let verified = verify(presentation, &validation, &issuer_key).expect("ours verifies theirs");

    let claims = verified.claims();
    assert_eq!(claims["given_name"], "Erika");
    assert!(claims.get("family_name").is_none(), "not presented");
    assert_eq!(claims["address"], json!({"locality": "Koeln"}));
    assert_eq!(claims["nationalities"], json!(["DE", "NL"]));
    assert!(verified.key_binding().is_some());
    assert!(verified.holder_key().is_some());
}

#[tokio::test]
async fn the_python_reference_verifies_what_we_issue_and_present() {
    let Some(python) = python() else { return };
    let issuer = SoftwareSigner::generate().expect("issuer key");
    let holder = SoftwareSigner::generate().expect("holder key");
    let now = jwt::now();
    let claims = json!({
        "iss": "https://issuer.example.org",
        "iat": now,
        "exp": now + 3600,
        "vct": "https://credentials.example.org/identity",
        "given_name": "Erika",
        "family_name": "Mustermann",
        "address": {"street_address": "Heidestrasse 17", "locality": "Köln"},
        "nationalities": ["DE", "FR", "NL"],
    });
    let policy = DisclosurePolicy::new()
        .disclose(ClaimPath::claim("given_name"))
        .disclose(ClaimPath::claim("family_name"))
        .disclose(ClaimPath::claim("address"))
        .disclose(ClaimPath::claim("address").name("street_address"))
        .disclose(ClaimPath::claim("nationalities").index(0))
        .disclose(ClaimPath::claim("nationalities").index(1));
    let options = IssueOptions::default()
        .decoys(2)
        .holder_key(holder.public_jwk().clone());
    let issued = issue(&issuer, claims, &policy, &options)
        .await
        .expect("issues");
    let (aud, nonce) = ("https://verifier.example.org", "rust-nonce-1");
    let selection = [
        ClaimPath::claim("given_name"),
        ClaimPath::claim("address").name("locality"),
        ClaimPath::claim("nationalities").index(1),
    ];
    let input = KeyBindingInput {
        audience: aud,
        nonce,
        issued_at: None,
    };
    let presentation = present(
        &issued,
        &selection,
        Some((&holder as &dyn Signer, input)),
        &Limits::default(),
    )
    .await
    .expect("presents");

    let mut issuer_jwk = issuer.public_jwk().to_object();
    issuer_jwk.remove("alg");
    let request = json!({
        "presentation": presentation,
        "issuer_jwk": issuer_jwk,
        "aud": aud,
        "nonce": nonce,
    });
    let theirs = run(&python, "verify", Some(&request));

    let validation = Validation::new(&["dc+sd-jwt"]).key_binding(KeyBindingPolicy::new(aud, nonce));
    let ours = verify(&presentation, &validation, issuer.public_jwk()).expect("ours verifies");
    assert_eq!(theirs["payload"], Value::Object(ours.claims().clone()));
    assert_eq!(theirs["payload"]["given_name"], "Erika");
    assert!(theirs["payload"].get("family_name").is_none());
    assert_eq!(theirs["payload"]["address"], json!({"locality": "Köln"}));
    assert_eq!(theirs["payload"]["nationalities"], json!(["FR", "NL"]));
}
