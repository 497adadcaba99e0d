//! A presentation built by the reference implementation of RFC 9901 (PyPI `sd-jwt`, the version
//! pinned in `crates/sd-jwt/tests/interop/requirements.txt`) is accepted by the verifier over
//! HTTP: issued by Python with the issuer key registered in the Key Registry, presented by a
//! Python holder with a KB-JWT for the request's nonce and the full client_id.
//!
//! The interpreter is `python3`, or `IMMERSE_SDJWT_PYTHON`. Without the pinned package the test
//! announces the skip on stderr; with `IMMERSE_REQUIRE_SDJWT_PY=1` (CI) it fails instead.
mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{ISSUER, Options, VCT, World};
use serde_json::{Value, json};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn pinned_version() -> String {
    let path = format!("{MANIFEST_DIR}/../sd-jwt/tests/interop/requirements.txt");
    let text = std::fs::read_to_string(path).expect("requirements.txt of crates/sd-jwt");
    text.lines()
        .find_map(|line| line.trim().strip_prefix("sd-jwt=="))
        .expect("sd-jwt pinned")
        .trim()
        .to_owned()
}

/// The interpreter, or `None` after announcing why the test is skipped.
fn python() -> Option<String> {
    let python = std::env::var("IMMERSE_SDJWT_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = "from importlib.metadata import version; import jwcrypto; print(version('sd-jwt'))";
    let problem = match Command::new(&python).args(["-c", probe]).output() {
        Err(err) => format!("{python} not runnable: {err}"),
        Ok(output) if !output.status.success() => format!(
            "{python} lacks the sd-jwt package (pip install -r crates/sd-jwt/tests/interop/requirements.txt)"
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
    let _ = writeln!(
        std::io::stderr(),
        "*** SKIPPED: verifier Python interop: {problem} ***"
    );
    None
}

fn python_presentation(python: &str, request: &Value) -> String {
    let mut child = Command::new(python)
        .arg(format!(
            "{MANIFEST_DIR}/tests/interop/python_presentation.py"
        ))
        .arg("present")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("writes stdin");
    let output = child.wait_with_output().expect("python runs");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("python prints JSON");
    answer["presentation"]
        .as_str()
        .expect("presentation")
        .to_owned()
}

#[tokio::test]
async fn presentation_built_by_the_python_reference_is_verified() {
    let Some(python) = python() else { return };
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let request = json!({
        "issuer_pem": world.issuer.to_pkcs8_pem().expect("issuer key PEM").as_str(),
        "kid": world.issuer_kid(),
        "iss": ISSUER,
        "vct": VCT,
        "status_uri": world.status_uri,
        "status_idx": 7,
        "aud": session.client_id,
        "nonce": session.nonce,
    });
    let presentation = python_presentation(&python, &request);
    let (status, body) = world
        .respond(&session, json!({"pid": [presentation]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let result = world.result(&session, None).await;
    assert_eq!(result["status"], "verified", "{result}");
    let claims = &result["credentials"]["pid"][0];
    assert_eq!(claims["given_name"], "Erika");
    assert_eq!(claims["family_name"], "Mustermann");
    assert_eq!(claims["address"]["locality"], "Berlin");
    assert!(claims.get("birthdate").is_none(), "not disclosed");
}
