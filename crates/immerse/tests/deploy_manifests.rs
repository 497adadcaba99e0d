//! The hardening invariants of deploy/ (issue 10, SYSTEM.md s3 "lateral movement"): every YAML
//! file under deploy/ is parsed, and a manifest change that weakens a pod, a namespace, a network
//! policy, RBAC or a webhook fails `cargo test`. Each check returns the violations it finds, and a
//! test per check feeds it a weakened copy of a shipped manifest to see it refuse.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The namespaces of SYSTEM.md s3 and the one for issuer, verifier and webhook.
const NAMESPACES: [&str; 3] = ["cvm-wallets", "cvm-security", "immerse-services"];
/// The SEV-SNP runtime class wallet pods run under (SYSTEM.md s1).
const SNP_RUNTIME_CLASS: &str = "kata-qemu-snp";
/// Deployments that call the API server and so mount their service-account token.
const TOKEN_USERS: [&str; 2] = ["attestation", "admission"];
/// Deployments that are one instance by design: each wallet pod is its own wallet.
const SINGLE_INSTANCE: [&str; 1] = ["wallet"];

/// Edits a pod spec into a weaker one.
type Weakening = fn(&mut Value);

struct Manifest {
    file: PathBuf,
    doc: Value,
}

impl Manifest {
    fn kind(&self) -> &str {
        self.doc["kind"].as_str().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.doc["metadata"]["name"].as_str().unwrap_or_default()
    }

    fn namespace(&self) -> &str {
        self.doc["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
    }

    fn id(&self) -> String {
        format!(
            "{} {}/{} ({})",
            self.kind(),
            self.namespace(),
            self.name(),
            self.file.display()
        )
    }
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn yaml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("deploy/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            yaml_files(&path, found);
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            found.push(path);
        }
    }
}

/// Every document of every YAML file under deploy/ (kustomization files included).
fn manifests() -> Vec<Manifest> {
    let mut files = Vec::new();
    yaml_files(&deploy_dir(), &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no YAML under {}",
        deploy_dir().display()
    );
    files
        .into_iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(&file).expect("manifest is readable");
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
                .unwrap_or_else(|err| panic!("{}: {err}", file.display()));
            docs.into_iter()
                .filter(|doc| !doc.is_null())
                .map(move |doc| Manifest {
                    file: file.clone(),
                    doc,
                })
        })
        .collect()
}

fn of_kind<'a>(manifests: &'a [Manifest], kind: &'a str) -> impl Iterator<Item = &'a Manifest> {
    manifests.iter().filter(move |m| m.kind() == kind)
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The restricted Pod Security profile's container and pod settings, probes, resources and a
/// pinned image, for one Deployment.
fn deployment_violations(deployment: &Manifest) -> Vec<String> {
    let id = deployment.id();
    let name = deployment.name();
    let spec = &deployment.doc["spec"];
    let pod = &spec["template"]["spec"];
    let mut violations = Vec::new();
    let mut require = |ok: bool, what: &str| {
        if !ok {
            violations.push(format!("{id}: {what}"));
        }
    };
    let replicas = spec["replicas"].as_u64().unwrap_or(1);
    if SINGLE_INSTANCE.contains(&name) {
        require(replicas == 1, "a single-instance service has one replica");
    } else {
        require(
            replicas >= 2,
            "a stateless service runs two replicas or more",
        );
    }
    require(
        pod["securityContext"]["runAsNonRoot"] == true,
        "pod runAsNonRoot",
    );
    require(
        pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault",
        "pod seccomp RuntimeDefault",
    );
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        require(pod[host] != true, &format!("no {host}"));
    }
    let automount = &pod["automountServiceAccountToken"];
    require(
        automount.is_boolean(),
        "automountServiceAccountToken is explicit",
    );
    require(
        *automount == false || TOKEN_USERS.contains(&name),
        "no service-account token where the API server is not called",
    );
    for volume in pod["volumes"].as_array().into_iter().flatten() {
        require(volume.get("hostPath").is_none(), "no hostPath volume");
    }
    let containers = pod["containers"].as_array().cloned().unwrap_or_default();
    require(!containers.is_empty(), "has containers");
    for container in containers
        .iter()
        .chain(pod["initContainers"].as_array().into_iter().flatten())
    {
        let security = &container["securityContext"];
        require(security["runAsNonRoot"] == true, "container runAsNonRoot");
        require(
            security["readOnlyRootFilesystem"] == true,
            "readOnlyRootFilesystem",
        );
        require(
            security["allowPrivilegeEscalation"] == false,
            "allowPrivilegeEscalation false",
        );
        require(security["privileged"] != true, "not privileged");
        require(
            strings(&security["capabilities"]["drop"]) == ["ALL"]
                && security["capabilities"].get("add").is_none(),
            "all capabilities dropped, none added",
        );
        require(
            security["seccompProfile"]["type"] == "RuntimeDefault",
            "container seccomp RuntimeDefault",
        );
        for bound in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                require(
                    container["resources"][bound][resource].is_string(),
                    &format!("resources.{bound}.{resource}"),
                );
            }
        }
        let image = container["image"].as_str().unwrap_or_default();
        require(
            image.starts_with("ghcr.io/immerse/immerse@sha256:") && image.len() == 95,
            "the project's image, by digest",
        );
        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            let probe_spec = &container[probe];
            // The wallet serves on loopback only, out of the kubelet's reach: its probes run the
            // binary against that API instead.
            let probed = probe_spec["httpGet"]["path"] == path
                || (SINGLE_INSTANCE.contains(&name)
                    && strings(&probe_spec["exec"]["command"]).first()
                        == Some(&"/usr/local/bin/immerse"));
            require(probed, &format!("{probe} on {path}"));
        }
    }
    violations
}

