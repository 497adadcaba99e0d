//! Admission reviews per second over HTTPS with a warm cache, their latency, the cold (first)
//! verification latency, and the raw ECDSA P-256 verify rate measured in the same run.
//!
//! The world of the webhook tests (`tests/support`): Debian's docker-registry on 127.0.0.1, an
//! image signed and attested (SLSA v1) by the release key in both of cosign's schemes, and the
//! webhook on TLS with the release policy. Each client sends the AdmissionReview of a pinned
//! Deployment to `/validate`, as kube-apiserver does; clients and webhook share the cores.
//!
//! A cold verification reads the signatures and attestations from the registry and checks at
//! least one signature and one provenance envelope: its cost is dominated by registry round
//! trips, not by the two ECDSA verifies, which the raw rate puts in perspective.
//!
//! `cargo bench -p immerse-policy --bench admission` (IMMERSE_BENCH_REQUESTS, default 4000;
//! IMMERSE_BENCH_CLIENTS, default 16; IMMERSE_BENCH_COLD, default 8 images; at most 60 s).
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use immerse_jose::SoftwareSigner;
use support::{BUILDER, SOURCE, Webhook, deployment, review};

const TIME_LIMIT: Duration = Duration::from_secs(60);
const RAW_OPERATIONS: usize = 4000;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// ECDSA P-256 verifications per second on one thread, with the call image verification makes
/// (`VerificationKey::verify`, OpenSSL).
async fn raw_verify_rate() -> f64 {
    let signer = SoftwareSigner::generate().expect("key");
    let message = b"{\"critical\":{\"image\":{\"docker-manifest-digest\":\"sha256:00\"}}}";
    let signature = immerse_sigstore::sign::sign_bytes(&signer, message)
        .await
        .expect("sign");
    let key = immerse_sigstore::sign::signer_key(&signer).expect("key");
    let started = Instant::now();
    for _ in 0..RAW_OPERATIONS {
        assert!(key.verify(message, &signature));
    }
    RAW_OPERATIONS as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let requests = setting("IMMERSE_BENCH_REQUESTS", 4000);
    let clients = setting("IMMERSE_BENCH_CLIENTS", 16).max(1);
    let cold_images = setting("IMMERSE_BENCH_COLD", 8).max(1);
    let Some(hook) = Webhook::start("enforce").await else {
        eprintln!("the benchmark needs Debian's docker-registry");
        std::process::exit(1);
    };
    let (client, name) = hook.repo();
    let repo = client.repository("apps/web").expect("repo");

    let mut cold = Vec::with_capacity(cold_images);
    let mut warm_image = String::new();
    for i in 0..cold_images {
        let digest = hook
            .push(&repo, &format!("v{i}"), format!("image {i}").as_bytes())
            .await;
        hook.sign(&repo, &digest, &hook.release).await;
        hook.attest(&repo, &digest, BUILDER, SOURCE, &hook.release)
            .await;
        let image = format!("{name}@{digest}");
        let body = review(&deployment("apps", &image, None));
        let started = Instant::now();
        let (_, response) = hook.send("/validate", &body).await;
        cold.push(started.elapsed());
        assert_eq!(response["allowed"], true, "{response}");
        warm_image = image;
    }
    cold.sort();

    let body = serde_json::to_vec(&review(&deployment("apps", &warm_image, None))).unwrap();
    let url = format!("{}/validate", hook.url);
    let deadline = Instant::now() + TIME_LIMIT;
    let per_client = requests.div_ceil(clients);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (http, url, body) = (hook.http.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                if Instant::now() > deadline {
                    break;
                }
                let sent = Instant::now();
                let resp = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("webhook answers");
                let bytes = resp.bytes().await.expect("body");
                latencies.push(sent.elapsed());
                assert!(
                    bytes.windows(14).any(|w| w == b"\"allowed\":true"),
                    "admitted"
                );
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let raw = raw_verify_rate().await;

    println!("admission webhook over HTTPS (TLS 1.3, HTTP/1.1 keep-alive), warm cache:");
    println!(
        "  {} reviews from {clients} clients in {:.2} s: {:.1} reviews/s",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        milliseconds(percentile(&latencies, 0.5)),
        milliseconds(percentile(&latencies, 0.99)),
        milliseconds(*latencies.last().expect("some")),
    );
    println!(
        "cold (first) verification of a review, {} images: p50 {:.1} ms, max {:.1} ms",
        cold.len(),
        milliseconds(percentile(&cold, 0.5)),
        milliseconds(*cold.last().expect("some")),
    );
    println!("raw ECDSA P-256 verify (OpenSSL, one thread): {raw:.0}/s");
}
