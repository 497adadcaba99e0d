//! A wallet facing the real verifier on 127.0.0.1: the verifier's own end-to-end world (Key
//! Registry, issuer key and status list, verifier router) from crates/verifier/tests/common,
//! with the verifier enrolled in the registry as an entity with claim allowances and its
//! request-signing key, and a [`Presenter`] holding one credential bound to the world's holder
//! key.
#![allow(dead_code)]

#[path = "../../../verifier/tests/common/mod.rs"]
pub mod verifier_world;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine;
use immerse_attestation::provider::{EvidenceProvider, ProviderError};
use immerse_attestation::{EvidenceRequest, Tee};
use immerse_jose::{PublicJwk, Signer, SoftwareSigner, jwt};
use immerse_registry::client::{ClientOptions, RegistryClient};
use immerse_registry::model::Role;
use immerse_registry::{AdminKey, NewEntity};
use immerse_sd_jwt::Credential;
use immerse_wallet::{Presenter, StoredCredential, VerifierDirectory, Wallet, WalletConfig};
use openssl::x509::X509;
use serde_json::{Value, json};

pub use verifier_world::{Options, VCT, World};

/// The verifier's registry entity.
pub const VERIFIER_ENTITY: &str = "https://verifier.test";
pub const VERIFIER_NAME: &str = "Example Shop";

/// What the verifier is registered to ask for, and why.
pub fn default_allowances() -> Value {
    json!({"claims": [
        {"path": ["given_name"], "purpose": "Address the parcel"},
        {"path": ["family_name"], "purpose": "Address the parcel"},
        {"path": ["address"], "purpose": "Choose the nearest pick-up point"},
    ]})
}

/// Given and family name required, the locality optional (the second claim set leaves it
/// out).
pub fn query_with_optional_locality() -> Value {
    json!({"credentials": [{
        "id": "pid",
        "format": "dc+sd-jwt",
        "meta": {"vct_values": [VCT]},
        "claims": [
            {"id": "given", "path": ["given_name"]},
            {"id": "family", "path": ["family_name"]},
            {"id": "locality", "path": ["address", "locality"]}
        ],
        "claim_sets": [["given", "family", "locality"], ["given", "family"]]
    }]})
}

/// The attestation side is not exercised by presentation: no evidence is ever made.
struct NoEvidence;

impl EvidenceProvider for NoEvidence {
    fn tee(&self) -> Tee {
        Tee::SevSnp
    }

    fn evidence(&self, _report_data: &[u8; 64]) -> Result<EvidenceRequest, ProviderError> {
        Err(ProviderError::Vcek {
            path: "(none)".into(),
            source: std::io::Error::other("presentation tests attest nothing"),
        })
    }
}

pub struct Setup {
    pub world: World,
    pub presenter: Arc<Presenter>,
    /// Seconds added to the wallet's clock.
    pub clock_offset: Arc<AtomicI64>,
    pub registry_url: String,
}

pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// The public key of the leaf certificate in a request object's `x5c`.
pub fn leaf_key(request_object: &str) -> PublicJwk {
    let header_b64 = request_object.split('.').next().unwrap();
    let header: Value =
        serde_json::from_slice(&immerse_jose::base64url::decode(header_b64, "header").unwrap())
            .unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(header["x5c"][0].as_str().unwrap())
        .unwrap();
    let pem = X509::from_der(&der)
        .unwrap()
        .public_key()
        .unwrap()
        .public_key_to_pem()
        .unwrap();
    PublicJwk::from_spki_pem(&String::from_utf8(pem).unwrap()).unwrap()
}

impl Setup {
    /// The verifier world, the verifier enrolled with `allowances` (and its signing key unless
    /// `register_key` is false), and a wallet that knows the verifier's Client Identifier.
    pub async fn start(allowances: Value, register_key: bool) -> Self {
        Self::start_with(Options::default(), allowances, register_key).await
    }

    /// As [`Setup::start`], with a verifier that speaks `openid_federation:` + its entity id.
    pub async fn start_federation(allowances: Value, register_key: bool) -> Self {
        let options = Options {
            federation_entity: Some(VERIFIER_ENTITY.into()),
            ..Options::default()
        };
        Self::start_with(options, allowances, register_key).await
    }

