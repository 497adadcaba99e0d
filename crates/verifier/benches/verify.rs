//! Presentations verified per second over HTTP and their latency, beside the raw ES256 verify and
//! ECDH-ES decrypt rates measured in the same run.
//!
//! The world of the end-to-end tests (`tests/common`) runs on 127.0.0.1: a Key Registry with the
//! issuer's key, the issuer's status list route, and the verifier with its store in SQLite in a
//! temporary directory. Each client is a relying party and a wallet at once: it creates a request
//! (`POST /v1/requests`), fetches the request object (`POST /request/{id}`), presents one SD-JWT VC
//! with a fresh KB-JWT for that request's nonce, and posts it as a `direct_post.jwt` JWE
//! (`POST /response/{id}`), which the verifier decrypts and validates (registry key lookup,
//! signatures, disclosures, KB-JWT, DCQL, status). The wallet reads the request object without
//! checking its signature (a wallet's cost, not the verifier's). Clients and verifier share the
//! machine's cores, so the rate is what one host sustains for both sides.
//!
//! A presentation costs the verifier at least two ES256 verifies (issuer JWT, KB-JWT) and one
//! ECDH-ES decryption; the bound printed is what the raw rates of those allow on all cores, and
//! the fraction is how much of it the whole HTTP flow reaches.
//!
//! `cargo bench -p immerse-verifier --bench verify` (IMMERSE_BENCH_REQUESTS, default 1000;
//! IMMERSE_BENCH_CLIENTS, default 8; at most 60 s).
#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{API_TOKEN, Options, World, default_query, default_selection};
use immerse_jose::jwe::{self, ContentEncryption, DecryptionKey, KeyManagement, Policy};
use immerse_jose::jws::{self, SigningHeader};
use immerse_jose::{Curve, PublicJwk, Signer, SoftwareSigner, base64url};
use immerse_sd_jwt::{KeyBindingInput, Limits, present};
use immerse_store::Store;
use serde_json::{Map, Value, json};

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

/// `count` runs of `operation` spread over `threads` OS threads; operations per second.
fn rate(threads: usize, count: usize, operation: impl Fn() + Sync) -> f64 {
    let per_thread = count.div_ceil(threads);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..per_thread {
                    operation();
                }
            });
        }
    });
    (per_thread * threads) as f64 / started.elapsed().as_secs_f64()
}

/// The raw rates, with the same library calls the verifier makes: ES256 JWS verification
/// (`jws::verify_compact`) and ECDH-ES P-256 + A128GCM decryption (`DecryptionKey::decrypt`).
async fn raw_rates(threads: usize) -> (f64, f64) {
    let signer = SoftwareSigner::generate().expect("key");
    let token = jws::sign_compact(&signer, &SigningHeader::new("kb+jwt"), b"{\"nonce\":\"n\"}")
        .await
        .expect("JWS");
    let key = signer.public_jwk().clone();
    let verify = rate(threads, RAW_OPERATIONS, || {
        jws::verify_compact(&token, &jws::Validation::new("kb+jwt"), &key).expect("verifies");
    });
    let recipient = DecryptionKey::generate(Curve::P256).expect("ECDH key");
    let message = jwe::encrypt_compact(
        b"{\"vp_token\":{}}",
        recipient.public_jwk(),
        KeyManagement::EcdhEs,
        ContentEncryption::A128Gcm,
        &Map::new(),
    )
    .expect("JWE");
    let policy = Policy {
        key_management: &[KeyManagement::EcdhEs],
        content_encryption: ContentEncryption::ALL,
    };
    let decrypt = rate(threads, RAW_OPERATIONS, || {
        recipient.decrypt(&message, &policy).expect("decrypts");
    });
    (verify, decrypt)
}

/// The payload of a compact JWS, unverified (the wallet's signature check is not measured).
fn payload(token: &str) -> Map<String, Value> {
    let part = token.split('.').nth(1).expect("payload part");
    serde_json::from_slice(&base64url::decode(part, "payload").expect("base64url")).expect("JSON")
}