fn namespace_violations(namespace: &Manifest) -> Vec<String> {
    ["enforce", "audit", "warn"]
        .into_iter()
        .filter(|mode| {
            namespace.doc["metadata"]["labels"][format!("pod-security.kubernetes.io/{mode}")]
                != "restricted"
        })
        .map(|mode| format!("{}: Pod Security {mode} is not restricted", namespace.id()))
        .collect()
}

fn is_default_deny(policy: &Manifest) -> bool {
    let spec = &policy.doc["spec"];
    match policy.kind() {
        "NetworkPolicy" => {
            spec["podSelector"] == json!({})
                && strings(&spec["policyTypes"]) == ["Ingress", "Egress"]
                && spec.get("ingress").is_none()
                && spec.get("egress").is_none()
        }
        // Cilium: an empty rule selects the endpoints for enforcement and allows nothing.
        "CiliumNetworkPolicy" => {
            spec["endpointSelector"] == json!({})
                && spec["ingress"] == json!([{}])
                && spec["egress"] == json!([{}])
        }
        _ => false,
    }
}

fn default_deny_violations(manifests: &[Manifest]) -> Vec<String> {
    let mut violations = Vec::new();
    for namespace in NAMESPACES {
        for kind in ["NetworkPolicy", "CiliumNetworkPolicy"] {
            let denied = of_kind(manifests, kind)
                .any(|policy| policy.namespace() == namespace && is_default_deny(policy));
            if !denied {
                violations.push(format!("{namespace}: no default-deny {kind}"));
            }
        }
    }
    violations
}

/// Every resource that creates pods or adds containers to one, as `group/resource`: a kind the
/// webhooks do not intercept would be a way around them.
const WORKLOAD_RESOURCES: [&str; 9] = [
    "/pods",
    "/pods/ephemeralcontainers",
    "/replicationcontrollers",
    "apps/deployments",
    "apps/statefulsets",
    "apps/daemonsets",
    "apps/replicasets",
    "batch/jobs",
    "batch/cronjobs",
];

