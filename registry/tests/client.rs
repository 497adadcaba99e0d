//! The registry client against a real registry on loopback: what it accepts, what it refuses
//! (each with its precise error), its cache with bounded staleness, and fork detection.
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use immerse_jose::jws::SigningHeader;
use immerse_jose::{Error as JoseError, PublicJwk, Signer, SoftwareSigner, base64url, jwt};
use immerse_registry::client::{ClientOptions, RegistryClient, TrustAnchor};
use immerse_registry::log::{CHECKPOINT_TYP, Checkpoint};
use immerse_registry::model::{
    Allowances, EntityStatus, KeyInvalid, KeyUseName, RevocationReason, Role,
};
use immerse_registry::publish::{ENTITY_STATEMENT_TYP, HISTORICAL_KEYS_TYP};
use immerse_registry::{AdminKey, Clock, Config, KeyWindow, NewEntity, Registry, RegistryError};
use immerse_store::Store;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const REGISTRY_ID: &str = "https://registry.test";
/// Has a path, so that every test also checks that the id travels as one path segment.
const ISSUER: &str = "https://issuer.test/tenants/a";
const VERIFIER: &str = "https://verifier.test";
const ADMIN: &str = "admin:test";
/// A multiple of the registry's 60 s publication window.
const T0: i64 = 1_800_000_000;
const HOUR: i64 = 3600;

macro_rules! assert_err {
    ($result:expr, $pattern:pat $(if $guard:expr)?) => {
        match $result {
            Err($pattern) $(if $guard)? => {}
            other => panic!("expected {}, got {other:?}", stringify!($pattern $(if $guard)?)),
        }
    };
}

/// An HTTP server on 127.0.0.1 that can be stopped.
struct Server {
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

async fn serve(router: axum::Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Server {
        url,
        shutdown: Some(shutdown),
        task: Some(task),
    }
}

impl Server {
    /// Stops accepting, closes every connection (kept-alive ones too) and waits until it has.
    async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// A registry on a hand-moved clock, served on loopback, with its root key at hand so that
/// tests can sign the documents a compromised or buggy registry would.
struct Env {
    registry: Registry,
    root: Arc<SoftwareSigner>,
    time: Arc<AtomicI64>,
    server: Server,
}

async fn env() -> Env {
    env_with(Config::new(REGISTRY_ID)).await
}

async fn env_with(config: Config) -> Env {
    let time = Arc::new(AtomicI64::new(T0));
    let root = Arc::new(SoftwareSigner::generate().unwrap());
    let store = Store::connect_in_memory().await.unwrap();
    let registry = Registry::with_clock(store, root.clone(), config, clock(&time));
    let server = serve(immerse_registry::http::router(registry.clone())).await;
    Env {
        registry,
        root,
        time,
        server,
    }
}

fn clock(time: &Arc<AtomicI64>) -> Clock {
    let time = time.clone();
    Arc::new(move || time.load(Ordering::SeqCst))
}

impl Env {
    fn now(&self) -> i64 {
        self.time.load(Ordering::SeqCst)
    }

    fn advance(&self, seconds: i64) {
        self.time.fetch_add(seconds, Ordering::SeqCst);
    }

    fn anchor(&self) -> TrustAnchor {
        TrustAnchor::new(REGISTRY_ID, self.root.public_jwk().clone())
    }

    fn client(&self) -> RegistryClient {
        self.client_of(&self.server.url)
    }

    fn client_of(&self, url: &str) -> RegistryClient {
        RegistryClient::with_clock(
            url,
            REGISTRY_ID,
            self.root.public_jwk().clone(),
            ClientOptions::default(),
            clock(&self.time),
        )
        .unwrap()
    }

    async fn entity(&self, id: &str, role: Role) {
        let new = NewEntity {
            id: id.into(),
            role,
            display_name: "Test entity".into(),
            allowances: Default::default(),
        };
        self.registry.create_entity(ADMIN, new).await.unwrap();
    }

    /// Registers a fresh ES256 signing key; its `kid()` is the registry's kid.
    async fn key(&self, entity: &str) -> SoftwareSigner {
        let signer = SoftwareSigner::generate().unwrap();
        let request = AdminKey {
            jwk: Value::from(signer.public_jwk().clone()),
            key_use: KeyUseName::Sig,
            alg: Some("ES256".into()),
            window: KeyWindow::default(),
        };
        self.registry.add_key(ADMIN, entity, request).await.unwrap();
        signer
    }

    /// An issuer with one key.
    async fn issuer(&self) -> SoftwareSigner {
        self.entity(ISSUER, Role::Issuer).await;
        self.key(ISSUER).await
    }

    async fn statement(&self, entity: &str) -> String {
        self.registry.entity_statement(entity).await.unwrap()
    }

    /// `token`'s claims, edited and signed again with the registry's own root key.
    async fn resign(
        &self,
        token: &str,
        typ: &str,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) -> String {
        let mut claims = claims_of(token);
        edit(&mut claims);
        jwt::sign(&*self.root, &SigningHeader::new(typ), &claims)
            .await
            .unwrap()
    }