/// One presentation end to end; returns the latency of the whole flow and of the response.
async fn one_presentation(world: &World, sd_jwt: &immerse_sd_jwt::SdJwt) -> (Duration, Duration) {
    let started = Instant::now();
    let created: Value = world
        .http
        .post(format!("{}/v1/requests", world.base))
        .bearer_auth(API_TOKEN)
        .json(&json!({"dcql_query": default_query()}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("created JSON");
    let request_uri = created["request_uri"].as_str().expect("request_uri");
    let object = world
        .http
        .post(request_uri)
        .form(&[("wallet_nonce", "bench")])
        .send()
        .await
        .expect("request object")
        .text()
        .await
        .expect("request object text");
    let claims = payload(&object);
    let text = |name: &str| claims[name].as_str().expect(name).to_owned();
    let input = KeyBindingInput {
        audience: &text("client_id"),
        nonce: &text("nonce"),
        issued_at: None,
    };
    let vp = present(
        sd_jwt,
        &default_selection(),
        Some((&world.holder, input)),
        &Limits::default(),
    )
    .await
    .expect("presents");
    let mut jwk = claims["client_metadata"]["jwks"]["keys"][0]
        .as_object()
        .expect("jwk")
        .clone();
    jwk.remove("alg");
    let recipient = PublicJwk::from_object(jwk).expect("encryption key");
    let response = json!({"vp_token": {"pid": [vp]}, "state": text("state")});
    let jwe = jwe::encrypt_compact(
        response.to_string().as_bytes(),
        &recipient,
        KeyManagement::EcdhEs,
        ContentEncryption::A128Gcm,
        &Map::new(),
    )
    .expect("encrypts");
    let sent = Instant::now();
    let answer = world
        .http
        .post(text("response_uri"))
        .form(&[("response", jwe.as_str())])
        .send()
        .await
        .expect("response");
    let status = answer.status();
    let body = answer.text().await.expect("response body");
    let response_latency = sent.elapsed();
    assert!(status.is_success(), "presentation refused: {status} {body}");
    (started.elapsed(), response_latency)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let requests = setting("IMMERSE_BENCH_REQUESTS", 1000);
    let clients = setting("IMMERSE_BENCH_CLIENTS", 8);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("verifier.db").display()
    ))
    .await
    .expect("store");
    let world = std::sync::Arc::new(
        World::start(Options {
            store: Some(store),
            ..Options::default()
        })
        .await,
    );
    let sd_jwt = std::sync::Arc::new(world.issue(&world.credential()).await);

    let (verify_rate, decrypt_rate) = raw_rates(cores).await;
    // Seconds of all cores per presentation at the floor: two verifies and one decryption.
    let bound = 1.0 / (2.0 / verify_rate + 1.0 / decrypt_rate);

    // One presentation first, so that caches (registry statement, status list) are warm.
    one_presentation(&world, &sd_jwt).await;

    let deadline = Instant::now() + TIME_LIMIT;
    let per_client = requests.div_ceil(clients);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (world, sd_jwt) = (world.clone(), sd_jwt.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    if Instant::now() > deadline {
                        break;
                    }
                    latencies.push(one_presentation(&world, &sd_jwt).await);
                }
                latencies
            })
        })
        .collect();
    let mut flows = Vec::new();
    let mut responses = Vec::new();
    for task in tasks {
        for (flow, response) in task.await.expect("client task") {
            flows.push(flow);
            responses.push(response);
        }
    }
    let elapsed = started.elapsed();
    flows.sort();
    responses.sort();
    let presentations = flows.len() as f64 / elapsed.as_secs_f64();
    println!("ES256 verify (jws::verify_compact), {cores} threads: {verify_rate:.0}/s");
    println!("ECDH-ES P-256 + A128GCM decrypt (jwe), {cores} threads: {decrypt_rate:.0}/s");
    println!("bound at 2 verifies + 1 ECDH-ES per presentation: {bound:.0} presentations/s");
    println!(
        "HTTP, {clients} clients, {} presentations in {:.1} s: {presentations:.1} presentations/s \
         ({:.1}% of the bound)",
        flows.len(),
        elapsed.as_secs_f64(),
        100.0 * presentations / bound,
    );
    println!(
        "latency, whole flow (create, request object, response): p50 {:.1} ms, p99 {:.1} ms",
        milliseconds(percentile(&flows, 0.50)),
        milliseconds(percentile(&flows, 0.99)),
    );
    println!(
        "latency, POST /response (decrypt and verify): p50 {:.1} ms, p99 {:.1} ms",
        milliseconds(percentile(&responses, 0.50)),
        milliseconds(percentile(&responses, 0.99)),
    );
}
