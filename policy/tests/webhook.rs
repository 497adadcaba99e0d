//! The running webhook over HTTPS, judged on images in a real registry: what it admits, what
//! it pins, and what it refuses, each refusal with its reason.

mod support;

use std::time::{Duration, Instant};

use immerse_jose::SoftwareSigner;
use immerse_policy::AdmissionConfig;
use serde_json::{Value, json};
use support::*;

fn message(response: &Value) -> String {
    response["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn assert_denied(response: &Value, needle: &str) {
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403, "{response}");
    let message = message(response);
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
}

#[tokio::test]
async fn a_signed_image_with_trusted_provenance_is_admitted_and_pinned() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    let (_, verified) = hook
        .publish(
            "1.4.0",
            b"good image",
            Some(&hook.release),
            Some((BUILDER, SOURCE)),
        )
        .await;
    let (_, name) = hook.repo();

    let object = deployment("apps", &format!("{name}:1.4.0"), None);
    let (status, mutated) = hook.send("/mutate", &review(&object)).await;
    assert_eq!(status, 200);
    assert_eq!(mutated["allowed"], true, "{mutated}");
    assert_eq!(mutated["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    let pinned = apply_patch(&object, &mutated);
    let image = pinned["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert_eq!(image, verified, "pinned to the verified digest");

    let (_, validated) = hook.send("/validate", &review(&pinned)).await;
    assert_eq!(validated["allowed"], true, "{validated}");
    assert!(validated.get("patch").is_none_or(Value::is_null));

    let counts = counts(&hook.metrics().await);
    assert_eq!(counts["immerse_admission_admitted_total"], 2.0);
    assert_eq!(
        counts["immerse_admission_cache_total{result=\"hit\"}"], 1.0,
        "the second review reuses the first verification"
    );
}

#[tokio::test]
async fn an_unsigned_image_is_denied() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    let (_, image) = hook.publish("1", b"unsigned", None, None).await;
    let response = hook.validate("apps", &image, None).await;
    assert_denied(&response, "signed by 0 of the 1 required authorities");
    assert_denied(&response, "policy release");
    assert_denied(&response, &image);
}

#[tokio::test]
async fn an_image_signed_by_another_key_is_denied() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    let stranger = SoftwareSigner::generate().unwrap();
    let (_, image) = hook
        .publish("1", b"other key", Some(&stranger), Some((BUILDER, SOURCE)))
        .await;
    let response = hook.validate("apps", &image, None).await;
    assert_denied(&response, "signed by 0 of the 1 required authorities");
    assert_denied(&response, "release-key");
}

#[tokio::test]
async fn a_signed_image_without_provenance_is_denied() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    let (_, image) = hook
        .publish("1", b"no provenance", Some(&hook.release), None)
        .await;
    let response = hook.validate("apps", &image, None).await;
    assert_denied(&response, "attestation \"provenance\" not satisfied");
}

#[tokio::test]
async fn provenance_from_an_untrusted_builder_or_another_source_is_denied() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    for (layer, builder, source, named) in [
        (
            &b"untrusted builder"[..],
            UNTRUSTED_BUILDER,
            SOURCE,
            "adhoc.yml",
        ),
        (b"other source", BUILDER, OTHER_SOURCE, "someone/else"),
    ] {
        let (_, image) = hook
            .publish("1", layer, Some(&hook.release), Some((builder, source)))
            .await;
        let response = hook.validate("apps", &image, None).await;
        assert_denied(&response, "attestation \"provenance\" not satisfied");
        assert_denied(&response, named);
    }
}

#[tokio::test]
async fn a_confidential_namespace_requires_the_sev_snp_runtime_class() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    let (_, image) = hook
        .publish("1", b"wallet", Some(&hook.release), Some((BUILDER, SOURCE)))
        .await;
    for runtime in [None, Some("runc"), Some("kata-qemu")] {
        let response = hook.validate("wallets", &image, runtime).await;
        assert_denied(&response, "runtimeClassName must be one of [kata-qemu-snp]");
    }
    let response = hook
        .validate("wallets", &image, Some("kata-qemu-snp"))
        .await;
    assert_eq!(response["allowed"], true, "{response}");
}

