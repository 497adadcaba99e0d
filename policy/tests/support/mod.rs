//! The webhook as a cluster would run it, without the cluster: TLS on 127.0.0.1, images in a
//! real registry (Debian's docker-registry), signed and attested by the project's own signer,
//! and AdmissionReviews shaped exactly as kube-apiserver sends them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use immerse_jose::SoftwareSigner;
use immerse_oci::manifest::{OCI_CONFIG, OCI_LAYER_TAR};
use immerse_oci::testing::TestRegistry;
use immerse_oci::{Descriptor, Digest, ImageManifest, Manifest, Repository};
use immerse_policy::http::{WebhookState, router};
use immerse_policy::{
    Admission, AdmissionConfig, DockerConfig, Engine, EngineConfig, Namespaces, PolicySet,
    PullCredentials,
};
use immerse_slsa::sign::{attest_image, sign_image};
use immerse_slsa::{BuildDescription, ResourceDescriptor, generate};
use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509, X509NameBuilder};
use serde_json::{Value, json};

pub const SOURCE: &str = "https://github.com/immerse/immerse";
pub const OTHER_SOURCE: &str = "https://github.com/someone/else";
pub const REF: &str = "refs/tags/v1.4.0";
pub const COMMIT: &str = "4d329c75e7ec1725f7c9ce917a8799d408d06be3";
pub const BUILDER: &str =
    "https://github.com/immerse/immerse/.github/workflows/release.yml@refs/tags/v1.4.0";
pub const UNTRUSTED_BUILDER: &str =
    "https://github.com/immerse/immerse/.github/workflows/adhoc.yml@refs/tags/v1.4.0";
const CONFIG: &[u8] =
    br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

/// The namespaces of the test cluster: `apps` (ordinary) and `wallets` (confidential).
pub const NAMESPACES: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: apps
---
apiVersion: v1
kind: Namespace
metadata:
  name: wallets
  labels:
    immerse.dev/confidential: "true"
"#;

/// The release policy: the release key signs, the release workflow at a v1 tag of the
/// project's repository built it.
pub fn release_policy(registry: &str, key_pem: &str, mode: &str) -> String {
    let key = key_pem
        .lines()
        .map(|l| format!("          {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        r#"apiVersion: immerse.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: release
spec:
  images: ["{registry}/apps/*"]
  mode: {mode}
  authorities:
    - name: release-key
      key:
        allowMissingTlog: true
        publicKey: |
{key}
  attestations:
    - name: provenance
      predicateType: https://slsa.dev/provenance/v1
      slsa:
        builders:
          - id: https://github.com/immerse/immerse/.github/workflows/release.yml
            buildLevel: 3
        minBuildLevel: 3
        sourceUri: github.com/immerse/immerse
        sourceVersionedTag: v1
"#
    )
}

pub struct Webhook {
    pub registry: TestRegistry,
    pub release: SoftwareSigner,
    pub url: String,
    pub http: reqwest::Client,
    pub state: Arc<WebhookState>,
    _dir: tempfile::TempDir,
}

/// A self-signed P-256 certificate for 127.0.0.1 (what a cluster's CA bundle would vouch for).
fn tls_pair(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "admission.immerse-services.svc")
        .unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .build(&cert.x509v3_context(None, None))
        .unwrap();
    cert.append_extension(san).unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    let pem = cert.build().to_pem().unwrap();
    let (cert_path, key_path) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_path, &pem).unwrap();
    std::fs::write(&key_path, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    (cert_path, key_path, pem)
}

pub fn key_pem(signer: &SoftwareSigner) -> String {
    immerse_sigstore::sign::signer_key(signer)
        .expect("key")
        .to_pem()
}

impl Webhook {
    /// Starts the registry and the webhook with the release policy (None when the registry
    /// is missing, which the oci crate reports loudly and CI refuses).
    pub async fn start(mode: &str) -> Option<Self> {
        Self::start_with(mode, AdmissionConfig::default(), None).await
    }

    pub async fn start_with(
        mode: &str,
        config: AdmissionConfig,
        extra_policy: Option<String>,
    ) -> Option<Self> {
        Self::start_with_engine(mode, config, extra_policy, EngineConfig::default()).await
    }