    pub async fn start_with(options: Options, allowances: Value, register_key: bool) -> Self {
        let federation = options.federation_entity.is_some();
        let world = World::start(options).await;
        // The verifier's signing key, as its request objects carry it in x5c.
        let created = world
            .create(json!({"dcql_query": verifier_world::default_query()}))
            .await;
        let request_object = world
            .http
            .get(created["request_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // openid_federation request objects carry no x5c: the key is the one the verifier
        // signs with, which its registry entity must list.
        let signing_key = if federation {
            world.verifier_key.public_jwk().clone()
        } else {
            leaf_key(&request_object)
        };
        world
            .registry
            .create_entity(
                "admin:test",
                NewEntity {
                    id: VERIFIER_ENTITY.into(),
                    role: Role::Verifier,
                    display_name: VERIFIER_NAME.into(),
                    allowances: serde_json::from_value(allowances).unwrap(),
                },
            )
            .await
            .unwrap();
        if register_key {
            let key: AdminKey =
                serde_json::from_value(json!({"jwk": signing_key, "alg": "ES256"})).unwrap();
            world
                .registry
                .add_key("admin:test", VERIFIER_ENTITY, key)
                .await
                .unwrap();
        }
        // A second HTTP edge over the same registry, for the wallet.
        let registry_url = serve(immerse_registry::http::router(world.registry.clone())).await;
        let registry = RegistryClient::new(
            registry_url.clone(),
            verifier_world::REGISTRY_ID,
            world.registry.root_key().clone(),
            ClientOptions::default(),
        )
        .unwrap();
        let mut config = WalletConfig::new(
            registry,
            "http://127.0.0.1:9",
            Arc::new(|| async { Err("presentation tests need no token".to_owned()) }),
            Arc::new(NoEvidence),
        );
        // The issuer's status list is under its origin, served on loopback.
        config.origins = immerse_net::Origins::default()
            .route(verifier_world::ISSUER, world.status_base.clone());
        let clock_offset = Arc::new(AtomicI64::new(0));
        let offset = clock_offset.clone();
        let wallet = Wallet::with_clock(
            config,
            Arc::new(move || jwt::now() + offset.load(Ordering::SeqCst)),
        )
        .unwrap();
        let directory =
            VerifierDirectory::default().with(world.verifier.client_id(), VERIFIER_ENTITY);
        Self {
            world,
            presenter: Arc::new(Presenter::new(wallet, directory)),
            clock_offset,
            registry_url,
        }
    }

    /// Issues `credential` to the world's holder key and stores it in the wallet.
    pub async fn hold(&self, id: &str, credential: &Credential) {
        let sd_jwt = self.world.issue(credential).await;
        self.store(id, credential, sd_jwt);
    }

    /// As [`Setup::hold`], with the claims `policy` names selectively disclosable.
    pub async fn hold_disclosing(
        &self,
        id: &str,
        credential: &Credential,
        policy: &immerse_sd_jwt::DisclosurePolicy,
    ) {
        let sd_jwt = self
            .world
            .issue_disclosing(&self.world.issuer, credential, policy)
            .await;
        self.store(id, credential, sd_jwt);
    }

    fn store(&self, id: &str, credential: &Credential, sd_jwt: immerse_sd_jwt::SdJwt) {
        let holder =
            SoftwareSigner::from_pkcs8_pem(&self.world.holder.to_pkcs8_pem().unwrap()).unwrap();
        assert_eq!(holder.public_jwk(), self.world.holder.public_jwk());
        self.presenter
            .wallet()
            .credentials()
            .insert(StoredCredential {
                id: id.into(),
                issuer: credential.iss.clone(),
                vct: credential.vct.clone(),
                configuration_id: "pid".into(),
                sd_jwt: sd_jwt.to_compact(),
                claims: credential.claims.clone(),
                issued_at: credential.iat,
                expires_at: credential.exp,
                status: credential.status.clone(),
                holder_key: Arc::new(holder),
            });
    }

    /// Creates a verifier request for `query`; answers its id and the URI a wallet is given.
    pub async fn request(&self, query: Value) -> (String, String) {
        self.request_with(json!({"dcql_query": query})).await
    }

    pub async fn request_with(&self, body: Value) -> (String, String) {
        let created = self.world.create(body).await;
        (
            created["id"].as_str().unwrap().to_owned(),
            created["authorization_request"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }

    /// The verifier's result for session `id`.
    pub async fn result(&self, id: &str) -> Value {
        self.world.result_of(id).await
    }
}
