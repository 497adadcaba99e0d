//! A Key Registry and an issuer on 127.0.0.1, and a wallet that speaks to them.
use std::sync::Arc;

use immerse_issuer::{
    AdminToken, Config, CreatedOffer, CredentialConfiguration, DPOP_TYP, Issuer, PROOF_TYP,
    SCOPE_OFFERS, SCOPE_STATUS,
};
use immerse_jose::Curve;
use immerse_jose::jwe::DecryptionKey;
use immerse_jose::jws::SigningHeader;
use immerse_jose::{PublicJwkSet, Signer, SoftwareSigner, base64url, jwt};
use immerse_registry::client::{ClientOptions, RegistryClient};
use immerse_registry::model::Role;
use immerse_registry::{AdminKey, NewEntity, Registry};
use immerse_store::Store;
use serde_json::{Value, json};

pub const REGISTRY_ID: &str = "https://registry.test";
pub const ATTESTER: &str = "https://attester.test";
/// The public issuer identifier; the service listens on loopback behind it.
pub const ISSUER: &str = "https://issuer.test";
pub const ADMIN_TOKEN: &str = "admin-token-for-tests";
pub const CONFIGURATION: &str = "pid_sd_jwt";
pub const VCT: &str = "https://issuer.test/vct/pid";

pub struct Env {
    /// Where the issuer listens, e.g. `http://127.0.0.1:1234`.
    pub base: String,
    pub http: reqwest::Client,
    pub issuer: Issuer,
    pub registry: RegistryClient,
    pub attester: Arc<SoftwareSigner>,
    /// The registry service itself, its URL, root key and a `registry:admin` token.
    pub registry_service: Registry,
    pub registry_url: String,
    pub registry_root: immerse_jose::PublicJwk,
    /// The issuer's store, to see what a request left behind.
    pub store: Store,
}

/// A wallet instance: its attested instance key and its DPoP key.
pub struct Wallet {
    pub client_id: String,
    pub instance: SoftwareSigner,
    pub dpop: SoftwareSigner,
}

