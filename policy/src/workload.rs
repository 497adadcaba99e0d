//! The pod specs inside an admitted object: Pods and every kind with a pod template, with the
//! JSON Pointer of each container image (the mutating webhook patches exactly there).

use serde_json::Value;

use crate::error::PolicyError;

/// A container image as the object names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage {
    /// JSON Pointer to the `image` member, e.g. `/spec/template/spec/containers/0/image`.
    pub pointer: String,
    pub container: String,
    pub image: String,
}

/// What admission judges in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub kind: String,
    pub images: Vec<ContainerImage>,
    pub runtime_class_name: Option<String>,
    pub image_pull_secrets: Vec<String>,
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// Where the pod spec sits in each kind, or None for kinds without one.
pub fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("/spec"),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

fn malformed(kind: &str, what: String) -> PolicyError {
    PolicyError::MalformedObject(format!("{kind}: {what}"))
}

/// The workload of `object`, or None when `kind` has no pod spec. An object whose pod spec is
/// not shaped as Kubernetes defines it is an error (admission then denies).
pub fn workload_of(kind: &str, object: &Value) -> Result<Option<Workload>, PolicyError> {
    let Some(pointer) = pod_spec_pointer(kind) else {
        return Ok(None);
    };
    let spec = object
        .pointer(pointer)
        .ok_or_else(|| malformed(kind, format!("no pod spec at {pointer}")))?;
    let spec = spec
        .as_object()
        .ok_or_else(|| malformed(kind, format!("{pointer} is not an object")))?;
    let mut images = Vec::new();
    for list in CONTAINER_LISTS {
        let Some(containers) = spec.get(list) else {
            continue;
        };
        let containers = containers
            .as_array()
            .ok_or_else(|| malformed(kind, format!("{pointer}/{list} is not an array")))?;
        for (i, container) in containers.iter().enumerate() {
            let name = container
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let image = container
                .get("image")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed(kind, format!("{pointer}/{list}/{i} has no image")))?;
            images.push(ContainerImage {
                pointer: format!("{pointer}/{list}/{i}/image"),
                container: name,
                image: image.to_owned(),
            });
        }
    }
    let runtime_class_name = match spec.get("runtimeClassName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed(kind, "runtimeClassName is not a string".into())),
    };
    let image_pull_secrets = match spec.get("imagePullSecrets") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(refs)) => refs
            .iter()
            .filter_map(|r| r.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        Some(_) => return Err(malformed(kind, "imagePullSecrets is not an array".into())),
    };
    Ok(Some(Workload {
        kind: kind.to_owned(),
        images,
        runtime_class_name,
        image_pull_secrets,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_container_list_of_every_pod_template_kind_is_read() {
        let pod_spec = json!({
            "containers": [{"name": "app", "image": "a:1"}],
            "initContainers": [{"name": "init", "image": "b:1"}],
            "ephemeralContainers": [{"name": "debug", "image": "c:1"}],
            "runtimeClassName": "kata-qemu-snp",
            "imagePullSecrets": [{"name": "pull"}],
        });
        let template = json!({"spec": {"template": {"spec": pod_spec.clone()}}});
        let objects = [
            ("Pod", json!({"spec": pod_spec.clone()})),
            ("Deployment", template.clone()),
            ("ReplicaSet", template.clone()),
            ("StatefulSet", template.clone()),
            ("DaemonSet", template.clone()),
            ("Job", template.clone()),
            ("ReplicationController", template.clone()),
            (
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec}}}}}),
            ),
        ];
        for (kind, object) in objects {
            let w = workload_of(kind, &object)
                .expect("parses")
                .expect("has pods");
            let images: Vec<_> = w.images.iter().map(|c| c.image.as_str()).collect();
            assert_eq!(images, ["a:1", "b:1", "c:1"], "{kind}");
            assert_eq!(w.runtime_class_name.as_deref(), Some("kata-qemu-snp"));
            assert_eq!(w.image_pull_secrets, ["pull"]);
            for c in &w.images {
                assert_eq!(
                    object.pointer(&c.pointer).and_then(Value::as_str),
                    Some(c.image.as_str()),
                    "{kind}: the pointer names the image"
                );
            }
        }
    }

    #[test]
    fn malformed_pod_specs_are_errors_and_other_kinds_are_not_workloads() {
        assert!(
            workload_of("ConfigMap", &json!({"data": {}}))
                .unwrap()
                .is_none()
        );
        for bad in [
            json!({}),
            json!({"spec": []}),
            json!({"spec": {"containers": {}}}),
            json!({"spec": {"containers": [{"name": "x"}]}}),
            json!({"spec": {"containers": [{"name": "x", "image": 1}]}}),
            json!({"spec": {"containers": [], "runtimeClassName": 3}}),
        ] {
            assert!(matches!(
                workload_of("Pod", &bad),
                Err(PolicyError::MalformedObject(_))
            ));
        }
    }
}
