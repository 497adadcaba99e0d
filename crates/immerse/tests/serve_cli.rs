//! An operator brings the services up with the binary alone: registry, then an issuer and a
//! verifier whose keys the registry vouches for, each answering its probes.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const REGISTRY_ID: &str = "https://registry.immerse.test";
const ISSUER_ADMIN_TOKEN: &str = "issuer-admin-token-for-this-test";
const VERIFIER_API_TOKEN: &str = "verifier-api-token-for-this-test";

fn immerse() -> Command {
    Command::new(env!("CARGO_BIN_EXE_immerse"))
}

fn succeed(command: &mut Command) -> String {
    let output: Output = command.output().expect("immerse runs");
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A service process, killed when the test ends however it ends.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (at most 60 s) until `url` answers 200, or panics with the service's exit status.
async fn wait_ready(service: &mut Service, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let http = reqwest::Client::new();
    while Instant::now() < deadline {
        if let Some(status) = service.0.try_wait().unwrap() {
            panic!("{url}: the service exited with {status}");
        }
        if http
            .get(url)
            .send()
            .await
            .is_ok_and(|response| response.status().as_u16() == 200)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} not ready within 60 s");
}

fn sha256_hex(text: &str) -> String {
    hex::encode(openssl::sha::sha256(text.as_bytes()))
}

fn generate_key(dir: &Path, name: &str) -> (PathBuf, Value) {
    let path = dir.join(name);
    let jwk = succeed(
        immerse()
            .args(["keys", "generate", "--key-file"])
            .arg(&path),
    );
    (path, serde_json::from_str(&jwk).unwrap())
}

/// A self-signed certificate for the key in `key_file`, named `common_name`, with an IP SAN
/// when given: the verifier's `x509_hash` identity, or the webhook's serving certificate.
fn self_signed_certificate(
    key_file: &Path,
    out: &Path,
    common_name: &str,
    ip: Option<&str>,
) -> Vec<u8> {
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, x509};
    let key = PKey::private_key_from_pem(&std::fs::read(key_file).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", common_name).unwrap();
    let name = name.build();
    let mut builder = x509::X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    if let Some(ip) = ip {
        let san = x509::extension::SubjectAlternativeName::new()
            .ip(ip)
            .build(&builder.x509v3_context(None, None))
            .unwrap();
        builder.append_extension(san).unwrap();
    }
    builder.sign(&key, MessageDigest::sha256()).unwrap();
    let pem = builder.build().to_pem().unwrap();
    std::fs::write(out, &pem).unwrap();
    pem
}

#[tokio::test]
async fn registry_issuer_and_verifier_serve_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let database = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let (root_key, root_jwk) = generate_key(dir.path(), "registry.pem");
    let root_jwk_file = dir.path().join("registry.jwk");
    std::fs::write(&root_jwk_file, root_jwk.to_string()).unwrap();
    let local = |command: &mut Command| {
        command
            .args(["--registry-id", REGISTRY_ID, "--database-url"])
            .arg(database("registry.db"))
            .arg("--key-file")
            .arg(&root_key);
    };
    let mut create_token = immerse();
    create_token.args(["registry", "admin-token", "create"]);
    local(&mut create_token);
    let admin_token = succeed(&mut create_token).trim().to_owned();

    let registry_port = free_port();
    let registry_url = format!("http://127.0.0.1:{registry_port}");
    let mut serve_registry = immerse();
    serve_registry
        .args(["registry", "serve", "--listen"])
        .arg(format!("127.0.0.1:{registry_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    local(&mut serve_registry);
    let mut registry = Service(serve_registry.spawn().unwrap());
    wait_ready(&mut registry, &format!("{registry_url}/readyz")).await;

    let issuer_port = free_port();
    // Registry entity ids are https URLs; this test reaches the issuer on loopback without TLS.
    let issuer_id = "https://issuer.immerse.test".to_owned();
    let issuer_url = format!("http://127.0.0.1:{issuer_port}");
    let enrolment = succeed(
        immerse()
            .args(["registry", "entity", "create", "--role", "issuer"])
            .args(["--display-name", "Test issuer", "--id", &issuer_id])
            .args([
                "--registry-url",
                &registry_url,
                "--admin-token",
                &admin_token,
            ]),
    );
    let enrolment: Value = serde_json::from_str(&enrolment).unwrap();
    let (issuer_key, _) = generate_key(dir.path(), "issuer.pem");
    let trust = |command: &mut Command| {
        command
            .args([
                "--registry-url",
                &registry_url,
                "--registry-id",
                REGISTRY_ID,
            ])
            .arg("--registry-jwk")
            .arg(&root_jwk_file);
    };
    let config = dir.path().join("issuer.toml");
    std::fs::write(
        &config,
        format!(
            r#"issuer = "{issuer_id}"
trusted_attesters = ["https://attester.immerse.test"]
admin_tokens = [{{ sha256 = "{}", scopes = ["issuer:offers", "issuer:status"] }}]
[[credential_configurations]]
id = "employee"
vct = "https://issuer.immerse.test/vct/employee"
scope = "employee"
claims = ["given_name", "family_name"]
lifetime_seconds = 86400
display_name = "Employee"
"#,
            sha256_hex(ISSUER_ADMIN_TOKEN)
        ),
    )
    .unwrap();
    let issuer_command = |key: &Path| {
        let mut command = immerse();
        command
            .args(["issuer", "serve", "--allow-software-key", "--config"])
            .arg(&config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{issuer_port}"))
            .arg("--database-url")
            .arg(database("issuer.db"))
            .arg("--key-file")
            .arg(key);
        trust(&mut command);
        command
    };

    // Before its registration the key would sign credentials nobody can verify.
    let refused = issuer_command(&issuer_key).output().unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not an active key"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    succeed(
        immerse()
            .args(["registry", "key", "submit", "--entity", &issuer_id])
            .args([
                "--registry-id",
                REGISTRY_ID,
                "--registry-url",
                &registry_url,
            ])
            .arg("--enrolment-secret")
            .arg(enrolment["enrolment_secret"].as_str().unwrap())
            .arg("--key-file")
            .arg(&issuer_key),
    );
    let mut issuer_process = issuer_command(&issuer_key);
    issuer_process.stdout(Stdio::null()).stderr(Stdio::null());
    let mut issuer = Service(issuer_process.spawn().unwrap());
    wait_ready(&mut issuer, &format!("{issuer_url}/readyz")).await;
    let metadata: Value =
        reqwest::get(format!("{issuer_url}/.well-known/openid-credential-issuer"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(metadata["credential_issuer"], issuer_id.as_str());
    assert!(metadata["credential_configurations_supported"]["employee"].is_object());

    let verifier_port = free_port();
    let verifier_url = format!("http://127.0.0.1:{verifier_port}");
    let (verifier_key, _) = generate_key(dir.path(), "verifier.pem");
    let certificates = dir.path().join("verifier.crt");
    self_signed_certificate(&verifier_key, &certificates, "verifier.immerse.test", None);
    let verifier_config = dir.path().join("verifier.toml");
    std::fs::write(
        &verifier_config,
        format!(
            "public_url = \"{verifier_url}\"\napi_token_hashes = [\"{}\"]\n",
            sha256_hex(VERIFIER_API_TOKEN)
        ),
    )
    .unwrap();
    let mut serve_verifier = immerse();
    serve_verifier
        .args(["verifier", "serve", "--allow-software-key", "--config"])
        .arg(&verifier_config)
        .arg("--listen")
        .arg(format!("127.0.0.1:{verifier_port}"))
        .arg("--database-url")
        .arg(database("verifier.db"))
        .arg("--certificates")
        .arg(&certificates)
        .arg("--key-file")
        .arg(&verifier_key)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    trust(&mut serve_verifier);
    let mut verifier = Service(serve_verifier.spawn().unwrap());
    wait_ready(&mut verifier, &format!("{verifier_url}/readyz")).await;
    assert_eq!(
        reqwest::get(format!("{verifier_url}/healthz"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

#[test]
fn services_refuse_a_software_key_unless_told_it_is_development() {
    for (service, extra) in [
        ("issuer", &[][..]),
        ("verifier", &["--certificates", "/nonexistent.crt"][..]),
    ] {
        let output = immerse()
            .args([service, "serve", "--config", "/nonexistent.toml"])
            .args([
                "--registry-id",
                REGISTRY_ID,
                "--registry-jwk",
                "/nonexistent.jwk",
            ])
            .args(extra)
            .args(["--key-file", "/nonexistent.pem"])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{service}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("PKCS#11"), "{service}: {stderr}");
    }
}

const POLICY: &str = r#"apiVersion: immerse.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: release
spec:
  images: ["ghcr.io/immerse/**"]
  authorities:
    - name: release
      keyless:
        issuer: https://token.actions.githubusercontent.com
        subjectRegExp: https://github.com/immerse/immerse/\.github/workflows/release\.yml@refs/tags/v.*
"#;

const NAMESPACES: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: cvm-wallets
  labels:
    immerse.dev/confidential: "true"
"#;

#[tokio::test]
async fn the_admission_webhook_serves_over_tls_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = generate_key(dir.path(), "tls.key");
    let cert = dir.path().join("tls.crt");
    let pem = self_signed_certificate(
        &key,
        &cert,
        "admission.immerse-services.svc",
        Some("127.0.0.1"),
    );
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("release.yaml"), POLICY).unwrap();
    let namespaces = dir.path().join("namespaces.yaml");
    std::fs::write(&namespaces, NAMESPACES).unwrap();
    let port = free_port();
    let mut webhook = Service(
        immerse()
            .args([
                "admission",
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .arg("--policy")
            .arg(&policies)
            .arg("--namespaces")
            .arg(&namespaces)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            webhook.0.try_wait().unwrap().is_none(),
            "the webhook exited"
        );
        if let Ok(resp) = http.get(format!("{base}/readyz")).send().await {
            assert_eq!(resp.status().as_u16(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "webhook not ready within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // A wallet pod without the SEV-SNP runtime class, its image pinned and governed.
    let review = serde_json::json!({
        "kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "0d3c8a2e-1b2f-4b7a-9d0e-6f1d2a3b4c5d",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "wallet-0", "namespace": "cvm-wallets", "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "wallet-0", "namespace": "cvm-wallets"},
                "spec": {"containers": [{"name": "wallet", "image": "ghcr.io/immerse/immerse@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}
            },
            "dryRun": false
        }
    });
    let answer: Value = http
        .post(format!("{base}/validate"))
        .json(&review)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    assert_eq!(
        answer["response"]["uid"],
        "0d3c8a2e-1b2f-4b7a-9d0e-6f1d2a3b4c5d"
    );
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("runtimeClassName must be one of [kata-qemu-snp]"),
        "{message}"
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("immerse_admission_denied_total{reason=\"runtime_class\"} 1"),
        "{metrics}"
    );

    // SIGTERM (what Kubernetes sends) stops it cleanly.
    let pid = webhook.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopped = Instant::now();
    loop {
        if let Some(status) = webhook.0.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn the_admission_webhook_refuses_to_start_with_a_policy_it_cannot_enforce() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(
        policies.join("bad.yaml"),
        POLICY.replace("subjectRegExp", "subject: x\n        subjectRegExp"),
    )
    .unwrap();
    let namespaces = dir.path().join("namespaces.yaml");
    std::fs::write(&namespaces, NAMESPACES).unwrap();
    let output = immerse()
        .args(["admission", "serve", "--listen", "127.0.0.1:0"])
        .args(["--tls-cert", "/nonexistent", "--tls-key", "/nonexistent"])
        .arg("--policy")
        .arg(&policies)
        .arg("--namespaces")
        .arg(&namespaces)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("policy release") && stderr.contains("exactly one of subject"),
        "{stderr}"
    );
}