impl Wallet {
    pub fn new() -> Self {
        Self {
            client_id: "wallet-client".into(),
            instance: SoftwareSigner::generate().unwrap(),
            dpop: SoftwareSigner::generate().unwrap(),
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, router: axum::Router) {
    tokio::spawn(async move { axum::serve(listener, router).await });
}

pub fn sha256_hex(text: &str) -> String {
    openssl::sha::sha256(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Starts a registry (attester and issuer keys enrolled) and an issuer configured by `tweak`.
pub async fn start(tweak: impl FnOnce(&mut Config)) -> Env {
    start_with_key(Arc::new(SoftwareSigner::generate().unwrap()), tweak).await
}

/// As [`start`], with the issuer's first signing key given.
pub async fn start_with_key(issuer_key: Arc<dyn Signer>, tweak: impl FnOnce(&mut Config)) -> Env {
    let root = Arc::new(SoftwareSigner::generate().unwrap());
    let registry = Registry::new(
        Store::connect_in_memory().await.unwrap(),
        root.clone(),
        immerse_registry::Config::new(REGISTRY_ID),
    );
    let attester = Arc::new(SoftwareSigner::generate().unwrap());
    for (id, role, key) in [
        (ATTESTER, Role::Attester, attester.public_jwk()),
        (ISSUER, Role::Issuer, issuer_key.public_jwk()),
    ] {
        registry
            .create_entity(
                "admin:test",
                NewEntity {
                    id: id.into(),
                    role,
                    display_name: id.into(),
                    allowances: Default::default(),
                },
            )
            .await
            .unwrap();
        let request: AdminKey =
            serde_json::from_value(json!({"jwk": key, "alg": "ES256"})).unwrap();
        registry.add_key("admin:test", id, request).await.unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let registry_url = format!("http://{}", listener.local_addr().unwrap());
    serve(listener, immerse_registry::http::router(registry.clone())).await;
    let client = RegistryClient::new(
        registry_url.clone(),
        REGISTRY_ID,
        root.public_jwk().clone(),
        ClientOptions::default(),
    )
    .unwrap();

    let mut config = Config::new(ISSUER);
    config.configurations.push(CredentialConfiguration {
        id: CONFIGURATION.into(),
        vct: VCT.into(),
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
    config.admin_tokens.push(AdminToken {
        sha256_hex: sha256_hex(ADMIN_TOKEN),
        scopes: vec![SCOPE_OFFERS.into(), SCOPE_STATUS.into()],
    });
    tweak(&mut config);
    let store = Store::connect_in_memory().await.unwrap();
    let issuer = Issuer::new(config, store.clone(), issuer_key, client.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    serve(listener, immerse_issuer::http::router(issuer.clone())).await;
    Env {
        base,
        http: reqwest::Client::new(),
        issuer,
        registry: client,
        attester,
        registry_service: registry,
        registry_url,
        registry_root: root.public_jwk().clone(),
        store,
    }
}

/// What a token request carries besides the code.
#[derive(Default)]
pub struct TokenOpts<'a> {
    pub tx_code: Option<&'a str>,
    pub attestation: Option<String>,
    pub pop: Option<String>,
    pub dpop: Option<String>,
    pub skip_attestation: bool,
    pub skip_dpop: bool,
    pub grant_type: Option<&'a str>,
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn issuer_keys(&self) -> PublicJwkSet {
        self.registry
            .verification_keys(ISSUER, Role::Issuer)
            .await
            .unwrap()
    }

    /// A registry client with an empty cache, as a verifier that never fetched before.
    pub fn fresh_registry_client(&self) -> RegistryClient {
        RegistryClient::new(
            self.registry_url.clone(),
            REGISTRY_ID,
            self.registry_root.clone(),
            ClientOptions::default(),
        )
        .unwrap()
    }

    /// A client attestation as the Attestation Service mints it, for `tee`.
    pub async fn attestation(&self, wallet: &Wallet, tee: &str) -> String {
        self.attestation_with(&*self.attester, wallet, tee, 300)
            .await
    }

    pub async fn attestation_with(
        &self,
        signer: &dyn Signer,
        wallet: &Wallet,
        tee: &str,
        lifetime: i64,
    ) -> String {
        self.attestation_from(ATTESTER, signer, wallet, tee, lifetime)
            .await
    }

    /// A client attestation naming `attester` as `iss`, signed by `signer`.
    pub async fn attestation_from(
        &self,
        attester: &str,
        signer: &dyn Signer,
        wallet: &Wallet,
        tee: &str,
        lifetime: i64,
    ) -> String {
        let now = jwt::now();
        let mut key = wallet.instance.public_jwk().to_object();
        key.remove("kid");
        let claims = json!({
            "iss": attester, "sub": wallet.client_id, "iat": now, "exp": now + lifetime,
            "cnf": {"jwk": key}, "tee": tee,
        });
        jwt::sign(
            signer,
            &SigningHeader::new(immerse_issuer::ATTESTATION_TYP),
            &claims,
        )
        .await
        .unwrap()
    }

    pub async fn pop(&self, wallet: &Wallet, extra: Value) -> String {
        let mut claims = json!({
            "aud": ISSUER, "iat": jwt::now(), "jti": base64url::encode(random(16)),
        });
        merge(&mut claims, extra);
        jwt::sign(
            &wallet.instance,
            &SigningHeader::new(immerse_issuer::ATTESTATION_POP_TYP),
            &claims,
        )
        .await
        .unwrap()
    }

    /// A DPoP proof for `POST path` with a fresh server nonce (unless `extra` sets one).
    pub async fn dpop(
        &self,
        key: &SoftwareSigner,
        path: &str,
        access_token: Option<&str>,
        extra: Value,
    ) -> String {
        let mut claims = json!({
            "jti": base64url::encode(random(16)), "htm": "POST",
            "htu": format!("{ISSUER}{path}"), "iat": jwt::now(),
            "nonce": self.issuer.dpop_nonce().await.unwrap(),
        });
        if let Some(token) = access_token {
            claims["ath"] = base64url::encode(openssl::sha::sha256(token.as_bytes())).into();
        }
        merge(&mut claims, extra);
        jwt::sign(key, &SigningHeader::new(DPOP_TYP).embed_jwk(), &claims)
            .await
            .unwrap()
    }

    pub async fn offer(&self, body: Value) -> CreatedOffer {
        let response = self
            .http
            .post(self.url("/admin/offers"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    pub async fn simple_offer(&self) -> CreatedOffer {
        self.offer(json!({
            "credential_configuration_ids": [CONFIGURATION],
            "claims": {"given_name": "Ada", "family_name": "Lovelace", "birthdate": "1815-12-10"},
        }))
        .await
    }

    pub fn code(offer: &CreatedOffer) -> String {
        offer.credential_offer["grants"][immerse_issuer::PRE_AUTHORIZED_GRANT]
            ["pre-authorized_code"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn token_request(
        &self,
        wallet: &Wallet,
        code: &str,
        opts: TokenOpts<'_>,
    ) -> reqwest::Response {
        let mut form = vec![
            (
                "grant_type",
                opts.grant_type
                    .unwrap_or(immerse_issuer::PRE_AUTHORIZED_GRANT)
                    .to_owned(),
            ),
            ("pre-authorized_code", code.to_owned()),
        ];
        if let Some(tx_code) = opts.tx_code {
            form.push(("tx_code", tx_code.to_owned()));
        }
        let mut request = self.http.post(self.url("/token")).form(&form);
        if !opts.skip_attestation {
            let attestation = match opts.attestation {
                Some(attestation) => attestation,
                None => self.attestation(wallet, "sev-snp").await,
            };
            let pop = match opts.pop {
                Some(pop) => pop,
                None => self.pop(wallet, json!({})).await,
            };
            request = request
                .header("OAuth-Client-Attestation", attestation)
                .header("OAuth-Client-Attestation-PoP", pop);
        }
        if !opts.skip_dpop {
            let dpop = match opts.dpop {
                Some(dpop) => dpop,
                None => self.dpop(&wallet.dpop, "/token", None, json!({})).await,
            };
            request = request.header("DPoP", dpop);
        }
        request.send().await.unwrap()
    }

    /// Offer -> access token, asserting success.
    pub async fn access_token(&self, wallet: &Wallet, offer: &CreatedOffer) -> String {
        let response = self
            .token_request(
                wallet,
                &Self::code(offer),
                TokenOpts {
                    tx_code: offer.tx_code.as_deref(),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert!(response.headers().contains_key("dpop-nonce"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A fresh challenge from the challenge endpoint (attestation draft s8).
    pub async fn attestation_challenge(&self) -> String {
        let response = self.http.post(self.url("/challenge")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["attestation_challenge"].as_str().unwrap().to_owned()
    }

    pub async fn c_nonce(&self) -> String {
        let response = self.http.post(self.url("/nonce")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        body["c_nonce"].as_str().unwrap().to_owned()
    }

    pub async fn key_proof(&self, holder: &SoftwareSigner, nonce: &str, extra: Value) -> String {
        let mut claims = json!({"aud": ISSUER, "iat": jwt::now(), "nonce": nonce});
        merge(&mut claims, extra);
        jwt::sign(holder, &SigningHeader::new(PROOF_TYP).embed_jwk(), &claims)
            .await
            .unwrap()
    }

    pub async fn credential_request(
        &self,
        wallet: &Wallet,
        token: &str,
        body: &Value,
    ) -> reqwest::Response {
        let dpop = self
            .dpop(&wallet.dpop, "/credential", Some(token), json!({}))
            .await;
        self.http
            .post(self.url("/credential"))
            .header("Authorization", format!("DPoP {token}"))
            .header("DPoP", dpop)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

/// A credential request for `configuration` with one key proof, its response to be encrypted
/// (ECDH-ES, A256GCM) to a fresh key, which is returned to read the answer with.
pub fn encrypted_request(configuration: &str, proof: &str) -> (Value, DecryptionKey) {
    let response_key = DecryptionKey::generate(Curve::P256).unwrap();
    let mut jwk = response_key.public_jwk().to_object();
    jwk.insert("alg".into(), "ECDH-ES".into());
    let request = json!({
        "credential_configuration_id": configuration,
        "proofs": {"jwt": [proof]},
        "credential_response_encryption": {"jwk": jwk, "enc": "A256GCM"},
    });
    (request, response_key)
}

/// The token response of a successful token request, asserting success.
pub async fn token_response(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

pub fn random(len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    openssl::rand::rand_bytes(&mut buf).unwrap();
    buf
}

/// Sets (or, for `null`, removes) the members of `extra` in `claims`.
pub fn merge(claims: &mut Value, extra: Value) {
    if let (Some(claims), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        for (name, value) in extra {
            if value.is_null() {
                claims.remove(&name);
            } else {
                claims.insert(name, value);
            }
        }
    }
}

/// Asserts an OAuth error response: status and exact `error`.
pub async fn assert_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status(), status, "status for {error}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body
}