    /// A checkpoint signed by the registry key for a tree the log never had.
    async fn forged_checkpoint(&self, tree_size: u64) -> String {
        let checkpoint = Checkpoint {
            iss: REGISTRY_ID.into(),
            tree_size,
            root_hash: base64url::encode([7u8; 32]),
            iat: self.now(),
        };
        jwt::sign(
            &*self.root,
            &SigningHeader::new(CHECKPOINT_TYP),
            &checkpoint,
        )
        .await
        .unwrap()
    }
}

fn claims_of(token: &str) -> Map<String, Value> {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64url::decode(payload, "payload").unwrap()).unwrap()
}

fn proofs(claims: &mut Map<String, Value>) -> &mut Vec<Value> {
    claims["immerse_log"]["keys"].as_array_mut().unwrap()
}

fn without_kid(jwk: &PublicJwk) -> PublicJwk {
    let mut object = jwk.to_object();
    object.remove("kid");
    PublicJwk::from_object(object).unwrap()
}

/// What a man in the middle (or a broken proxy) in front of the registry answers.
#[derive(Clone)]
enum Mode {
    Relay,
    Status(StatusCode),
    /// Answers this body for paths ending in the suffix, and relays the rest.
    Replace(&'static str, String),
}

#[derive(Clone)]
struct Relay {
    upstream: String,
    mode: Arc<Mutex<Mode>>,
    /// Requests received, to tell a cached answer from a fetched one.
    hits: Arc<AtomicUsize>,
    http: reqwest::Client,
}

async fn relay(State(relay): State<Relay>, uri: Uri) -> Response {
    relay.hits.fetch_add(1, Ordering::SeqCst);
    let mode = relay.mode.lock().unwrap().clone();
    match mode {
        Mode::Status(status) => return status.into_response(),
        Mode::Replace(suffix, body) if uri.path().ends_with(suffix) => {
            return body.into_response();
        }
        _ => {}
    }
    let answer = relay
        .http
        .get(format!("{}{uri}", relay.upstream))
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    (status, answer.bytes().await.unwrap().to_vec()).into_response()
}

/// A relay in front of `upstream`, the switch that sets what it answers, and its hit count.
async fn relay_to(upstream: &str) -> (Server, Arc<Mutex<Mode>>, Arc<AtomicUsize>) {
    let mode = Arc::new(Mutex::new(Mode::Relay));
    let hits = Arc::new(AtomicUsize::new(0));
    let state = Relay {
        upstream: upstream.to_owned(),
        mode: mode.clone(),
        hits: hits.clone(),
        http: reqwest::Client::new(),
    };
    let router = axum::Router::new().fallback(relay).with_state(state);
    (serve(router).await, mode, hits)
}

#[tokio::test]
async fn statement_verifies_and_lists_the_key() {
    let env = env().await;
    let key = env.issuer().await;
    let client = env.client();

    let entity = client.entity(ISSUER, Role::Issuer).await.unwrap();
    assert_eq!(entity.id(), ISSUER);
    assert_eq!(entity.role(), Role::Issuer);
    assert_eq!(entity.status(), EntityStatus::Active);
    assert_eq!(entity.display_name(), Some("Test entity"));
    let listed = entity.jwks();
    assert_eq!(listed.keys.len(), 1);
    assert_eq!(listed.keys[0].kid(), Some(key.kid()));
    assert_eq!(listed.keys[0].thumbprint(), key.public_jwk().thumbprint());
    // Entity created, key added: the proofs lead to the checkpoint of a two-entry tree, which
    // the client now holds as the newest it has seen.
    assert_eq!(entity.checkpoint().map(|c| c.tree_size), Some(2));
    assert_eq!(
        client.newest_checkpoint().await.map(|c| c.tree_size),
        Some(2)
    );

    // The keys verify what the entity signs.
    let keys = client
        .verification_keys(ISSUER, Role::Issuer)
        .await
        .unwrap();
    let token = jwt::sign(
        &key,
        &SigningHeader::new("example+jwt"),
        &json!({"exp": T0 + 60}),
    )
    .await
    .unwrap();
    let validation = jwt::Validation::new("example+jwt").at(T0);
    jwt::verify(&token, &validation, &keys).unwrap();
}

#[tokio::test]
async fn statement_signed_by_another_key_is_refused() {
    let env = env().await;
    env.issuer().await;
    let statement = env.statement(ISSUER).await;
    let impostor = SoftwareSigner::generate().unwrap();
    let forged = jwt::sign(
        &impostor,
        &SigningHeader::new(ENTITY_STATEMENT_TYP),
        &claims_of(&statement),
    )
    .await
    .unwrap();

    assert_err!(
        env.anchor().verify_statement(&forged, ISSUER, T0),
        RegistryError::InvalidProof(JoseError::UnknownKey(kid)) if kid == impostor.kid()
    );
    // Pinned without a kid, the key is tried and the signature fails.
    let kidless = TrustAnchor::new(REGISTRY_ID, without_kid(env.root.public_jwk()));
    assert_err!(
        kidless.verify_statement(&forged, ISSUER, T0),
        RegistryError::InvalidProof(JoseError::InvalidSignature)
    );
    kidless.verify_statement(&statement, ISSUER, T0).unwrap();
}

#[tokio::test]
async fn statement_claims_and_type_are_checked() {
    let env = env().await;
    env.issuer().await;
    env.entity(VERIFIER, Role::Verifier).await;
    let statement = env.statement(ISSUER).await;
    let historical = env.registry.historical_keys(ISSUER).await.unwrap();
    let anchor = env.anchor();
    let other_registry =
        TrustAnchor::new("https://other-registry.test", env.root.public_jwk().clone());
    let exp = claims_of(&statement)["exp"].as_i64().unwrap();

    assert_err!(
        anchor.verify_statement(&statement, VERIFIER, T0),
        RegistryError::InvalidProof(JoseError::InvalidClaim("sub"))
    );
    assert_err!(
        other_registry.verify_statement(&statement, ISSUER, T0),
        RegistryError::InvalidProof(JoseError::IssuerMismatch(_))
    );
    // exp, with the 60 s skew the JWT rules allow.
    anchor
        .verify_statement(&statement, ISSUER, exp + 59)
        .unwrap();
    assert_err!(
        anchor.verify_statement(&statement, ISSUER, exp + 60),
        RegistryError::InvalidProof(JoseError::Expired)
    );
    assert_err!(
        anchor.verify_statement(&historical, ISSUER, T0),
        RegistryError::InvalidProof(JoseError::UnexpectedType { .. })
    );
    let without_metadata = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            claims.remove("metadata");
        })
        .await;
    assert_err!(
        anchor.verify_statement(&without_metadata, ISSUER, T0),
        RegistryError::InvalidProof(JoseError::Json {
            part: "entity statement claims",
            ..
        })
    );
}