#[tokio::test]
async fn every_container_list_is_judged_and_tags_are_denied_unpinned() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    let (_, good) = hook
        .publish(
            "good",
            b"good",
            Some(&hook.release),
            Some((BUILDER, SOURCE)),
        )
        .await;
    let (_, bad) = hook.publish("bad", b"bad", None, None).await;
    let (_, name) = hook.repo();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "apps"},
        "spec": {
            "containers": [{"name": "app", "image": good}],
            "initContainers": [{"name": "init", "image": bad}],
        }
    });
    let (_, response) = hook.send("/validate", &review(&pod)).await;
    assert_denied(&response, "container init");

    let mut debug = pod.clone();
    debug["spec"]["initContainers"] = json!([]);
    debug["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": bad}]);
    let (_, response) = hook.send("/validate", &review(&debug)).await;
    assert_denied(&response, "container debug");

    let response = hook.validate("apps", &format!("{name}:good"), None).await;
    assert_denied(&response, "is not pinned by digest");

    let busybox = "docker.io/library/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let response = hook.validate("apps", busybox, None).await;
    assert_denied(
        &response,
        "no ImagePolicy governs docker.io/library/busybox",
    );
}

#[tokio::test]
async fn an_unreachable_registry_is_denied_within_the_deadline() {
    let deadline = Duration::from_millis(1500);
    // A registry that accepts connections and never answers: only the deadline ends the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_host = silent.local_addr().unwrap().to_string();
    // And one that refuses connections at once (nothing listens on the port any more).
    let closed_host = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let extra = |host: &str, name: &str| {
        format!(
            "apiVersion: immerse.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: {name}}}\nspec:\n  images: [\"{host}/**\"]\n  authorities:\n  - name: k\n    key:\n      allowMissingTlog: true\n      publicKey: |\n{}\n",
            key_pem(&SoftwareSigner::generate().unwrap())
                .lines()
                .map(|l| format!("        {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    let Some(hook) = Webhook::start_with(
        "enforce",
        AdmissionConfig {
            deadline,
            ..AdmissionConfig::default()
        },
        Some(format!(
            "{}---\n{}",
            extra(&silent_host, "silent"),
            extra(&closed_host, "closed")
        )),
    )
    .await
    else {
        return;
    };
    let digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let started = Instant::now();
    let response = hook
        .validate("apps", &format!("{silent_host}/app@{digest}"), None)
        .await;
    let waited = started.elapsed();
    assert_denied(&response, "did not finish within 1500 ms");
    assert!(
        waited < deadline + Duration::from_secs(2),
        "answered after {waited:?}"
    );

    let started = Instant::now();
    let response = hook
        .validate("apps", &format!("{closed_host}/app@{digest}"), None)
        .await;
    assert_denied(&response, "could not be verified: registry");
    assert!(
        started.elapsed() < deadline,
        "a refused connection fails fast"
    );
    drop(silent);
    let counts = counts(&hook.metrics().await);
    assert_eq!(
        counts["immerse_admission_denied_total{reason=\"deadline\"}"],
        1.0
    );
    assert_eq!(
        counts["immerse_admission_denied_total{reason=\"unavailable\"}"],
        1.0
    );
}

#[tokio::test]
async fn warn_mode_admits_with_the_failure_as_a_warning() {
    let Some(hook) = Webhook::start("warn").await else {
        return;
    };
    let (_, image) = hook.publish("1", b"unsigned, warn", None, None).await;
    let response = hook.validate("apps", &image, None).await;
    assert_eq!(response["allowed"], true, "{response}");
    let warnings = response["warnings"].as_array().expect("warnings");
    assert!(
        warnings[0].as_str().unwrap().contains("warn mode: image"),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn malformed_reviews_and_objects_are_refused() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    let resp = hook
        .http
        .post(format!("{}/validate", hook.url))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let (status, _) = hook
        .send(
            "/validate",
            &json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}),
        )
        .await;
    assert_eq!(status, 400, "a review without a request");

    let mut object = deployment("apps", "x", None);
    object["spec"]["template"]["spec"]["containers"] = json!({"not": "a list"});
    let (_, response) = hook.send("/validate", &review(&object)).await;
    assert_denied(&response, "malformed object");

    let response = hook.validate("elsewhere", "x", None).await;
    assert_denied(&response, "namespace elsewhere: labels unavailable");
}

#[tokio::test]
async fn a_new_signature_is_seen_once_the_negative_cache_expires() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    let (digest, image) = hook.publish("1", b"signed later", None, None).await;
    let object = deployment("apps", &image, None);
    let (client, _) = hook.repo();
    let repo = client.repository("apps/web").unwrap();
    let (_, first) = hook.send("/validate", &review(&object)).await;
    assert_denied(&first, "signed by 0");
    hook.sign(&repo, &digest, &hook.release).await;
    hook.attest(&repo, &digest, BUILDER, SOURCE, &hook.release)
        .await;
    let (_, cached) = hook.send("/validate", &review(&object)).await;
    assert_denied(&cached, "signed by 0");
    // The negative cache holds a verdict for 10 s by default; bounded wait, 20 s at most.
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (_, later) = hook.send("/validate", &review(&object)).await;
        if later["allowed"] == true {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still denied after the negative cache expired: {later}"
        );
    }
}