fn webhook_violations(configuration: &Manifest) -> Vec<String> {
    let mut violations = Vec::new();
    for webhook in configuration.doc["webhooks"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let id = format!("{}: {}", configuration.id(), webhook["name"]);
        let excluded = webhook["namespaceSelector"]["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|expression| {
                expression["key"] == "kubernetes.io/metadata.name"
                    && expression["operator"] == "NotIn"
            })
            .map(|expression| strings(&expression["values"]))
            .unwrap_or_default();
        let intercepted: Vec<String> = webhook["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|rule| {
                let operations = strings(&rule["operations"]);
                operations.contains(&"CREATE") && operations.contains(&"UPDATE")
            })
            .flat_map(|rule| {
                let resources = strings(&rule["resources"]);
                strings(&rule["apiGroups"])
                    .into_iter()
                    .flat_map(|group| resources.iter().map(move |r| format!("{group}/{r}")))
                    .collect::<Vec<_>>()
            })
            .collect();
        let missing: Vec<_> = WORKLOAD_RESOURCES
            .into_iter()
            .filter(|r| !intercepted.iter().any(|i| i == r))
            .collect();
        let every_workload = format!("intercepts every workload resource, missing {missing:?}");
        let checks = [
            (missing.is_empty(), every_workload.as_str()),
            (webhook["failurePolicy"] == "Fail", "failurePolicy Fail"),
            (webhook["sideEffects"] == "None", "sideEffects None"),
            (
                webhook["timeoutSeconds"]
                    .as_u64()
                    .is_some_and(|seconds| (1..=10).contains(&seconds)),
                "a timeout of at most 10 s",
            ),
            (
                excluded.contains(&"kube-system")
                    && excluded.contains(&"immerse-services")
                    && excluded.len() == 2,
                "leaves out kube-system and its own namespace, nothing more",
            ),
        ];
        violations.extend(
            checks
                .into_iter()
                .filter(|(ok, _)| !ok)
                .map(|(_, what)| format!("{id}: {what}")),
        );
    }
    violations
}

fn deployment<'a>(manifests: &'a [Manifest], namespace: &str, name: &str) -> &'a Manifest {
    of_kind(manifests, "Deployment")
        .find(|m| m.namespace() == namespace && m.name() == name)
        .unwrap_or_else(|| panic!("no Deployment {namespace}/{name}"))
}

#[test]
fn every_deployment_is_hardened_and_has_a_disruption_budget() {
    let manifests = manifests();
    let deployments: Vec<_> = of_kind(&manifests, "Deployment").collect();
    assert_eq!(
        deployments.len(),
        6,
        "registry, attestation, issuer, verifier, wallet, admission"
    );
    let violations: Vec<_> = deployments
        .iter()
        .flat_map(|d| deployment_violations(d))
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");
    for d in deployments {
        let labels = &d.doc["spec"]["template"]["metadata"]["labels"];
        let budgeted = of_kind(&manifests, "PodDisruptionBudget").any(|pdb| {
            pdb.namespace() == d.namespace()
                && pdb.doc["spec"]["selector"]["matchLabels"]
                    .as_object()
                    .is_some_and(|wanted| wanted.iter().all(|(k, v)| labels[k] == *v))
        });
        assert!(budgeted, "{}: no PodDisruptionBudget", d.id());
    }
}

#[test]
fn a_weakened_deployment_is_refused() {
    let manifests = manifests();
    let registry = deployment(&manifests, "cvm-security", "registry");
    let weakenings: [(&str, Weakening); 6] = [
        ("readOnlyRootFilesystem", |pod| {
            pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = json!(false)
        }),
        ("all capabilities dropped", |pod| {
            pod["containers"][0]["securityContext"]["capabilities"]["add"] = json!(["NET_ADMIN"])
        }),
        ("readinessProbe", |pod| {
            pod["containers"][0]["readinessProbe"] = json!({"tcpSocket": {"port": 8700}})
        }),
        ("no service-account token", |pod| {
            pod["automountServiceAccountToken"] = json!(true)
        }),
        ("resources.limits.memory", |pod| {
            pod["containers"][0]["resources"]["limits"] = json!({"cpu": "1"})
        }),
        ("by digest", |pod| {
            pod["containers"][0]["image"] = json!("ghcr.io/immerse/immerse:latest")
        }),
    ];
    for (expected, weaken) in weakenings {
        let mut doc = registry.doc.clone();
        weaken(&mut doc["spec"]["template"]["spec"]);
        let weakened = Manifest {
            file: registry.file.clone(),
            doc,
        };
        let violations = deployment_violations(&weakened);
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{expected}: {violations:?}"
        );
    }
    let mut doc = registry.doc.clone();
    doc["spec"]["replicas"] = json!(1);
    let single = Manifest {
        file: registry.file.clone(),
        doc,
    };
    assert!(!deployment_violations(&single).is_empty());
}