#[tokio::test]
async fn tampered_inclusion_proof_is_refused() {
    let env = env().await;
    env.issuer().await;
    let statement = env.statement(ISSUER).await;
    let anchor = env.anchor();
    anchor.verify_statement(&statement, ISSUER, T0).unwrap();

    let flipped_sibling = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            let proof = &mut proofs(claims)[0]["inclusion"]["proof"][0];
            let mut hash = base64url::decode(proof.as_str().unwrap(), "hash").unwrap();
            hash[0] ^= 1;
            *proof = json!(base64url::encode(hash));
        })
        .await;
    let edited_leaf = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            let leaf = &mut proofs(claims)[0]["inclusion"]["leaf"];
            let text = base64url::decode(leaf.as_str().unwrap(), "leaf").unwrap();
            let text = String::from_utf8(text)
                .unwrap()
                .replace("\"ES256\"", "\"ES384\"");
            *leaf = json!(base64url::encode(text));
        })
        .await;
    let other_index = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            proofs(claims)[0]["inclusion"]["leaf_index"] = json!(0);
        })
        .await;
    for tampered in [flipped_sibling, edited_leaf, other_index] {
        assert_err!(
            anchor.verify_statement(&tampered, ISSUER, T0),
            RegistryError::Integrity(what) if what.starts_with("inclusion proof")
        );
    }
    // The checkpoint the proof leads to, signed by someone else.
    let impostor = SoftwareSigner::generate().unwrap();
    let real_checkpoint = env.registry.checkpoint().await.unwrap();
    let impostor_checkpoint = jwt::sign(
        &impostor,
        &SigningHeader::new(CHECKPOINT_TYP),
        &claims_of(&real_checkpoint),
    )
    .await
    .unwrap();
    let checkpoint_by_impostor = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            proofs(claims)[0]["inclusion"]["checkpoint"] = json!(impostor_checkpoint);
        })
        .await;
    assert_err!(
        anchor.verify_statement(&checkpoint_by_impostor, ISSUER, T0),
        RegistryError::InvalidProof(JoseError::UnknownKey(kid)) if kid == impostor.kid()
    );
}

#[tokio::test]
async fn leaf_for_another_kid_is_refused() {
    let env = env().await;
    let first = env.issuer().await;
    let second = env.key(ISSUER).await;
    let statement = env.statement(ISSUER).await;
    let anchor = env.anchor();
    assert_eq!(
        anchor
            .verify_statement(&statement, ISSUER, T0)
            .unwrap()
            .jwks()
            .keys
            .len(),
        2
    );

    // Each key presented with the other's (valid) inclusion proof.
    let swapped = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            let list = proofs(claims);
            let first_proof = list[0]["inclusion"].take();
            list[0]["inclusion"] = list[1]["inclusion"].take();
            list[1]["inclusion"] = first_proof;
        })
        .await;
    // Whichever key is checked first is refused for the other's entry.
    let expected = [
        format!("adds key {}, not {}", second.kid(), first.kid()),
        format!("adds key {}, not {}", first.kid(), second.kid()),
    ];
    assert_err!(
        anchor.verify_statement(&swapped, ISSUER, T0),
        RegistryError::Integrity(what) if expected.iter().any(|tail| what.ends_with(tail))
    );

    // A key of another entity, with its genuine proof, listed under this one.
    env.entity(VERIFIER, Role::Verifier).await;
    let foreign = env.key(VERIFIER).await;
    let foreign_statement = env.statement(VERIFIER).await;
    let borrowed = env
        .resign(
            &env.statement(ISSUER).await,
            ENTITY_STATEMENT_TYP,
            |claims| {
                let foreign_claims = claims_of(&foreign_statement);
                claims["jwks"]["keys"]
                    .as_array_mut()
                    .unwrap()
                    .push(foreign_claims["jwks"]["keys"][0].clone());
                proofs(claims).push(foreign_claims["immerse_log"]["keys"][0].clone());
            },
        )
        .await;
    assert_err!(
        anchor.verify_statement(&borrowed, ISSUER, T0),
        RegistryError::Integrity(what) if what.ends_with(&format!("adds a key for {VERIFIER}, not {ISSUER}"))
    );
    assert_eq!(
        claims_of(&foreign_statement)["jwks"]["keys"][0]["kid"],
        json!(foreign.kid())
    );

    // A genuine proof of the entry that created the entity: in the log, but it adds no key.
    let entity_created = env.registry.inclusion_proof(0).await.unwrap();
    let not_a_key = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            proofs(claims)[0]["inclusion"] = serde_json::to_value(&entity_created).unwrap();
        })
        .await;
    assert_err!(
        anchor.verify_statement(&not_a_key, ISSUER, T0),
        RegistryError::Integrity(what) if what == "log entry 0 is not a key_added entry"
    );
}

