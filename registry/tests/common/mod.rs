//! Shared set-up for the registry's integration tests.
#![allow(dead_code)]
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock};

use immerse_jose::jws::SigningHeader;
use immerse_jose::{PublicJwk, Signer, SoftwareSigner, base64url, jwt};
use immerse_registry::model::Role;
use immerse_registry::{
    COUNTERSIGNATURE_TYP, Config, Enrolment, KEY_PROOF_TYP, KEY_RETIREMENT_TYP, KeySubmission,
    NewEntity, Registry,
};
use immerse_store::Store;
use serde_json::json;

pub const REGISTRY_ID: &str = "https://registry.test";
pub const T0: i64 = 1_800_000_000;

/// The registry's root key, shared so that registries made in one test agree.
pub static ROOT: LazyLock<Arc<SoftwareSigner>> =
    LazyLock::new(|| Arc::new(SoftwareSigner::generate().unwrap()));

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct TestClock(Arc<AtomicI64>);

impl Default for TestClock {
    fn default() -> Self {
        Self::new()
    }
}

impl TestClock {
    pub fn new() -> Self {
        Self(Arc::new(AtomicI64::new(T0)))
    }
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

pub fn registry_on(store: Store, clock: &TestClock) -> Registry {
    let clock = clock.clone();
    Registry::with_clock(
        store,
        ROOT.clone(),
        Config::new(REGISTRY_ID),
        Arc::new(move || clock.now()),
    )
}

pub async fn registry(clock: &TestClock) -> Registry {
    registry_on(Store::connect_in_memory().await.unwrap(), clock)
}

pub async fn enrol(registry: &Registry, id: &str) -> Enrolment {
    registry
        .create_entity(
            "admin:test",
            NewEntity {
                id: id.into(),
                role: Role::Issuer,
                display_name: "Test Issuer".into(),
                allowances: Default::default(),
            },
        )
        .await
        .unwrap()
}

/// A key-registration proof: signed by `key`, which travels in the `jwk` header.
pub async fn proof(key: &SoftwareSigner, entity: &str, jti: &str, now: i64) -> String {
    let claims =
        json!({"iss": entity, "aud": REGISTRY_ID, "iat": now, "exp": now + 120, "jti": jti});
    jwt::sign(key, &SigningHeader::new(KEY_PROOF_TYP).embed_jwk(), &claims)
        .await
        .unwrap()
}

/// A countersignature of `proof` by an already registered key of `entity`.
pub async fn countersignature(
    by: &SoftwareSigner,
    entity: &str,
    proof: &str,
    jti: &str,
    now: i64,
) -> String {
    let proof_hash = base64url::encode(openssl::sha::sha256(proof.as_bytes()));
    let claims = json!({"iss": entity, "aud": REGISTRY_ID, "iat": now, "exp": now + 120, "jti": jti, "proof_hash": proof_hash});
    jwt::sign(by, &SigningHeader::new(COUNTERSIGNATURE_TYP), &claims)
        .await
        .unwrap()
}

/// A request by a key of `entity` to retire its key `kid`.
pub async fn retirement(
    by: &SoftwareSigner,
    entity: &str,
    kid: &str,
    jti: &str,
    now: i64,
) -> String {
    let claims = json!({"iss": entity, "aud": REGISTRY_ID, "iat": now, "exp": now + 120, "jti": jti, "kid": kid});
    jwt::sign(by, &SigningHeader::new(KEY_RETIREMENT_TYP), &claims)
        .await
        .unwrap()
}

pub fn first_key(proof: String, secret: &str) -> KeySubmission {
    KeySubmission {
        proof,
        enrolment_secret: Some(secret.into()),
        countersignature: None,
    }
}

/// Signs `claims` with `key` under a hand-made header, for headers the library would not make.
pub async fn sign_with_header(
    key: &SoftwareSigner,
    header: serde_json::Value,
    claims: serde_json::Value,
) -> String {
    let input = format!(
        "{}.{}",
        base64url::encode(header.to_string()),
        base64url::encode(claims.to_string())
    );
    let signature = key.sign(input.as_bytes()).await.unwrap();
    format!("{input}.{}", base64url::encode(signature))
}

pub fn public(key: &SoftwareSigner) -> PublicJwk {
    key.public_jwk().clone()
}
