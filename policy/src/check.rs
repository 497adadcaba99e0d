//! `immerse admission check`: judge manifests without a cluster, as the webhook would judge
//! them on creation. Namespaces come from the `Namespace` documents among the manifests.

use std::sync::Arc;

use serde_json::Value;

use crate::admission::{Admission, AdmissionConfig, Decision};
use crate::cluster::{DockerConfig, Namespaces, PullCredentials};
use crate::engine::{Engine, EngineConfig};
use crate::error::PolicyError;
use crate::policy::PolicySet;
use crate::workload::workload_of;

/// The verdict on one manifest document.
#[derive(Debug)]
pub struct Judged {
    /// `Kind namespace/name`.
    pub object: String,
    pub decision: Decision,
}

/// Every document of a multi-document YAML text (empty documents dropped).
pub fn parse_manifests(text: &str) -> Result<Vec<Value>, PolicyError> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| PolicyError::Load(e.to_string()))?;
    Ok(documents.into_iter().filter(|d| !d.is_null()).collect())
}

/// Judges each workload among `documents` (pinned images, runtime classes, which policy
/// governs each image; signatures too when `config.verify_signatures` and the registries are
/// reachable).
pub async fn check_manifests(
    policies: PolicySet,
    documents: &[Value],
    config: AdmissionConfig,
    engine: EngineConfig,
    docker_config: DockerConfig,
) -> Result<Vec<Judged>, PolicyError> {
    let admission = Admission::new(
        policies,
        Engine::new(engine),
        Namespaces::from_manifests(documents),
        PullCredentials {
            configured: docker_config,
            cluster: None,
        },
        config,
    );
    let admission = Arc::new(admission);
    let mut judged = Vec::new();
    for doc in documents {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        let Some(workload) = workload_of(kind, doc)? else {
            continue;
        };
        let name = doc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        let namespace = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let decision = admission.decide_workload(&workload, namespace, false).await;
        judged.push(Judged {
            object: format!("{kind} {namespace}/{name}"),
            decision,
        });
    }
    Ok(judged)
}