#[tokio::test]
async fn listed_key_must_be_exactly_the_logged_key() {
    let env = env().await;
    let key = env.issuer().await;
    let statement = env.statement(ISSUER).await;
    let anchor = env.anchor();

    let no_proof = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            proofs(claims).clear()
        })
        .await;
    assert_err!(
        anchor.verify_statement(&no_proof, ISSUER, T0),
        RegistryError::Integrity(what) if what == format!("key {} has no inclusion proof", key.kid())
    );

    let extra_proof = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            claims["jwks"]["keys"].as_array_mut().unwrap().clear();
        })
        .await;
    assert_err!(
        anchor.verify_statement(&extra_proof, ISSUER, T0),
        RegistryError::Integrity(what) if what.ends_with("which the statement does not list")
    );

    let duplicate_proof = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            let copy = proofs(claims)[0].clone();
            proofs(claims).push(copy);
        })
        .await;
    assert_err!(
        anchor.verify_statement(&duplicate_proof, ISSUER, T0),
        RegistryError::Integrity(what) if what.starts_with("two inclusion proofs")
    );

    // Another key under the logged key's kid.
    let impostor = SoftwareSigner::generate().unwrap();
    let substituted = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            let mut jwk = impostor.public_jwk().to_object();
            jwk.insert("kid".into(), json!(key.kid()));
            claims["jwks"]["keys"][0] = Value::Object(jwk);
        })
        .await;
    assert_err!(
        anchor.verify_statement(&substituted, ISSUER, T0),
        RegistryError::InvalidKey(JoseError::MalformedJwk(what)) if what.contains("thumbprint")
    );

    // The logged key, published for another algorithm than it was registered for.
    let other_alg = env
        .resign(&statement, ENTITY_STATEMENT_TYP, |claims| {
            claims["jwks"]["keys"][0]["alg"] = json!("ES384");
        })
        .await;
    assert_err!(
        anchor.verify_statement(&other_alg, ISSUER, T0),
        RegistryError::Integrity(what) if what.contains("another use or alg")
    );
}

#[tokio::test]
async fn key_valid_at_follows_retirement_and_retention() {
    let env = env().await;
    let key = env.issuer().await;
    let kid = key.kid().to_owned();
    env.advance(10 * HOUR);
    env.registry.retire_key(ADMIN, ISSUER, &kid).await.unwrap();
    env.advance(HOUR);
    let client = env.client();
    let retired_at = T0 + 10 * HOUR;
    let retention = 48 * HOUR;

    let valid = client
        .key_valid_at(ISSUER, Role::Issuer, &kid, T0 + 5 * HOUR)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(valid.kid(), Some(kid.as_str()));
    assert_eq!(valid.thumbprint(), key.public_jwk().thumbprint());
    let cases = [
        (T0 - 1, Ok(())),
        (retired_at + 1, Ok(())),
        (retired_at + retention - 1, Ok(())),
        (retired_at + retention, Err(KeyInvalid::Retired)),
        (retired_at + 100 * HOUR, Err(KeyInvalid::Retired)),
    ];
    for (at, expected) in cases {
        let answer = client
            .key_valid_at(ISSUER, Role::Issuer, &kid, at)
            .await
            .unwrap();
        assert_eq!(answer.map(|_| ()), expected, "at {at}");
        // The same rule as the registry's own answer.
        let registry = env.registry.key_valid_at(ISSUER, &kid, at).await.unwrap();
        assert_eq!(registry, expected, "registry at {at}");
    }
    // Still listed for verification now (within retention), and gone once retention passed.
    assert_eq!(
        client
            .verification_keys(ISSUER, Role::Issuer)
            .await
            .unwrap()
            .keys
            .len(),
        1
    );
    env.advance(retention);
    let later = env.client();
    assert!(
        later
            .verification_keys(ISSUER, Role::Issuer)
            .await
            .unwrap()
            .keys
            .is_empty()
    );
}

