//! What admission reads besides the object: namespace labels and registry credentials, from a
//! cluster (the API server, through kube) or from files (tests, `immerse admission check`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use immerse_oci::Credentials;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use serde::Deserialize;

use crate::error::PolicyError;
use crate::policy::read_bounded;

/// How long namespace labels are trusted before they are read again.
const NAMESPACE_TTL: Duration = Duration::from_secs(30);

pub type Labels = BTreeMap<String, String>;

/// Where namespace labels come from.
pub enum Namespaces {
    /// Fixed labels (tests, offline checks). A namespace not listed is an error, never
    /// "no labels": a confidential namespace must not pass for an unlabelled one.
    Static(HashMap<String, Labels>),
    Cluster {
        client: kube::Client,
        cache: Mutex<HashMap<String, (Instant, Labels)>>,
    },
}

impl Namespaces {
    pub fn cluster(client: kube::Client) -> Self {
        Self::Cluster {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Namespaces from `Namespace` documents in YAML text (others are ignored).
    pub fn from_manifests(documents: &[serde_json::Value]) -> Self {
        let mut namespaces = HashMap::new();
        for doc in documents {
            if doc.get("kind").and_then(|k| k.as_str()) == Some("Namespace")
                && let Ok(ns) = serde_json::from_value::<Namespace>(doc.clone())
                && let Some(name) = ns.metadata.name
            {
                namespaces.insert(name, ns.metadata.labels.unwrap_or_default());
            }
        }
        Self::Static(namespaces)
    }

    pub async fn labels(&self, namespace: &str) -> Result<Labels, PolicyError> {
        let unavailable = |reason: String| PolicyError::NamespaceUnavailable {
            namespace: namespace.to_owned(),
            reason,
        };
        match self {
            Self::Static(map) => map
                .get(namespace)
                .cloned()
                .ok_or_else(|| unavailable("not a known namespace".into())),
            Self::Cluster { client, cache } => {
                if let Some((at, labels)) = cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(namespace)
                    && at.elapsed() < NAMESPACE_TTL
                {
                    return Ok(labels.clone());
                }
                let ns = Api::<Namespace>::all(client.clone())
                    .get(namespace)
                    .await
                    .map_err(|e| unavailable(e.to_string()))?;
                let labels = ns.metadata.labels.unwrap_or_default();
                cache
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(namespace.to_owned(), (Instant::now(), labels.clone()));
                Ok(labels)
            }
        }
    }
}

/// A docker `config.json` (or a `.dockerconfigjson` secret): credentials per registry host.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    auths: HashMap<String, Credentials>,
}

#[derive(Deserialize)]
struct DockerConfigFile {
    #[serde(default)]
    auths: HashMap<String, DockerAuth>,
}

#[derive(Deserialize)]
struct DockerAuth {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// `https://index.docker.io/v1/` and `docker.io` name the same registry; keys are hosts.
fn registry_host(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

impl DockerConfig {
    pub fn parse(bytes: &[u8]) -> Result<Self, PolicyError> {
        let bad = |e: String| PolicyError::Credentials(format!("docker config: {e}"));
        let file: DockerConfigFile =
            serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let mut auths = HashMap::new();
        for (key, auth) in file.auths {
            let credentials = match (auth.username, auth.password, auth.auth) {
                (Some(username), Some(password), _) => Credentials::Basic { username, password },
                (_, _, Some(encoded)) => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(encoded.trim())
                        .map_err(|_| bad(format!("{key}: auth is not base64")))?;
                    let text = String::from_utf8(decoded)
                        .map_err(|_| bad(format!("{key}: auth is not UTF-8")))?;
                    let (username, password) = text
                        .split_once(':')
                        .ok_or_else(|| bad(format!("{key}: auth is not user:password")))?;
                    Credentials::Basic {
                        username: username.to_owned(),
                        password: password.to_owned(),
                    }
                }
                _ => return Err(bad(format!("{key}: no credentials"))),
            };
            auths.insert(registry_host(&key), credentials);
        }
        Ok(Self { auths })
    }

    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        Self::parse(read_bounded(path)?.as_bytes())
    }

    pub fn credentials(&self, registry: &str) -> Option<&Credentials> {
        self.auths.get(&registry_host(registry))
    }
}

/// Credentials for an image: the pod's imagePullSecrets first (read from the cluster), then
/// the configured docker config, else anonymous.
pub struct PullCredentials {
    pub configured: DockerConfig,
    pub cluster: Option<kube::Client>,
}

impl PullCredentials {
    pub async fn for_image(
        &self,
        registry: &str,
        namespace: &str,
        pull_secrets: &[String],
    ) -> Result<Credentials, PolicyError> {
        if let Some(client) = &self.cluster {
            let secrets = Api::<Secret>::namespaced(client.clone(), namespace);
            for name in pull_secrets {
                let secret = secrets.get(name).await.map_err(|e| {
                    PolicyError::Credentials(format!("secret {namespace}/{name}: {e}"))
                })?;
                let Some(data) = secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(".dockerconfigjson"))
                else {
                    continue;
                };
                if let Some(credentials) = DockerConfig::parse(&data.0)?.credentials(registry) {
                    return Ok(credentials.clone());
                }
            }
        }
        Ok(self
            .configured
            .credentials(registry)
            .cloned()
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_reads_both_credential_forms() {
        let config = DockerConfig::parse(
            br#"{"auths": {
                "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
                "127.0.0.1:5000": {"username": "u", "password": "p"}
            }}"#,
        )
        .expect("parses");
        assert!(matches!(
            config.credentials("docker.io"),
            Some(Credentials::Basic { username, password }) if username == "user" && password == "pass"
        ));
        assert!(matches!(
            config.credentials("127.0.0.1:5000"),
            Some(Credentials::Basic { username, .. }) if username == "u"
        ));
        assert!(config.credentials("ghcr.io").is_none());
    }

    #[test]
    fn malformed_docker_configs_are_refused() {
        for bad in [
            &br#"{"auths": {"r": {"auth": "!!"}}}"#[..],
            br#"{"auths": {"r": {"auth": "bm9jb2xvbg=="}}}"#,
            br#"{"auths": {"r": {}}}"#,
            b"not json",
        ] {
            assert!(matches!(
                DockerConfig::parse(bad),
                Err(PolicyError::Credentials(_))
            ));
        }
    }

    #[tokio::test]
    async fn an_unknown_namespace_is_an_error_not_an_unlabelled_one() {
        let namespaces = Namespaces::from_manifests(&[serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "wallets", "labels": {"immerse.dev/confidential": "true"}}
        })]);
        assert_eq!(
            namespaces.labels("wallets").await.expect("known")["immerse.dev/confidential"],
            "true"
        );
        assert!(matches!(
            namespaces.labels("other").await,
            Err(PolicyError::NamespaceUnavailable { .. })
        ));
    }
}