#[tokio::test]
async fn concurrent_reviews_of_one_image_share_one_verification() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    let (_, image) = hook
        .publish(
            "1",
            b"popular",
            Some(&hook.release),
            Some((BUILDER, SOURCE)),
        )
        .await;
    let body = review(&deployment("apps", &image, None));
    let reviews = (0..8).map(|_| hook.send("/validate", &body));
    for (_, response) in futures_join(reviews).await {
        assert_eq!(response["allowed"], true, "{response}");
    }
    let counts = counts(&hook.metrics().await);
    assert_eq!(
        counts["immerse_admission_cache_total{result=\"miss\"}"], 1.0,
        "one verification however many reviews ask"
    );
    let shared = counts
        .get("immerse_admission_cache_total{result=\"joined\"}")
        .copied()
        .unwrap_or(0.0)
        + counts
            .get("immerse_admission_cache_total{result=\"hit\"}")
            .copied()
            .unwrap_or(0.0);
    assert_eq!(shared, 7.0);
}

/// Runs the futures concurrently on this task and returns their outputs in order.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("ready")).collect()
}

#[tokio::test]
async fn a_policy_change_re_runs_every_check() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    let (_, image) = hook
        .publish(
            "1",
            b"policy change",
            Some(&hook.release),
            Some((BUILDER, SOURCE)),
        )
        .await;
    let body = review(&deployment("apps", &image, None));
    let (_, first) = hook.send("/validate", &body).await;
    assert_eq!(first["allowed"], true, "{first}");

    // The same policy, now requiring provenance from a tag of v2: the cached success must not
    // carry over to it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("release.yaml"),
        release_policy(&hook.registry.host(), &key_pem(&hook.release), "enforce")
            .replace("sourceVersionedTag: v1", "sourceVersionedTag: v2"),
    )
    .unwrap();
    hook.state
        .admission
        .replace_policies(immerse_policy::PolicySet::load_dir(dir.path()).unwrap());
    let (_, second) = hook.send("/validate", &body).await;
    assert_denied(&second, "attestation \"provenance\" not satisfied");
    let counts = counts(&hook.metrics().await);
    assert_eq!(
        counts["immerse_admission_cache_total{result=\"miss\"}"],
        2.0
    );
}