    pub async fn start_with_engine(
        mode: &str,
        config: AdmissionConfig,
        extra_policy: Option<String>,
        engine: EngineConfig,
    ) -> Option<Self> {
        let registry = TestRegistry::start().await?;
        let release = SoftwareSigner::generate().expect("key");
        let dir = tempfile::tempdir().expect("dir");
        let policies = dir.path().join("policies");
        std::fs::create_dir(&policies).unwrap();
        std::fs::write(
            policies.join("release.yaml"),
            release_policy(&registry.host(), &key_pem(&release), mode),
        )
        .unwrap();
        if let Some(extra) = extra_policy {
            std::fs::write(policies.join("extra.yaml"), extra).unwrap();
        }
        let policies = PolicySet::load_dir(&policies).expect("policies");
        let namespaces = Namespaces::from_manifests(
            &immerse_policy::check::parse_manifests(NAMESPACES).expect("namespaces"),
        );
        let state = Arc::new(WebhookState {
            admission: Admission::new(
                policies,
                Engine::new(engine),
                namespaces,
                PullCredentials {
                    configured: DockerConfig::default(),
                    cluster: None,
                },
                config,
            ),
            metrics: Default::default(),
        });
        let (cert, key, pem) = tls_pair(dir.path());
        let tls = immerse_policy::tls::server_config(cert, key).expect("tls");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        tokio::spawn(immerse_policy::tls::serve(
            listener,
            tls,
            router(state.clone()),
            std::future::pending(),
        ));
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Some(Self {
            registry,
            release,
            url,
            http,
            state,
            _dir: dir,
        })
    }

    pub fn repo(&self) -> (immerse_oci::RegistryClient, String) {
        (
            self.registry.client(),
            format!("{}/apps/web", self.registry.host()),
        )
    }

    /// Pushes a one-layer image to `apps/<name>` under `tag`; returns its digest.
    pub async fn push(&self, repo: &Repository<'_>, tag: &str, layer: &[u8]) -> Digest {
        repo.push_blob(CONFIG).await.expect("config");
        repo.push_blob(layer).await.expect("layer");
        let manifest = ImageManifest::new(
            Descriptor::for_content(OCI_CONFIG, CONFIG),
            vec![Descriptor::for_content(OCI_LAYER_TAR, layer)],
        );
        repo.push_manifest(&Manifest::Image(manifest), Some(tag))
            .await
            .expect("manifest")
            .digest
    }

    pub async fn sign(&self, repo: &Repository<'_>, image: &Digest, signer: &SoftwareSigner) {
        let reference = format!("{}/{}", self.registry.host(), repo.name());
        sign_image(repo, image, &reference, signer)
            .await
            .expect("sign");
    }

    pub async fn attest(
        &self,
        repo: &Repository<'_>,
        image: &Digest,
        builder: &str,
        source: &str,
        signer: &SoftwareSigner,
    ) {
        attest_image(repo, image, &provenance(image, builder, source), signer)
            .await
            .expect("attest");
    }

    /// Pushes `layer` to `apps/web` under `tag`, signs it with `signer` and attests
    /// provenance `(builder, source)` with the same key, as asked; returns the digest and the
    /// pinned reference.
    pub async fn publish(
        &self,
        tag: &str,
        layer: &[u8],
        signer: Option<&SoftwareSigner>,
        provenance: Option<(&str, &str)>,
    ) -> (Digest, String) {
        let (client, name) = self.repo();
        let repo = client.repository("apps/web").expect("repo");
        let digest = self.push(&repo, tag, layer).await;
        let key = signer.unwrap_or(&self.release);
        if signer.is_some() {
            self.sign(&repo, &digest, key).await;
        }
        if let Some((builder, source)) = provenance {
            self.attest(&repo, &digest, builder, source, key).await;
        }
        (digest, format!("{name}@{digest}"))
    }

    /// The `/validate` answer for a Deployment of `image` in `namespace`.
    pub async fn validate(&self, namespace: &str, image: &str, runtime: Option<&str>) -> Value {
        self.send("/validate", &review(&deployment(namespace, image, runtime)))
            .await
            .1
    }

