//! The admission decision: a plain function over the request (no HTTP), used by `/validate`,
//! `/mutate` and `immerse admission check` alike. Every error denies.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use immerse_oci::{Digest, ImageRef};
use json_patch::{PatchOperation, ReplaceOperation, jsonptr::PointerBuf};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, Operation};

use crate::cluster::{Namespaces, PullCredentials};
use crate::engine::{CacheUse, Engine, Pending};
use crate::policy::{CompiledPolicy, PolicySet};
use crate::spec::Mode;
use crate::workload::{ContainerImage, Workload, workload_of};

/// What to do with an image no policy governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unmatched {
    #[default]
    Deny,
    Warn,
    Allow,
}

#[derive(Debug, Clone)]
pub struct AdmissionConfig {
    /// The namespace label that marks a confidential namespace (value `"true"`).
    pub confidential_label: String,
    /// Runtime classes that run pods in SEV-SNP guests.
    pub snp_runtime_classes: Vec<String>,
    pub unmatched: Unmatched,
    /// Below the webhook's `timeoutSeconds`, so that the denial is ours and says why.
    pub deadline: Duration,
    /// Off for offline checks: everything but the registry is judged.
    pub verify_signatures: bool,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            confidential_label: "immerse.dev/confidential".into(),
            snp_runtime_classes: vec!["kata-qemu-snp".into()],
            unmatched: Unmatched::Deny,
            deadline: Duration::from_secs(8),
            verify_signatures: true,
        }
    }
}