#[tokio::test]
async fn every_spelling_of_a_docker_hub_image_is_governed_by_its_policy() {
    // The runtime pulls docker.io/library/nginx for each of these names: none may slip past
    // the enforce policy into the "unmatched: allow" door. Unpinned, so each is judged (and
    // denied) without reaching Docker Hub.
    let policy = format!(
        "apiVersion: immerse.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: hub}}\nspec:\n  images: [\"docker.io/library/nginx\"]\n  mode: enforce\n  authorities:\n  - name: k\n    key:\n      allowMissingTlog: true\n      publicKey: |\n{}\n",
        key_pem(&SoftwareSigner::generate().unwrap())
            .lines()
            .map(|l| format!("        {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let config = AdmissionConfig {
        unmatched: immerse_policy::admission::Unmatched::Allow,
        ..Default::default()
    };
    let Some(hook) = Webhook::start_with("enforce", config, Some(policy)).await else {
        return;
    };
    for image in [
        "nginx:1.27",
        "docker.io/nginx:1.27",
        "docker.io/library/nginx:1.27",
        "index.docker.io/nginx:1.27",
        "index.docker.io/library/nginx:1.27",
        "Docker.IO/library/nginx:1.27",
    ] {
        let response = hook.validate("apps", image, None).await;
        assert_denied(&response, "is not pinned by digest");
        assert!(
            message(&response).contains("docker.io/library/nginx@sha256:"),
            "{image}: {response}"
        );
    }
    // An image no policy governs is still let through by this configuration.
    let response = hook
        .validate("apps", "docker.io/library/redis:7", None)
        .await;
    assert_eq!(response["allowed"], true, "{response}");
}

#[tokio::test]
async fn a_cached_verdict_does_not_outlive_the_revocation_of_its_registry_key() {
    use immerse_jose::Signer as _;
    use immerse_registry::client::{ClientOptions, RegistryClient};
    use immerse_registry::model::{RevocationReason, Role};
    use immerse_registry::{AdminKey, NewEntity, Registry};

    const REGISTRY_ID: &str = "https://registry.test";
    const SIGNER: &str = "https://release.immerse.test";
    let root = std::sync::Arc::new(SoftwareSigner::generate().unwrap());
    let registry = Registry::new(
        immerse_store::Store::connect_in_memory().await.unwrap(),
        root.clone(),
        immerse_registry::Config::new(REGISTRY_ID),
    );
    let signer = SoftwareSigner::generate().unwrap();
    registry
        .create_entity(
            "admin:test",
            NewEntity {
                id: SIGNER.into(),
                role: Role::Issuer,
                display_name: "release signer".into(),
                allowances: Default::default(),
            },
        )
        .await
        .unwrap();
    let key: AdminKey =
        serde_json::from_value(json!({"jwk": signer.public_jwk(), "alg": "ES256"})).unwrap();
    let record = registry.add_key("admin:test", SIGNER, key).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let registry_url = format!("http://{}", listener.local_addr().unwrap());
    let app = immerse_registry::http::router(registry.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    // A client that asks the registry on every lookup: its freshness window is zero, so the
    // webhook may not admit on a revoked key even once.
    let client = RegistryClient::new(
        registry_url,
        REGISTRY_ID,
        root.public_jwk().clone(),
        ClientOptions {
            refresh_after: Duration::ZERO,
            ..Default::default()
        },
    )
    .unwrap();
    let engine = immerse_policy::EngineConfig {
        key_registry: Some(client),
        ..Default::default()
    };
    assert!(
        engine.success_ttl >= Duration::from_secs(60),
        "the cache is on"
    );

    let Some(hook) =
        Webhook::start_with_engine("enforce", AdmissionConfig::default(), None, engine).await
    else {
        return;
    };
    let host = hook.registry.host();
    let policy = format!(
        "apiVersion: immerse.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: by-registry}}\nspec:\n  images: [\"{host}/signed/*\"]\n  authorities:\n  - name: release-signer\n    registryEntity: {{entity: \"{SIGNER}\", role: issuer, allowMissingTlog: true}}\n"
    );
    let policies = immerse_policy::check::parse_manifests(&policy).unwrap();
    let documents: Vec<immerse_policy::ImagePolicy> = policies
        .into_iter()
        .map(|document| serde_json::from_value(document).unwrap())
        .collect();
    hook.state
        .admission
        .replace_policies(immerse_policy::PolicySet::compile(&documents).unwrap());
    let (client, _) = hook.repo();
    let repo = client.repository("signed/web").unwrap();
    let digest = hook.push(&repo, "1", b"signed through the registry").await;
    hook.sign(&repo, &digest, &signer).await;
    let image = format!("{host}/signed/web@{digest}");

    for _ in 0..2 {
        let response = hook.validate("apps", &image, None).await;
        assert_eq!(response["allowed"], true, "{response}");
    }
    let counts = counts(&hook.metrics().await);
    assert_eq!(counts["immerse_admission_cache_total{result=\"hit\"}"], 1.0);

    registry
        .revoke_key(
            "admin:test",
            SIGNER,
            &record.kid,
            RevocationReason::Compromised,
        )
        .await
        .unwrap();
    let response = hook.validate("apps", &image, None).await;
    assert_denied(&response, "signed by 0 of the 1 required authorities");
}

#[tokio::test]
async fn a_registry_no_policy_governs_is_never_contacted() {
    let Some(hook) = Webhook::start("enforce").await else {
        return;
    };
    // A registry nobody governs, counting the connections it is offered.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    for image in [
        format!("{host}/apps/web:1"),
        format!("{host}/apps/web@sha256:{}", "0".repeat(64)),
    ] {
        let response = hook.validate("apps", &image, None).await;
        assert_denied(&response, "no ImagePolicy governs");
    }
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the webhook connected to a registry no ImagePolicy governs"
    );
}
