//! Attestations per second and the latency of `POST /v1/attest`, beside the raw PKCS#11 (SoftHSM2)
//! ES256 sign rate measured in the same run.
//!
//! The service runs on 127.0.0.1 with its A-Key in a fresh SoftHSM2 token, a SQLite store in a
//! temporary directory, simulated SEV-SNP evidence (Genoa, RSA-4096 chain) and offline
//! service-account checking. Each client does what a wallet does: challenge, report, attest. The
//! clients share the machine's cores with the service, so the rate is what one host sustains for
//! both sides; the latency is measured around `/v1/attest` alone.
//!
//! `cargo bench -p immerse-attestation --bench attest` (IMMERSE_BENCH_REQUESTS, default 1000;
//! IMMERSE_BENCH_CLIENTS, default 8; at most 60 s).
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use immerse_attestation::identity::{ClusterIssuer, ServiceAccountVerifier};
use immerse_attestation::provider::{EvidenceProvider, SimulatedSevGuest};
use immerse_attestation::snp::simulated::{ReportFields, SimulatedAmd, Validity};
use immerse_attestation::snp::{Product, SnpPolicy, SnpVerifier, TcbVersion, expected_report_data};
use immerse_attestation::{Attester, AttesterConfig, Challenge};
use immerse_jose::jws::{SigningHeader, sign_compact};
use immerse_jose::pkcs11::{
    DEFAULT_MODULE, PinSource, Pkcs11Config, Pkcs11Signer, init_softhsm_token,
};
use immerse_jose::{PublicJwkSet, Signer, SoftwareSigner, jwt};
use immerse_store::Store;
use serde_json::{Value, json};

const ATTESTER: &str = "https://attester.bench";
const CLUSTER: &str = "https://kubernetes.default.svc";
const TIME_LIMIT: Duration = Duration::from_secs(60);

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

fn a_key(dir: &std::path::Path) -> Pkcs11Signer {
    assert!(
        std::path::Path::new(DEFAULT_MODULE).exists(),
        "this benchmark measures the A-Key in SoftHSM2: install softhsm2 ({DEFAULT_MODULE})"
    );
    let conf = init_softhsm_token(dir, "bench", "1234").expect("SoftHSM2 token");
    // SAFETY: set once, before any thread of this process loads the module.
    unsafe { std::env::set_var("SOFTHSM2_CONF", conf) };
    let pin = dir.join("pin");
    std::fs::write(&pin, "1234").expect("pin file");
    Pkcs11Signer::generate(&Pkcs11Config::softhsm(
        "bench",
        "a-key",
        PinSource::File(pin),
    ))
    .expect("A-Key")
}

/// Raw signatures per second with `clients` concurrent signers, for `count` signatures.
async fn raw_sign_rate(signer: Arc<dyn Signer>, clients: usize, count: usize) -> f64 {
    let started = Instant::now();
    let per_client = count.div_ceil(clients);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let signer = signer.clone();
            tokio::spawn(async move {
                for _ in 0..per_client {
                    signer.sign(b"benchmark message").await.expect("sign");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("signer task");
    }
    (per_client * clients) as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let requests = setting("IMMERSE_BENCH_REQUESTS", 1000);
    let clients = setting("IMMERSE_BENCH_CLIENTS", 8);
    let dir = tempfile::tempdir().expect("temporary directory");
    let a_key: Arc<dyn Signer> = Arc::new(a_key(dir.path()));
    let now = jwt::now();

    let amd = SimulatedAmd::generate(Product::Genoa, 4096).expect("simulated AMD");
    let tcb = TcbVersion::new(Product::Genoa, 0, 10, 0, 23, 25);
    let mut template = ReportFields::new(Product::Genoa, tcb);
    template.chip_id = [0x5A; 64];
    let guest =
        Arc::new(SimulatedSevGuest::new(&amd, template.clone(), Validity::LONG).expect("guest"));
    let policy = SnpPolicy::from_toml(&format!(
        "reference_measurements = [\"{}\"]",
        hex::encode(template.measurement)
    ))
    .expect("policy");

    let cluster_key = SoftwareSigner::generate().expect("cluster key");
    let issuer = ClusterIssuer::new(
        CLUSTER,
        PublicJwkSet {
            keys: vec![cluster_key.public_jwk().clone()],
        },
    );
    let claims = json!({
        "iss": CLUSTER, "aud": [ATTESTER], "sub": "system:serviceaccount:cvm-wallets:wallet",
        "iat": now, "exp": now + 3600,
        "kubernetes.io": {"namespace": "cvm-wallets", "serviceaccount": {"name": "wallet"}}
    });
    let token = sign_compact(
        &cluster_key,
        &SigningHeader::new("JWT"),
        &serde_json::to_vec(&claims).expect("claims"),
    )
    .await
    .expect("service-account token");

    let mut config = AttesterConfig::new(ATTESTER);
    config.client_ids = BTreeMap::from([("cvm-wallets/wallet".into(), "wallet".into())]);
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await
    .expect("store");
    let attester = Attester::new(
        store,
        a_key.clone(),
        config,
        SnpVerifier::new(amd.trust_anchors()),
        HashMap::from([(Product::Genoa, amd.chain())]),
        Some(policy),
        ServiceAccountVerifier::Issuer(issuer),
        Arc::new(jwt::now),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        axum::serve(listener, immerse_attestation::http::router(attester)).await
    });

    let sign_rate = raw_sign_rate(a_key.clone(), clients, 2000).await;

    let http = reqwest::Client::new();
    let deadline = Instant::now() + TIME_LIMIT;
    let per_client = requests.div_ceil(clients);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, base, guest, token) =
                (http.clone(), base.clone(), guest.clone(), token.clone());
            tokio::spawn(async move {
                let instance = SoftwareSigner::generate().expect("instance key");
                let mut latencies = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    if Instant::now() > deadline {
                        break;
                    }
                    let challenge: Challenge = serde_json::from_value(
                        http.post(format!("{base}/v1/challenge"))
                            .send()
                            .await
                            .expect("challenge")
                            .json::<Value>()
                            .await
                            .expect("challenge JSON"),
                    )
                    .expect("challenge body");
                    let report_data = expected_report_data(
                        &challenge.attestation_challenge,
                        instance.public_jwk(),
                    );
                    let request = json!({
                        "attestation_challenge": challenge.attestation_challenge,
                        "instance_key": instance.public_jwk(),
                        "service_account_token": token,
                        "evidence": guest.evidence(&report_data).expect("evidence"),
                    });
                    let sent = Instant::now();
                    let answer = http
                        .post(format!("{base}/v1/attest"))
                        .json(&request)
                        .send()
                        .await
                        .expect("attest");
                    let status = answer.status();
                    let body = answer.text().await.expect("attest body");
                    latencies.push(sent.elapsed());
                    assert!(status.is_success(), "attest failed: {status} {body}");
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!("PKCS#11 (SoftHSM2) ES256 sign, {clients} concurrent: {sign_rate:.0} signatures/s");
    println!(
        "/v1/attest, {clients} clients, {} attestations in {:.1} s: {:.1} attestations/s, p50 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
}