#[test]
fn every_namespace_is_restricted_and_denies_by_default() {
    let manifests = manifests();
    let namespaces: Vec<_> = of_kind(&manifests, "Namespace").collect();
    let mut names: Vec<_> = namespaces.iter().map(|n| n.name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["cvm-security", "cvm-wallets", "immerse-services"]);
    let violations: Vec<_> = namespaces
        .iter()
        .flat_map(|n| namespace_violations(n))
        .chain(default_deny_violations(&manifests))
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");
    for m in &manifests {
        let namespaced = !m.namespace().is_empty();
        assert!(
            !namespaced || NAMESPACES.contains(&m.namespace()),
            "{}: outside the project's namespaces",
            m.id()
        );
    }
}

#[test]
fn a_missing_default_deny_or_a_relaxed_namespace_is_refused() {
    let manifests = manifests();
    let without_wallet_deny: Vec<_> = manifests
        .into_iter()
        .filter(|m| !(m.namespace() == "cvm-wallets" && m.name() == "default-deny"))
        .collect();
    let violations = default_deny_violations(&without_wallet_deny);
    assert_eq!(violations.len(), 2, "{violations:?}");
    let namespace = of_kind(&without_wallet_deny, "Namespace")
        .next()
        .expect("a namespace");
    let mut doc = namespace.doc.clone();
    doc["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = json!("baseline");
    let relaxed = Manifest {
        file: namespace.file.clone(),
        doc,
    };
    assert_eq!(namespace_violations(&relaxed).len(), 1);
}

#[test]
fn wallets_run_in_sev_snp_with_an_attester_bound_token() {
    let manifests = manifests();
    let runtime = of_kind(&manifests, "RuntimeClass")
        .find(|r| r.name() == SNP_RUNTIME_CLASS)
        .expect("the SEV-SNP RuntimeClass");
    assert_eq!(runtime.doc["handler"], SNP_RUNTIME_CLASS);
    let snp_nodes = &runtime.doc["scheduling"]["nodeSelector"];
    assert!(snp_nodes.as_object().is_some_and(|s| !s.is_empty()));
    let wallets: Vec<_> = of_kind(&manifests, "Deployment")
        .filter(|d| d.namespace() == "cvm-wallets")
        .collect();
    assert!(!wallets.is_empty());
    let attester_id = deployment(&manifests, "cvm-security", "attestation").doc["spec"]["template"]
        ["spec"]["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|env| env["name"] == "IMMERSE_ATTESTER_ID")
        .map(|env| env["value"].clone())
        .expect("the attester id");
    for wallet in wallets {
        let pod = &wallet.doc["spec"]["template"]["spec"];
        assert_eq!(
            pod["runtimeClassName"],
            SNP_RUNTIME_CLASS,
            "{}",
            wallet.id()
        );
        assert_eq!(pod["nodeSelector"], *snp_nodes, "{}", wallet.id());
        let audiences: Vec<_> = pod["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|v| v["projected"]["sources"].as_array().into_iter().flatten())
            .filter_map(|source| source.get("serviceAccountToken"))
            .map(|token| token["audience"].clone())
            .collect();
        assert_eq!(
            audiences,
            std::slice::from_ref(&attester_id),
            "{}",
            wallet.id()
        );
    }
}

#[test]
fn softhsm_tokens_are_mounted_only_by_their_owner() {
    let manifests = manifests();
    let claims: Vec<_> = of_kind(&manifests, "PersistentVolumeClaim")
        .filter_map(|pvc| {
            let owner = pvc.doc["metadata"]["labels"]["immerse.dev/softhsm-token-of"].as_str()?;
            Some((pvc.namespace(), pvc.name(), owner))
        })
        .collect();
    let security_owners: Vec<_> = claims
        .iter()
        .filter(|(namespace, ..)| *namespace == "cvm-security")
        .map(|(.., owner)| *owner)
        .collect();
    assert_eq!(security_owners, ["attestation", "registry"]);
    for (namespace, claim, owner) in claims {
        let mounters: Vec<_> = of_kind(&manifests, "Deployment")
            .filter(|d| {
                d.namespace() == namespace
                    && d.doc["spec"]["template"]["spec"]["volumes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|v| v["persistentVolumeClaim"]["claimName"] == claim)
            })
            .map(Manifest::name)
            .collect();
        assert_eq!(mounters, [owner], "{namespace}/{claim}");
    }
}

#[test]
fn rbac_is_least_privilege() {
    let manifests = manifests();
    for role in of_kind(&manifests, "ClusterRole").chain(of_kind(&manifests, "Role")) {
        for rule in role.doc["rules"].as_array().into_iter().flatten() {
            for field in ["apiGroups", "resources", "verbs"] {
                assert!(
                    !strings(&rule[field]).contains(&"*"),
                    "{}: wildcard {field}",
                    role.id()
                );
            }
            if strings(&rule["resources"]).contains(&"secrets") {
                // The admission webhook reads whichever imagePullSecrets a pod names, so its
                // ClusterRole (pinned below) is the one rule on secrets without names.
                assert!(
                    (!strings(&rule["resourceNames"]).is_empty()
                        || role.name() == "immerse-admission")
                        && strings(&rule["verbs"]) == ["get"],
                    "{}: secrets only by name, read only",
                    role.id()
                );
            }
        }
    }
    let admission_roles: Vec<_> = of_kind(&manifests, "ClusterRoleBinding")
        .chain(of_kind(&manifests, "RoleBinding"))
        .filter(|binding| {
            binding.doc["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["name"] == "admission" && s["namespace"] == "immerse-services")
        })
        .map(|binding| binding.doc["roleRef"]["name"].clone())
        .collect();
    assert_eq!(admission_roles, [json!("immerse-admission")]);
    let role = of_kind(&manifests, "ClusterRole")
        .find(|r| r.name() == "immerse-admission")
        .expect("the admission ClusterRole");
    assert_eq!(
        role.doc["rules"],
        json!([
            {"apiGroups": ["immerse.dev"], "resources": ["imagepolicies"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
        ])
    );
    let attestation_roles: Vec<_> = of_kind(&manifests, "ClusterRoleBinding")
        .chain(of_kind(&manifests, "RoleBinding"))
        .filter(|binding| {
            binding.doc["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["name"] == "attestation" && s["namespace"] == "cvm-security")
        })
        .map(|binding| binding.doc["roleRef"]["name"].clone())
        .collect();
    assert_eq!(attestation_roles.len(), 1);
    let role = of_kind(&manifests, "ClusterRole")
        .find(|r| r.doc["metadata"]["name"] == attestation_roles[0])
        .expect("the attestation ClusterRole");
    assert_eq!(
        role.doc["rules"],
        json!([{"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]}])
    );
}

#[test]
fn no_plain_secret_and_webhooks_fail_closed() {
    let manifests = manifests();
    let plain: Vec<_> = of_kind(&manifests, "Secret").map(Manifest::id).collect();
    assert!(plain.is_empty(), "plain Secrets: {plain:?}");
    assert!(of_kind(&manifests, "SealedSecret").count() >= 6);
    let configurations: Vec<_> = of_kind(&manifests, "ValidatingWebhookConfiguration")
        .chain(of_kind(&manifests, "MutatingWebhookConfiguration"))
        .collect();
    assert_eq!(configurations.len(), 2);
    let violations: Vec<_> = configurations
        .iter()
        .flat_map(|c| webhook_violations(c))
        .collect();
    assert!(violations.is_empty(), "{violations:#?}");

    let mut doc = configurations[0].doc.clone();
    doc["webhooks"][0]["failurePolicy"] = json!("Ignore");
    doc["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]["values"] =
        json!(["kube-system", "immerse-services", "cvm-wallets"]);
    doc["webhooks"][0]["rules"][0]["resources"] = json!(["pods"]);
    let opened = Manifest {
        file: configurations[0].file.clone(),
        doc,
    };
    let violations = webhook_violations(&opened);
    assert_eq!(violations.len(), 3, "{violations:#?}");
    assert!(
        violations
            .iter()
            .any(|v| v
                .contains(r#"missing ["/pods/ephemeralcontainers", "/replicationcontrollers"]"#)),
        "{violations:#?}"
    );
}

#[test]
fn the_committed_crd_is_the_generated_one() {
    let committed = std::fs::read_to_string(deploy_dir().join("admission/imagepolicy-crd.yaml"))
        .expect("deploy/admission/imagepolicy-crd.yaml");
    let generated = immerse_policy::crd_yaml().expect("the CRD serializes");
    assert!(
        committed == generated,
        "deploy/admission/imagepolicy-crd.yaml is stale: regenerate it with \
         `immerse admission crd > deploy/admission/imagepolicy-crd.yaml`"
    );
}

#[test]
fn shipped_policies_compile_and_govern_the_image_in_every_namespace() {
    let policies = immerse_policy::PolicySet::load_dir(&deploy_dir().join("admission/policies"))
        .expect("the shipped ImagePolicies compile");
    let manifests = manifests();
    for namespace in of_kind(&manifests, "Namespace") {
        let labels = namespace.doc["metadata"]["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        let governing: Vec<_> = policies
            .matching("ghcr.io/immerse/immerse", &labels)
            .into_iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(governing, ["immerse-release"], "{}", namespace.id());
    }
    let release = &policies.policies[0];
    assert_eq!(release.mode, immerse_policy::spec::Mode::Enforce);
    let provenance = &release.attestations[0];
    assert_eq!(provenance.predicate_type, "https://slsa.dev/provenance/v1");
    assert_eq!(provenance.source_uri, "github.com/immerse/immerse");
    // The builder and signer the release workflow is: its path in this repository.
    let workflow =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.github/workflows/release.yml");
    assert!(workflow.is_file(), "{}", workflow.display());
    assert_eq!(
        provenance.builder_ids,
        ["https://github.com/immerse/immerse/.github/workflows/release.yml"]
    );
    let Some(immerse_policy::policy::Signer::Keyless(identity)) =
        release.authorities.first().map(|a| &a.signer)
    else {
        panic!("the release policy trusts the workflow's keyless identity");
    };
    let workflow_at =
        |r: &str| format!("https://github.com/immerse/immerse/.github/workflows/release.yml@{r}");
    assert!(identity.identity.matches(&workflow_at("refs/tags/v0.1.0")));
    for untrusted in [
        "refs/heads/main",
        "refs/tags/v0.1.0-rc.1",
        "refs/pull/1/merge",
    ] {
        assert!(
            !identity.identity.matches(&workflow_at(untrusted)),
            "{untrusted}"
        );
    }
    assert!(
        identity
            .issuer
            .matches("https://token.actions.githubusercontent.com")
    );
}

#[test]
fn the_admission_webhook_is_deployed_and_reads_the_cluster_policies() {
    for overlay in ["dev", "prod"] {
        let path = deploy_dir().join(format!("overlays/{overlay}/kustomization.yaml"));
        let kustomization: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&path).expect("readable"))
                .expect("YAML");
        assert!(
            strings(&kustomization["resources"]).contains(&"../../admission"),
            "{}: no ../../admission",
            path.display()
        );
    }
    let manifests = manifests();
    let admission = deployment(&manifests, "immerse-services", "admission");
    let pod = &admission.doc["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args = strings(&container["args"]);
    let after = |flag: &str| {
        args.iter()
            .position(|a| *a == flag)
            .and_then(|i| args.get(i + 1).copied())
            .unwrap_or_else(|| panic!("{}: no {flag} value", admission.id()))
    };
    assert_eq!(args[..2], ["admission", "serve"]);
    assert!(args.contains(&"--cluster-policies"), "{args:?}");
    let port = container["ports"][0]["containerPort"]
        .as_u64()
        .expect("port");
    assert_eq!(after("--listen"), format!("0.0.0.0:{port}"));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(container[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
        assert_eq!(
            container[probe]["httpGet"]["port"], container["ports"][0]["name"],
            "{probe}"
        );
    }
    // Every file the arguments name is on a mounted volume.
    for flag in ["--tls-cert", "--tls-key", "--trusted-root"] {
        let file = after(flag);
        let mounted = container["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| {
                m["mountPath"]
                    .as_str()
                    .is_some_and(|dir| file.starts_with(&format!("{dir}/")))
            });
        assert!(mounted, "{flag} {file} is on no mounted volume");
    }
}
