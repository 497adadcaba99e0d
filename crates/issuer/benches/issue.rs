//! Credentials issued per second and the latency of `POST /credential`, beside the raw ES256
//! sign/verify and ECDH-ES (P-256, A128GCM) encrypt/decrypt rates measured in the same run.
//!
//! A Key Registry and the issuer run on 127.0.0.1, the issuer with a SQLite store in a temporary
//! directory and a software ES256 key (issuer keys live in process memory by design). Each
//! client is a wallet: it redeems a pre-authorized code with its client attestation and a DPoP
//! proof, then repeats what issuance costs per credential: `POST /nonce`, and a credential
//! request with a key proof (verified by the issuer) asking for an encrypted response, which it
//! decrypts. The clients share the machine's cores with the service, so the rate is what one
//! host sustains for both sides; the latency is measured around `/credential` alone.
//!
//! `cargo bench -p immerse-issuer --bench issue` (IMMERSE_BENCH_REQUESTS, default 1000;
//! IMMERSE_BENCH_CLIENTS, default 8; at most 60 s).
use std::sync::Arc;
use std::time::{Duration, Instant};

use immerse_issuer::{
    ATTESTATION_POP_TYP, ATTESTATION_TYP, Config, CredentialConfiguration, DPOP_TYP, Issuer,
    NewOffer, PRE_AUTHORIZED_GRANT, PROOF_TYP,
};
use immerse_jose::jwe::{ContentEncryption, DecryptionKey, KeyManagement, Policy, encrypt_compact};
use immerse_jose::jws::{SigningHeader, verify_signature};
use immerse_jose::{Algorithm, Curve, Signer, SoftwareSigner, base64url, jwt};
use immerse_registry::client::{ClientOptions, RegistryClient};
use immerse_registry::model::Role;
use immerse_registry::{AdminKey, NewEntity, Registry};
use immerse_store::Store;
use serde_json::{Map, Value, json};

const REGISTRY_ID: &str = "https://registry.bench";
const ATTESTER: &str = "https://attester.bench";
const ISSUER: &str = "https://issuer.bench";
const CONFIGURATION: &str = "pid_sd_jwt";
const TIME_LIMIT: Duration = Duration::from_secs(60);
/// Each raw primitive runs this many times (or for at most one second).
const RAW_OPERATIONS: usize = 2000;
/// A payload the size of a key proof.
const PAYLOAD: &[u8] =
    br#"{"aud":"https://issuer.bench","iat":1800000000,"nonce":"n-0S6_WzA2MjAyNjExMjk"}"#;

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

/// Operations per second of `operation`, run at most `RAW_OPERATIONS` times and one second.
async fn rate<F: Future<Output = ()>>(mut operation: impl FnMut() -> F) -> f64 {
    let started = Instant::now();
    let mut done = 0usize;
    while done < RAW_OPERATIONS && started.elapsed() < Duration::from_secs(1) {
        operation().await;
        done += 1;
    }
    done as f64 / started.elapsed().as_secs_f64()
}

