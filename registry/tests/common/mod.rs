//! Shared set-up for the registry's integration tests.
#![allow(dead_code)]
use std::io::Write;
use std::net::SocketAddr;
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

/// Serves `registry` on 127.0.0.1 with connect info, as production must, so that refusals of
/// unauthenticated callers are counted against their address. Returns the base URL.
pub async fn serve_with_peers(registry: Registry) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = immerse_registry::http::router(registry)
        .into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// Where the PostgreSQL tests find their server; in CI (CI=true) its absence is a failure.
pub const POSTGRES_URL_VAR: &str = "IMMERSE_TEST_POSTGRES_URL";

/// A database of its own on the test server, so that this test sees only its own log; dropped
/// when the test is done with it.
pub struct TestDatabase {
    admin: sqlx::AnyPool,
    name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn drop_now(self) {
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&self.admin)
            .await
            .unwrap();
    }
}

/// A fresh database on the PostgreSQL server of IMMERSE_TEST_POSTGRES_URL for the test named
/// by `purpose` (letters and underscores: it becomes part of the database name), or None with a
/// loud skip when the variable is unset outside CI.
pub async fn fresh_database(purpose: &str) -> Option<TestDatabase> {
    let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
        if std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false") {
            panic!("{POSTGRES_URL_VAR} is unset in CI: the PostgreSQL test {purpose} must run");
        }
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {purpose}: {POSTGRES_URL_VAR} is unset, PostgreSQL is NOT tested ***"
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(&base)
        .await
        .expect("connect to the test server");
    let name = format!("immerse_registry_{purpose}_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&admin)
    .await
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let (server, _) = base.rsplit_once('/').expect("URL names a database");
    let url = format!("{server}/{name}");
    Some(TestDatabase { admin, name, url })
}