/// Why a workload was denied: the metric label, and the message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub reason: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub denials: Vec<Denial>,
    pub warnings: Vec<String>,
    /// For `/mutate`: each tag replaced by the digest that was verified.
    pub patch: Vec<PatchOperation>,
    pub cache: Vec<CacheUse>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.denials.is_empty()
    }

    fn deny(&mut self, reason: &'static str, message: String) {
        self.denials.push(Denial { reason, message });
    }

    /// One message naming every failed check.
    pub fn message(&self) -> String {
        self.denials
            .iter()
            .map(|d| d.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

pub struct Admission {
    policies: RwLock<Arc<PolicySet>>,
    pub engine: Arc<Engine>,
    pub namespaces: Namespaces,
    pub credentials: PullCredentials,
    pub config: AdmissionConfig,
}

/// One image's verification under one policy, started.
struct Started {
    index: usize,
    policy: Arc<CompiledPolicy>,
    pending: Pending,
}

impl Admission {
    pub fn new(
        policies: PolicySet,
        engine: Arc<Engine>,
        namespaces: Namespaces,
        credentials: PullCredentials,
        config: AdmissionConfig,
    ) -> Self {
        Self {
            policies: RwLock::new(Arc::new(policies)),
            engine,
            namespaces,
            credentials,
            config,
        }
    }

    pub fn policies(&self) -> Arc<PolicySet> {
        self.policies
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Swaps in a newly loaded policy set; cached verdicts of the old policies no longer apply
    /// (the cache key holds each policy's hash).
    pub fn replace_policies(&self, policies: PolicySet) {
        *self.policies.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policies);
    }

    /// Decides a review. `mutate` also computes the pinning patch.
    pub async fn decide(
        &self,
        request: &AdmissionRequest<DynamicObject>,
        mutate: bool,
    ) -> Decision {
        if !matches!(request.operation, Operation::Create | Operation::Update) {
            return Decision::default();
        }
        let Some(object) = &request.object else {
            let mut d = Decision::default();
            d.deny("invalid", "the review carries no object".into());
            return d;
        };
        let object = match serde_json::to_value(object) {
            Ok(v) => v,
            Err(e) => {
                let mut d = Decision::default();
                d.deny("invalid", format!("object: {e}"));
                return d;
            }
        };
        let namespace = request.namespace.clone().unwrap_or_default();
        match workload_of(&request.kind.kind, &object) {
            Ok(None) => Decision::default(),
            Ok(Some(workload)) => self.decide_workload(&workload, &namespace, mutate).await,
            Err(e) => {
                let mut d = Decision::default();
                d.deny("invalid", e.to_string());
                d
            }
        }
    }

    /// Judges one workload in `namespace`, within the deadline.
    pub async fn decide_workload(
        &self,
        workload: &Workload,
        namespace: &str,
        mutate: bool,
    ) -> Decision {
        let deadline = self.config.deadline;
        match tokio::time::timeout(deadline, self.judge(workload, namespace, mutate)).await {
            Ok(decision) => decision,
            Err(_) => {
                let mut d = Decision::default();
                d.deny(
                    "deadline",
                    format!(
                        "image verification did not finish within {} ms (registry slow or unreachable); denied, try again",
                        deadline.as_millis()
                    ),
                );
                d
            }
        }
    }

    async fn judge(&self, workload: &Workload, namespace: &str, mutate: bool) -> Decision {
        let mut decision = Decision::default();
        let labels = match self.namespaces.labels(namespace).await {
            Ok(labels) => labels,
            Err(e) => {
                decision.deny("namespace", e.to_string());
                return decision;
            }
        };
        if labels
            .get(&self.config.confidential_label)
            .map(String::as_str)
            == Some("true")
        {
            let runtime = workload.runtime_class_name.as_deref();
            if !runtime.is_some_and(|r| self.config.snp_runtime_classes.iter().any(|c| c == r)) {
                decision.deny(
                    "runtime_class",
                    format!(
                        "namespace {namespace} is confidential ({}=true): runtimeClassName must be one of [{}], found {}",
                        self.config.confidential_label,
                        self.config.snp_runtime_classes.join(", "),
                        runtime.map_or("none".to_owned(), |r| format!("{r:?}"))
                    ),
                );
            }
        }

        let policies = self.policies();
        let mut started = Vec::new();
        let mut resolved: Vec<Option<(ImageRef, Digest)>> = vec![None; workload.images.len()];
        for (index, container) in workload.images.iter().enumerate() {
            let image = match ImageRef::parse(&container.image) {
                Ok(image) => image,
                Err(e) => {
                    decision.deny("invalid", format!("container {}: {e}", container.container));
                    continue;
                }
            };
            let name = image.name();
            let matching: Vec<&CompiledPolicy> = policies.matching(&name, &labels);
            if matching.is_empty() {
                let message = format!(
                    "image {} (container {}): no ImagePolicy governs {name} in namespace {namespace}",
                    container.image, container.container
                );
                match self.config.unmatched {
                    Unmatched::Deny => decision.deny("no_policy", message),
                    Unmatched::Warn => decision.warnings.push(message),
                    Unmatched::Allow => {}
                }
                continue;
            }
            let enforced = matching.iter().any(|p| p.mode == Mode::Enforce);
            if image.digest().is_none() && !mutate {
                // What runs must be what was checked: only a digest guarantees that.
                let message = format!(
                    "image {} (container {}) is not pinned by digest; the mutating webhook pins images, or name it as {name}@sha256:...",
                    container.image, container.container
                );
                if enforced {
                    decision.deny("unpinned", message);
                } else {
                    decision.warnings.push(message);
                }
                continue;
            }
            if !self.config.verify_signatures {
                continue;
            }
            let credentials = match self
                .credentials
                .for_image(image.api_host(), namespace, &workload.image_pull_secrets)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    decision.deny("credentials", e.to_string());
                    continue;
                }
            };
            let digest = match self.engine.resolve(&image, &credentials).await {
                Ok(digest) => digest,
                Err(failure) => {
                    decision.deny(
                        failure.reason(),
                        format!(
                            "image {} (container {}): {failure}",
                            container.image, container.container
                        ),
                    );
                    continue;
                }
            };
            resolved[index] = Some((image.clone(), digest));
            for policy in matching {
                let policy = Arc::new(policy.clone());
                started.push(Started {
                    index,
                    pending: self
                        .engine
                        .verify(image.clone(), digest, policy.clone(), credentials.clone())
                        .await,
                    policy,
                });
            }
        }

        let mut failed_images = BTreeSet::new();
        for Started {
            index,
            policy,
            pending,
        } in started
        {
            decision.cache.push(pending.cache);
            let container: &ContainerImage = &workload.images[index];
            if let Err(failure) = pending.outcome().await {
                let message = format!(
                    "image {} (container {}): policy {}: {failure}",
                    container.image, container.container, policy.name
                );
                match policy.mode {
                    Mode::Enforce => {
                        failed_images.insert(index);
                        decision.deny(failure.reason(), message);
                    }
                    Mode::Warn => decision.warnings.push(format!("warn mode: {message}")),
                }
            }
        }

        if mutate && decision.allowed() {
            for (index, resolved) in resolved.into_iter().enumerate() {
                let Some((image, digest)) = resolved else {
                    continue;
                };
                let container = &workload.images[index];
                if image.digest().is_some() || failed_images.contains(&index) {
                    continue;
                }
                let Ok(path) = PointerBuf::parse(&container.pointer) else {
                    decision.deny("invalid", format!("pointer {}", container.pointer));
                    continue;
                };
                decision
                    .patch
                    .push(PatchOperation::Replace(ReplaceOperation {
                        path,
                        value: format!("{}@{digest}", image.name()).into(),
                    }));
            }
        }
        decision
    }
}