#[tokio::test]
async fn revoked_key_is_revoked() {
    let env = env().await;
    let compromised = env.issuer().await;
    let superseded = env.key(ISSUER).await;
    env.advance(HOUR);
    for (key, reason) in [
        (&compromised, RevocationReason::Compromised),
        (&superseded, RevocationReason::Superseded),
    ] {
        env.registry
            .revoke_key(ADMIN, ISSUER, key.kid(), reason)
            .await
            .unwrap();
    }
    let client = env.client();
    let revoked_at = T0 + HOUR;

    // A compromised key can sign with any timestamp: never valid.
    for at in [T0, revoked_at - 1, revoked_at] {
        assert_eq!(
            client
                .key_valid_at(ISSUER, Role::Issuer, compromised.kid(), at)
                .await
                .unwrap(),
            Err(KeyInvalid::Revoked),
            "at {at}"
        );
    }
    // A superseded one is valid for what it signed before.
    assert!(
        client
            .key_valid_at(ISSUER, Role::Issuer, superseded.kid(), revoked_at - 1)
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(
        client
            .key_valid_at(ISSUER, Role::Issuer, superseded.kid(), revoked_at)
            .await
            .unwrap(),
        Err(KeyInvalid::Revoked)
    );
    assert!(
        client
            .verification_keys(ISSUER, Role::Issuer)
            .await
            .unwrap()
            .keys
            .is_empty()
    );
}

#[tokio::test]
async fn suspended_entity_has_no_valid_key() {
    let env = env().await;
    let key = env.issuer().await;
    env.registry
        .set_suspended(ADMIN, ISSUER, true)
        .await
        .unwrap();
    let client = env.client();

    assert_eq!(
        client
            .key_valid_at(ISSUER, Role::Issuer, key.kid(), T0)
            .await
            .unwrap(),
        Err(KeyInvalid::EntitySuspended)
    );
    assert_err!(
        client.entity(ISSUER, Role::Issuer).await,
        RegistryError::EntitySuspended(id) if id == ISSUER
    );
    assert_err!(
        client.verification_keys(ISSUER, Role::Issuer).await,
        RegistryError::EntitySuspended(_)
    );
}

/// Every lookup names the role its use requires: an entity of any other role is `WrongRole`
/// (whatever keys it has), a suspended one `EntitySuspended`, and only the right role answers.
#[tokio::test]
async fn every_lookup_refuses_an_entity_of_another_role() {
    let env = env().await;
    let roles = [
        Role::Issuer,
        Role::Verifier,
        Role::Attester,
        Role::WalletProvider,
    ];
    for (n, actual) in roles.into_iter().enumerate() {
        let id = format!("https://entity-{n}.test");
        env.entity(&id, actual).await;
        let key = env.key(&id).await;
        let client = env.client();
        for required in roles {
            if required == actual {
                assert_eq!(client.entity(&id, required).await.unwrap().role(), actual);
                assert_eq!(
                    client
                        .verification_keys(&id, required)
                        .await
                        .unwrap()
                        .keys
                        .len(),
                    1
                );
                assert!(matches!(
                    client.key_valid_at(&id, required, key.kid(), T0).await,
                    Ok(Ok(_))
                ));
                continue;
            }
            let wrong = |err: &RegistryError| {
                matches!(err, RegistryError::WrongRole { entity, required: r, actual: a }
                    if *entity == id && *r == required && *a == actual)
            };
            assert!(client.entity(&id, required).await.is_err_and(|e| wrong(&e)));
            assert!(
                client
                    .verification_keys(&id, required)
                    .await
                    .is_err_and(|e| wrong(&e))
            );
            assert!(
                client
                    .historical_keys(&id, required)
                    .await
                    .is_err_and(|e| wrong(&e))
            );
            assert!(
                client
                    .key_valid_at(&id, required, key.kid(), T0)
                    .await
                    .is_err_and(|e| wrong(&e))
            );
        }
    }
}

#[tokio::test]
async fn an_issuer_may_issue_only_the_credential_types_it_is_registered_for() {
    let env = env().await;
    env.issuer().await;
    let client = env.client();
    let entity = client.entity(ISSUER, Role::Issuer).await.unwrap();
    assert_err!(
        entity.require_credential_type("urn:any"),
        RegistryError::NotAllowed(why) if why.contains("registered for no credential type")
    );

    let allowances = Allowances {
        credential_types: vec!["urn:pid".into()],
        claims: Vec::new(),
    };
    let id = "https://pid-issuer.test";
    env.registry
        .create_entity(
            ADMIN,
            NewEntity {
                id: id.into(),
                role: Role::Issuer,
                display_name: "PID issuer".into(),
                allowances,
            },
        )
        .await
        .unwrap();
    let entity = client.entity(id, Role::Issuer).await.unwrap();
    entity.require_credential_type("urn:pid").unwrap();
    assert_err!(
        entity.require_credential_type("urn:pid2"),
        RegistryError::NotAllowed(why) if why.contains("not registered to issue")
    );
    let (code, status) = RegistryError::NotAllowed(String::new()).code_and_status();
    assert_eq!((code, status.as_u16()), ("access_denied", 403));
}

#[tokio::test]
async fn unknown_entity_and_key_are_not_found() {
    let env = env().await;
    env.issuer().await;
    let client = env.client();
    assert_err!(
        client.entity("https://nobody.test", Role::Issuer).await,
        RegistryError::NotFound(_)
    );
    assert_err!(
        client.key_valid_at(ISSUER, Role::Issuer, "no-such-kid", T0).await,
        RegistryError::NotFound(what) if what.contains("no-such-kid")
    );
}

#[tokio::test]
async fn historical_keys_are_verified() {
    let env = env().await;
    let key = env.issuer().await;
    let historical = env.registry.historical_keys(ISSUER).await.unwrap();
    let statement = env.statement(ISSUER).await;
    let anchor = env.anchor();
    let document = anchor
        .verify_historical_keys(&historical, ISSUER, T0)
        .unwrap();
    assert_eq!(document.kids().collect::<Vec<_>>(), [key.kid()]);
    assert_eq!(document.entity_status(), EntityStatus::Active);

    assert_err!(
        anchor.verify_historical_keys(&statement, ISSUER, T0),
        RegistryError::InvalidProof(JoseError::UnexpectedType { .. })
    );
    assert_err!(
        anchor.verify_historical_keys(&historical, VERIFIER, T0),
        RegistryError::InvalidProof(JoseError::InvalidClaim("sub"))
    );
    let impostor = SoftwareSigner::generate().unwrap();
    let forged = jwt::sign(
        &impostor,
        &SigningHeader::new(HISTORICAL_KEYS_TYP),
        &claims_of(&historical),
    )
    .await
    .unwrap();
    assert_err!(
        anchor.verify_historical_keys(&forged, ISSUER, T0),
        RegistryError::InvalidProof(JoseError::UnknownKey(_))
    );
    // "revoked" status without the revocation: contradictory, refused rather than guessed at.
    let contradictory = env
        .resign(&historical, HISTORICAL_KEYS_TYP, |claims| {
            claims["keys"][0]["status"] = json!("revoked");
        })
        .await;
    assert_err!(
        anchor.verify_historical_keys(&contradictory, ISSUER, T0),
        RegistryError::InvalidProof(JoseError::InvalidClaim("status"))
    );
    let private_member = env
        .resign(&historical, HISTORICAL_KEYS_TYP, |claims| {
            claims["keys"][0]["d"] = json!("AAAA");
        })
        .await;
    assert_err!(
        anchor.verify_historical_keys(&private_member, ISSUER, T0),
        RegistryError::InvalidKey(JoseError::PrivateKeyMember("d"))
    );
    // An entity status the client does not know reads as suspended: fail closed.
    let unknown_status = env
        .resign(&historical, HISTORICAL_KEYS_TYP, |claims| {
            claims["entity_status"] = json!("probation");
        })
        .await;
    let document = anchor
        .verify_historical_keys(&unknown_status, ISSUER, T0)
        .unwrap();
    assert_eq!(
        document
            .key_valid_at(key.kid(), T0, ClientOptions::default().retention)
            .unwrap(),
        Err(KeyInvalid::EntitySuspended)
    );
}

#[tokio::test]
async fn cache_answers_while_registry_is_down_until_max_stale() {
    let mut env = env().await;
    let key = env.issuer().await;
    let client = env.client();
    client.entity(ISSUER, Role::Issuer).await.unwrap();
    client
        .key_valid_at(ISSUER, Role::Issuer, key.kid(), T0)
        .await
        .unwrap()
        .unwrap();
    env.server.stop().await;
    let options = ClientOptions::default();
    let max_stale = options.max_stale.as_secs() as i64;

    // Within refresh_after: no network at all.
    env.advance(30);
    client.entity(ISSUER, Role::Issuer).await.unwrap();
    // Past refresh_after, the fetch fails: the cache answers while within max_stale.
    env.advance(90);
    assert_eq!(
        client
            .verification_keys(ISSUER, Role::Issuer)
            .await
            .unwrap()
            .keys
            .len(),
        1
    );
    client
        .key_valid_at(ISSUER, Role::Issuer, key.kid(), T0)
        .await
        .unwrap()
        .unwrap();
    env.time.store(T0 + max_stale, Ordering::SeqCst);
    client.entity(ISSUER, Role::Issuer).await.unwrap();
    // Then it refuses.
    env.advance(1);
    assert_err!(
        client.entity(ISSUER, Role::Issuer).await,
        RegistryError::Unavailable(_)
    );
    assert_err!(
        client
            .key_valid_at(ISSUER, Role::Issuer, key.kid(), T0)
            .await,
        RegistryError::Unavailable(_)
    );
    // A client that never reached the registry has nothing to serve.
    assert_err!(
        env.client().entity(ISSUER, Role::Issuer).await,
        RegistryError::Unavailable(_)
    );
}

#[tokio::test]
async fn cache_answers_through_server_errors_but_not_through_refusals() {
    let env = env().await;
    env.issuer().await;
    let (relay, mode, hits) = relay_to(&env.server.url).await;
    let client = env.client_of(&relay.url);
    client.entity(ISSUER, Role::Issuer).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Younger than refresh_after: served without asking.
    env.advance(59);
    client.entity(ISSUER, Role::Issuer).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    env.advance(61);
    *mode.lock().unwrap() = Mode::Status(StatusCode::SERVICE_UNAVAILABLE);
    client.entity(ISSUER, Role::Issuer).await.unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // 404 is an answer, not an outage.
    *mode.lock().unwrap() = Mode::Status(StatusCode::NOT_FOUND);
    assert_err!(
        client.entity(ISSUER, Role::Issuer).await,
        RegistryError::NotFound(_)
    );
    *mode.lock().unwrap() = Mode::Status(StatusCode::FORBIDDEN);
    assert_err!(
        client.entity(ISSUER, Role::Issuer).await,
        RegistryError::InvalidRequest(_)
    );
}

#[tokio::test]
async fn refused_document_is_an_error_and_keeps_the_good_one() {
    let env = env().await;
    let key = env.issuer().await;
    let (relay, mode, _) = relay_to(&env.server.url).await;
    let client = env.client_of(&relay.url);
    client.entity(ISSUER, Role::Issuer).await.unwrap();

    env.advance(120);
    let impostor = SoftwareSigner::generate().unwrap();
    let mut claims = claims_of(&env.statement(ISSUER).await);
    claims["jwks"]["keys"][0] = Value::from(impostor.public_jwk().clone());
    let forged = jwt::sign(
        &impostor,
        &SigningHeader::new(ENTITY_STATEMENT_TYP),
        &claims,
    )
    .await
    .unwrap();
    *mode.lock().unwrap() = Mode::Replace("/statement", forged);
    assert_err!(
        client.entity(ISSUER, Role::Issuer).await,
        RegistryError::InvalidProof(JoseError::UnknownKey(_))
    );

    // The good statement is still what the cache serves when the registry goes away.
    *mode.lock().unwrap() = Mode::Status(StatusCode::BAD_GATEWAY);
    let keys = client
        .verification_keys(ISSUER, Role::Issuer)
        .await
        .unwrap();
    assert_eq!(keys.keys.len(), 1);
    assert_eq!(keys.keys[0].kid(), Some(key.kid()));
}

#[tokio::test]
async fn cached_statement_is_not_served_past_its_exp() {
    let mut config = Config::new(REGISTRY_ID);
    config.statement_lifetime = 600;
    let mut env = env_with(config).await;
    env.issuer().await;
    let client = env.client();
    client.entity(ISSUER, Role::Issuer).await.unwrap();
    env.server.stop().await;

    env.advance(599);
    client.entity(ISSUER, Role::Issuer).await.unwrap();
    env.advance(1);
    assert_err!(
        client.entity(ISSUER, Role::Issuer).await,
        RegistryError::Unavailable(_)
    );
}

#[tokio::test]
async fn older_checkpoint_is_refused() {
    let env = env().await;
    env.issuer().await;
    let old_checkpoint = env.registry.checkpoint().await.unwrap();
    let old_statement = env.statement(ISSUER).await;
    env.key(ISSUER).await;
    let (relay, mode, hits) = relay_to(&env.server.url).await;
    let client = env.client_of(&relay.url);
    assert_eq!(
        client
            .entity(ISSUER, Role::Issuer)
            .await
            .unwrap()
            .checkpoint()
            .map(|c| c.tree_size),
        Some(3)
    );

    // A checkpoint with a smaller tree than one already seen: a rollback.
    assert_err!(
        client.observe_checkpoint(&old_checkpoint).await,
        RegistryError::Integrity(what) if what.starts_with("log rollback")
    );
    // A statement replayed from before the change: verifies on its own, refused by the client
    // (after asking once more), and the newer view stays.
    env.anchor()
        .verify_statement(&old_statement, ISSUER, env.now())
        .unwrap();
    env.advance(120);
    *mode.lock().unwrap() = Mode::Replace("/statement", old_statement);
    let before = hits.load(Ordering::SeqCst);
    assert_err!(
        client.entity(ISSUER, Role::Issuer).await,
        RegistryError::Integrity(what) if what.starts_with("log rollback")
    );
    assert_eq!(hits.load(Ordering::SeqCst), before + 2);
    assert_eq!(
        client.newest_checkpoint().await.map(|c| c.tree_size),
        Some(3)
    );
}

#[tokio::test]
async fn forked_checkpoint_is_refused() {
    let env = env().await;
    env.issuer().await;
    let client = env.client();
    assert_eq!(client.checkpoint().await.unwrap().tree_size, 2);

    // Same size, another root.
    let same_size = env.forged_checkpoint(2).await;
    assert_err!(
        client.observe_checkpoint(&same_size).await,
        RegistryError::Integrity(what) if what.starts_with("log fork")
    );
    // A larger tree that does not contain the one seen: the registry's consistency proof for
    // its real tree does not lead to the forged root.
    env.key(ISSUER).await;
    let larger = env.forged_checkpoint(3).await;
    assert_err!(
        client.observe_checkpoint(&larger).await,
        RegistryError::Integrity(what) if what.starts_with("log fork")
    );
    // A tree the registry cannot prove at all.
    let beyond = env.forged_checkpoint(40).await;
    assert_err!(
        client.observe_checkpoint(&beyond).await,
        RegistryError::Integrity(what) if what.starts_with("no consistency proof")
    );
    assert_eq!(
        client.newest_checkpoint().await.map(|c| c.tree_size),
        Some(2)
    );
}

#[tokio::test]
async fn consistency_is_verified_across_growth() {
    let env = env().await;
    env.issuer().await;
    let client = env.client();
    let old = env.registry.checkpoint().await.unwrap();
    assert_eq!(client.checkpoint().await.unwrap().tree_size, 2);

    for _ in 0..5 {
        env.key(ISSUER).await;
    }
    env.entity(VERIFIER, Role::Verifier).await;
    assert_eq!(client.checkpoint().await.unwrap().tree_size, 8);
    assert_eq!(
        client.newest_checkpoint().await.map(|c| c.tree_size),
        Some(8)
    );
    // The statement's checkpoint is the newest: accepted without another proof.
    assert_eq!(
        client
            .entity(ISSUER, Role::Issuer)
            .await
            .unwrap()
            .jwks()
            .keys
            .len(),
        6
    );

    // Offline: two signed checkpoints and the proof between them.
    let new = env.registry.checkpoint().await.unwrap();
    let proof = env.registry.consistency_proof(2, 8).await.unwrap();
    let anchor = env.anchor();
    assert_eq!(
        anchor
            .verify_consistency(&old, &new, &proof, env.now())
            .unwrap()
            .tree_size,
        8
    );
    let mut tampered = proof.clone();
    tampered.swap(0, 1);
    assert_err!(
        anchor.verify_consistency(&old, &new, &tampered, env.now()),
        RegistryError::Integrity(what) if what.starts_with("log fork")
    );
    assert_err!(
        anchor.verify_consistency(&new, &old, &proof, env.now()),
        RegistryError::Integrity(what) if what.starts_with("log fork")
    );
    assert_err!(
        anchor.verify_consistency(&old, &new, &proof[1..], env.now()),
        RegistryError::Integrity(_)
    );
}

#[tokio::test]
async fn cached_statement_drops_keys_past_their_logged_exp() {
    let env = env().await;
    env.entity(ISSUER, Role::Issuer).await;
    let signer = SoftwareSigner::generate().unwrap();
    let request = AdminKey {
        jwk: Value::from(signer.public_jwk().clone()),
        key_use: KeyUseName::Sig,
        alg: Some("ES256".into()),
        window: KeyWindow {
            nbf: None,
            exp: Some(T0 + 30),
        },
    };
    env.registry.add_key(ADMIN, ISSUER, request).await.unwrap();
    let client = env.client();
    assert_eq!(
        client
            .verification_keys(ISSUER, Role::Issuer)
            .await
            .unwrap()
            .keys
            .len(),
        1
    );

    // Still within refresh_after, so the cached statement answers; its key's logged exp has
    // passed, so the key is no longer offered.
    env.advance(30);
    assert_eq!(
        client
            .entity(ISSUER, Role::Issuer)
            .await
            .unwrap()
            .jwks()
            .keys
            .len(),
        1
    );
    assert!(
        client
            .verification_keys(ISSUER, Role::Issuer)
            .await
            .unwrap()
            .keys
            .is_empty()
    );
}

#[tokio::test]
async fn replayed_document_does_not_outlast_max_stale() {
    let env = env().await;
    let key = env.issuer().await;
    let (relay, mode, _) = relay_to(&env.server.url).await;
    let client = env.client_of(&relay.url);
    let replayed = env.registry.historical_keys(ISSUER).await.unwrap();
    client
        .key_valid_at(ISSUER, Role::Issuer, key.kid(), T0)
        .await
        .unwrap()
        .unwrap();

    // The key is revoked, and someone in between keeps answering with the old document. It
    // verifies (its exp is a day away), but it is never fresher than its iat.
    env.advance(HOUR);
    env.registry
        .revoke_key(ADMIN, ISSUER, key.kid(), RevocationReason::Compromised)
        .await
        .unwrap();
    *mode.lock().unwrap() = Mode::Replace("/historical-keys", replayed);
    client
        .key_valid_at(ISSUER, Role::Issuer, key.kid(), T0)
        .await
        .unwrap()
        .unwrap();
    env.advance(1);
    assert_err!(
        client.key_valid_at(ISSUER, Role::Issuer, key.kid(), T0).await,
        RegistryError::Unavailable(why) if why.contains("older than max_stale")
    );
    // Once the registry is heard again, the revocation is.
    *mode.lock().unwrap() = Mode::Relay;
    assert_eq!(
        client
            .key_valid_at(ISSUER, Role::Issuer, key.kid(), T0)
            .await
            .unwrap(),
        Err(KeyInvalid::Revoked)
    );
}

#[tokio::test]
async fn document_older_than_the_cached_one_is_a_rollback() {
    let env = env().await;
    let key = env.issuer().await;
    let (relay, mode, _) = relay_to(&env.server.url).await;
    let client = env.client_of(&relay.url);
    let before_revocation = env.registry.historical_keys(ISSUER).await.unwrap();

    env.advance(120);
    env.registry
        .revoke_key(ADMIN, ISSUER, key.kid(), RevocationReason::Compromised)
        .await
        .unwrap();
    assert_eq!(
        client
            .key_valid_at(ISSUER, Role::Issuer, key.kid(), T0)
            .await
            .unwrap(),
        Err(KeyInvalid::Revoked)
    );
    env.advance(120);
    *mode.lock().unwrap() = Mode::Replace("/historical-keys", before_revocation);
    assert_err!(
        client.key_valid_at(ISSUER, Role::Issuer, key.kid(), T0).await,
        RegistryError::Integrity(what) if what.starts_with("rollback")
    );
}