/// A registry on loopback with the attester's and the issuer's keys enrolled.
async fn registry(attester: &SoftwareSigner, issuer: &dyn Signer) -> RegistryClient {
    let root = Arc::new(SoftwareSigner::generate().expect("root key"));
    let registry = Registry::new(
        Store::connect_in_memory().await.expect("registry store"),
        root.clone(),
        immerse_registry::Config::new(REGISTRY_ID),
    );
    for (id, role, key) in [
        (ATTESTER, Role::Attester, attester.public_jwk()),
        (ISSUER, Role::Issuer, issuer.public_jwk()),
    ] {
        registry
            .create_entity(
                "admin:bench",
                NewEntity {
                    id: id.into(),
                    role,
                    display_name: id.into(),
                    allowances: Default::default(),
                },
            )
            .await
            .expect("entity");
        let request: AdminKey =
            serde_json::from_value(json!({"jwk": key, "alg": "ES256"})).expect("key request");
        registry
            .add_key("admin:bench", id, request)
            .await
            .expect("key");
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(
        async move { axum::serve(listener, immerse_registry::http::router(registry)).await },
    );
    RegistryClient::new(
        url,
        REGISTRY_ID,
        root.public_jwk().clone(),
        ClientOptions::default(),
    )
    .expect("registry client")
}

/// One wallet instance talking to the issuer at `base`.
struct Wallet {
    http: reqwest::Client,
    base: String,
    instance: SoftwareSigner,
    dpop: SoftwareSigner,
    response_key: DecryptionKey,
    /// The last `DPoP-Nonce` the issuer sent.
    dpop_nonce: String,
}

impl Wallet {
    async fn sign(signer: &dyn Signer, header: SigningHeader, claims: Value) -> String {
        jwt::sign(signer, &header, &claims).await.expect("sign")
    }

    async fn dpop_proof(&self, path: &str, access_token: Option<&str>) -> String {
        let mut claims = json!({
            "jti": base64url::random(16).expect("random"), "htm": "POST", "htu": format!("{ISSUER}{path}"),
            "iat": jwt::now(), "nonce": self.dpop_nonce,
        });
        if let Some(token) = access_token {
            claims["ath"] = base64url::encode(openssl::sha::sha256(token.as_bytes())).into();
        }
        Self::sign(&self.dpop, SigningHeader::new(DPOP_TYP).embed_jwk(), claims).await
    }

    fn take_dpop_nonce(&mut self, response: &reqwest::Response) {
        if let Some(nonce) = response
            .headers()
            .get("dpop-nonce")
            .and_then(|value| value.to_str().ok())
        {
            self.dpop_nonce = nonce.to_owned();
        }
    }

    /// Pre-authorized code -> DPoP-bound access token, with client attestation.
    async fn access_token(&mut self, attester: &SoftwareSigner, code: &str) -> String {
        let now = jwt::now();
        let mut instance_key = self.instance.public_jwk().to_object();
        instance_key.remove("kid");
        let attestation = Self::sign(
            attester,
            SigningHeader::new(ATTESTATION_TYP),
            json!({"iss": ATTESTER, "sub": "bench-wallet", "iat": now, "exp": now + 600,
                   "cnf": {"jwk": instance_key}, "tee": "sev-snp"}),
        )
        .await;
        // The first token request learns the DPoP nonce from the use_dpop_nonce answer.
        for _ in 0..2 {
            // A fresh PoP per request: its jti is spent even when the DPoP nonce is refused.
            let pop = Self::sign(
                &self.instance,
                SigningHeader::new(ATTESTATION_POP_TYP),
                json!({"aud": ISSUER, "iat": now, "jti": base64url::random(16).expect("random")}),
            )
            .await;
            let response = self
                .http
                .post(format!("{}/token", self.base))
                .form(&[
                    ("grant_type", PRE_AUTHORIZED_GRANT),
                    ("pre-authorized_code", code),
                ])
                .header("OAuth-Client-Attestation", &attestation)
                .header("OAuth-Client-Attestation-PoP", &pop)
                .header("DPoP", self.dpop_proof("/token", None).await)
                .send()
                .await
                .expect("token request");
            self.take_dpop_nonce(&response);
            if response.status().is_success() {
                let body: Value = response.json().await.expect("token JSON");
                return body["access_token"]
                    .as_str()
                    .expect("access_token")
                    .to_owned();
            }
            let body = response.text().await.expect("token error");
            assert!(body.contains("use_dpop_nonce"), "token refused: {body}");
        }
        panic!("no access token after a fresh DPoP nonce");
    }

    /// One credential: c_nonce, key proof, encrypted response; returns the time spent in
    /// `/credential`.
    async fn credential(&mut self, access_token: &str) -> Duration {
        let nonce: Value = self
            .http
            .post(format!("{}/nonce", self.base))
            .send()
            .await
            .expect("nonce")
            .json()
            .await
            .expect("nonce JSON");
        let holder = SoftwareSigner::generate().expect("holder key");
        let proof = Self::sign(
            &holder,
            SigningHeader::new(PROOF_TYP).embed_jwk(),
            json!({"aud": ISSUER, "iat": jwt::now(), "nonce": nonce["c_nonce"]}),
        )
        .await;
        let mut response_jwk = self.response_key.public_jwk().to_object();
        response_jwk.insert("alg".into(), KeyManagement::EcdhEs.name().into());
        let request = json!({
            "credential_configuration_id": CONFIGURATION,
            "proofs": {"jwt": [proof]},
            "credential_response_encryption": {
                "jwk": response_jwk, "enc": ContentEncryption::A128Gcm.name(),
            },
        });
        let dpop = self.dpop_proof("/credential", Some(access_token)).await;
        let sent = Instant::now();
        let response = self
            .http
            .post(format!("{}/credential", self.base))
            .header("Authorization", format!("DPoP {access_token}"))
            .header("DPoP", dpop)
            .json(&request)
            .send()
            .await
            .expect("credential request");
        self.take_dpop_nonce(&response);
        let status = response.status();
        let body = response.text().await.expect("credential body");
        let latency = sent.elapsed();
        assert!(status.is_success(), "credential refused: {status} {body}");
        let decrypted = self
            .response_key
            .decrypt(&body, &Policy::default())
            .expect("decrypt the credential response");
        let body: Value = serde_json::from_slice(&decrypted.plaintext).expect("response JSON");
        assert!(body["credentials"][0]["credential"].is_string(), "{body}");
        latency
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let requests = setting("IMMERSE_BENCH_REQUESTS", 1000);
    let clients = setting("IMMERSE_BENCH_CLIENTS", 8).max(1);
    let dir = tempfile::tempdir().expect("temporary directory");
    let attester = Arc::new(SoftwareSigner::generate().expect("attester key"));
    let issuer_key: Arc<dyn Signer> = Arc::new(SoftwareSigner::generate().expect("issuer key"));
    let registry = registry(&attester, &*issuer_key).await;

    let mut config = Config::new(ISSUER);
    config.configurations.push(CredentialConfiguration {
        id: CONFIGURATION.into(),
        vct: format!("{ISSUER}/vct/pid"),
        scope: "pid".into(),
        claims: vec![
            "given_name".into(),
            "family_name".into(),
            "birthdate".into(),
        ],
        lifetime_seconds: 86_400,
        display_name: "Person identification".into(),
        selectively_disclosable: None,
    });
    config.trusted_attesters.push(ATTESTER.into());
    let store = Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("issuer.db").display()
    ))
    .await
    .expect("store");
    let issuer = Issuer::new(config, store, issuer_key.clone(), registry).expect("issuer");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let router = immerse_issuer::http::router(issuer.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    // The raw primitives, on one core, in this process.
    let signature = issuer_key.sign(PAYLOAD).await.expect("sign");
    let sign_rate = rate(|| async {
        issuer_key.sign(PAYLOAD).await.expect("sign");
    })
    .await;
    let verify_rate = rate(|| async {
        verify_signature(
            Algorithm::Es256,
            issuer_key.public_jwk(),
            PAYLOAD,
            &signature,
        )
        .expect("verify");
    })
    .await;
    let recipient = DecryptionKey::generate(Curve::P256).expect("recipient key");
    let encrypt = || {
        encrypt_compact(
            PAYLOAD,
            recipient.public_jwk(),
            KeyManagement::EcdhEs,
            ContentEncryption::A128Gcm,
            &Map::new(),
        )
        .expect("encrypt")
    };
    let token = encrypt();
    let encrypt_rate = rate(|| async {
        encrypt();
    })
    .await;
    let decrypt_rate = rate(|| async {
        recipient
            .decrypt(&token, &Policy::default())
            .expect("decrypt");
    })
    .await;

    let http = reqwest::Client::new();
    let per_client = requests.div_ceil(clients);
    let mut wallets = Vec::with_capacity(clients);
    for _ in 0..clients {
        let offer = issuer
            .create_offer(
                serde_json::from_value::<NewOffer>(json!({
                    "credential_configuration_ids": [CONFIGURATION],
                    "claims": {"given_name": "Ada", "family_name": "Lovelace",
                               "birthdate": "1815-12-10"},
                }))
                .expect("offer"),
            )
            .await
            .expect("create offer");
        let code = offer.credential_offer["grants"][PRE_AUTHORIZED_GRANT]["pre-authorized_code"]
            .as_str()
            .expect("code")
            .to_owned();
        let mut wallet = Wallet {
            http: http.clone(),
            base: base.clone(),
            instance: SoftwareSigner::generate().expect("instance key"),
            dpop: SoftwareSigner::generate().expect("DPoP key"),
            response_key: DecryptionKey::generate(Curve::P256).expect("response key"),
            dpop_nonce: String::new(),
        };
        let access_token = wallet.access_token(&attester, &code).await;
        wallets.push((wallet, access_token));
    }

    let deadline = Instant::now() + TIME_LIMIT;
    let started = Instant::now();
    let tasks: Vec<_> = wallets
        .into_iter()
        .map(|(mut wallet, access_token)| {
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    if Instant::now() > deadline {
                        break;
                    }
                    latencies.push(wallet.credential(&access_token).await);
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
    println!(
        "raw, one core: ES256 sign {sign_rate:.0}/s, ES256 verify {verify_rate:.0}/s, \
         ECDH-ES P-256 A128GCM encrypt {encrypt_rate:.0}/s, decrypt {decrypt_rate:.0}/s"
    );
    println!(
        "/credential (key proof verified, SD-JWT VC signed, response encrypted), {clients} clients, \
         {} credentials in {:.1} s: {:.1} credentials/s, p50 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
}