    /// POSTs `review` to `path`; returns the HTTP status and the response member.
    pub async fn send(&self, path: &str, review: &Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .json(review)
            .send()
            .await
            .expect("webhook answers");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status == 200 {
            assert_eq!(body["apiVersion"], "admission.k8s.io/v1", "{body}");
            assert_eq!(body["kind"], "AdmissionReview", "{body}");
        }
        (status, body.get("response").cloned().unwrap_or(body))
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }
}

/// SLSA v1 provenance for `image`, built by `builder` from `source` at [`REF`].
pub fn provenance(image: &Digest, builder: &str, source: &str) -> Vec<u8> {
    let Value::Object(external) = json!({
        "workflow": {"repository": source, "ref": REF, "path": ".github/workflows/release.yml"}
    }) else {
        unreachable!("an object literal");
    };
    let mut subject = ResourceDescriptor {
        name: Some("image".into()),
        ..ResourceDescriptor::default()
    };
    subject
        .digest
        .insert("sha256", &image.hex())
        .expect("sha256");
    let mut dependency = ResourceDescriptor {
        uri: Some(format!("git+{source}@{REF}")),
        ..ResourceDescriptor::default()
    };
    dependency
        .digest
        .insert("gitCommit", COMMIT)
        .expect("commit");
    generate(&BuildDescription {
        subjects: vec![subject],
        builder_id: builder.into(),
        build_type: "https://actions.github.io/buildtypes/workflow/v1".into(),
        external_parameters: external,
        resolved_dependencies: vec![dependency],
        ..BuildDescription::default()
    })
    .expect("provenance")
    .payload
}

/// A Deployment with one container, as `kubectl apply` sends it.
pub fn deployment(namespace: &str, image: &str, runtime_class: Option<&str>) -> Value {
    let mut pod_spec = json!({
        "containers": [{"name": "web", "image": image, "resources": {}}],
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
    });
    if let Some(class) = runtime_class {
        pod_spec["runtimeClassName"] = json!(class);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "creationTimestamp": null},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
                "spec": pod_spec,
            },
            "strategy": {},
        },
        "status": {},
    })
}

/// The AdmissionReview kube-apiserver sends for creating `object` (admission.k8s.io/v1).
pub fn review(object: &Value) -> Value {
    let kind = object["kind"].as_str().unwrap_or_default();
    let (group, resource) = match kind {
        "Pod" => ("", "pods"),
        "CronJob" => ("batch", "cronjobs"),
        "Job" => ("batch", "jobs"),
        _ => ("apps", "deployments"),
    };
    let gvk = json!({"group": group, "version": "v1", "kind": kind});
    let gvr = json!({"group": group, "version": "v1", "resource": resource});
    json!({
        "kind": "AdmissionReview",
        "apiVersion": "admission.k8s.io/v1",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": gvk,
            "resource": gvr,
            "requestKind": gvk,
            "requestResource": gvr,
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": "CREATE",
            "userInfo": {
                "username": "kubernetes-admin",
                "groups": ["kubeadm:cluster-admins", "system:authenticated"]
            },
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": {
                "kind": "CreateOptions",
                "apiVersion": "meta.k8s.io/v1",
                "fieldManager": "kubectl-client-side-apply",
                "fieldValidation": "Strict"
            }
        }
    })
}

/// Applies the response's JSON Patch to `object`, as kube-apiserver would.
pub fn apply_patch(object: &Value, response: &Value) -> Value {
    use base64::Engine as _;
    let patch = response["patch"].as_str().expect("a patch");
    assert_eq!(response["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(patch)
        .expect("base64");
    let ops: Vec<Value> = serde_json::from_slice(&bytes).expect("JSON Patch");
    let mut patched = object.clone();
    for op in ops {
        assert_eq!(op["op"], "replace", "only replacements: {op}");
        let path = op["path"].as_str().expect("path");
        *patched.pointer_mut(path).expect("the path exists") = op["value"].clone();
    }
    patched
}

pub fn counts(metrics: &str) -> HashMap<String, f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_owned(), v)))
        .collect()
}
