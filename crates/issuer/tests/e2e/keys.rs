//! The issuer's key material: `x5c` on signed metadata, type metadata with integrity, and
//! signing-key rotation through the registry.
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine as _;
use immerse_issuer::{
    AS_METADATA_TYP, CertificateChain, Config, ConfigError, Issuer, IssuerError, KeyFactory,
    KeyFuture, KeyRotation, METADATA_TYP, SoftwareKeys,
};
use immerse_jose::{PublicJwk, Signer, SoftwareSigner, base64url, jwt};
use immerse_registry::client::{ClientOptions, RegistryClient};
use immerse_registry::model::{KeyStatus, Role};
use immerse_sd_jwt::{VcValidation, verify_vc};
use immerse_store::Store;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509, X509NameBuilder};
use serde_json::{Value, json};

use crate::support::*;

fn private_key(signer: &SoftwareSigner) -> PKey<Private> {
    PKey::private_key_from_pem(signer.to_pkcs8_pem().unwrap().as_bytes()).unwrap()
}

fn fresh_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A certificate for `subject_key`, signed by `issuer_key`, valid from `not_before` for
/// `days` days (unix seconds).
fn certificate(
    name: &str,
    issuer_name: &str,
    subject_key: &PKey<Private>,
    issuer_key: &PKey<Private>,
    not_before: i64,
    days: i64,
) -> X509 {
    let mut subject = X509NameBuilder::new().unwrap();
    subject.append_entry_by_text("CN", name).unwrap();
    let mut issuer = X509NameBuilder::new().unwrap();
    issuer.append_entry_by_text("CN", issuer_name).unwrap();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    let serial = BigNum::from_u32(7).unwrap().to_asn1_integer().unwrap();
    builder.set_serial_number(&serial).unwrap();
    builder.set_subject_name(&subject.build()).unwrap();
    builder.set_issuer_name(&issuer.build()).unwrap();
    builder.set_pubkey(subject_key).unwrap();
    builder
        .set_not_before(&Asn1Time::from_unix(not_before).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::from_unix(not_before + days * 86_400).unwrap())
        .unwrap();
    builder.sign(issuer_key, MessageDigest::sha256()).unwrap();
    builder.build()
}

/// Leaf (for `leaf_key`) then CA, as an operator's PEM file holds them.
fn chain_pem(leaf_key: &PKey<Private>, not_before: i64, days: i64) -> Vec<u8> {
    let ca_key = fresh_key();
    let ca = certificate("Issuer CA", "Issuer CA", &ca_key, &ca_key, not_before, days);
    let leaf = certificate(
        "issuer.test",
        "Issuer CA",
        leaf_key,
        &ca_key,
        not_before,
        days,
    );
    let mut pem = leaf.to_pem().unwrap();
    pem.extend(ca.to_pem().unwrap());
    pem
}

fn header_of(token: &str) -> Value {
    let first = token.split(['.', '~']).next().unwrap();
    serde_json::from_slice(&base64url::decode(first, "header").unwrap()).unwrap()
}

async fn signed(env: &Env, path: &str) -> String {
    env.http
        .get(env.url(path))
        .header("Accept", "application/jwt")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_metadata_carries_the_configured_chain_as_x5c() {
    let key = Arc::new(SoftwareSigner::generate().unwrap());
    let chain =
        CertificateChain::from_pem(&chain_pem(&private_key(&key), jwt::now() - 60, 30)).unwrap();
    let env = start_with_key(key.clone(), |config| config.x5c_chain = Some(chain)).await;
    let keys = env.issuer_keys().await;
    for (path, typ) in [
        ("/.well-known/openid-credential-issuer", METADATA_TYP),
        ("/.well-known/oauth-authorization-server", AS_METADATA_TYP),
    ] {
        let token = signed(&env, path).await;
        jwt::verify(&token, &jwt::Validation::new(typ), &keys).unwrap();
        let x5c = header_of(&token)["x5c"].as_array().unwrap().clone();
        assert_eq!(x5c.len(), 2, "{path}");
        // RFC 7515 s4.1.6: standard base64 (with padding, no url alphabet), leaf first.
        let der: Vec<Vec<u8>> = x5c
            .iter()
            .map(|cert| {
                base64::engine::general_purpose::STANDARD
                    .decode(cert.as_str().unwrap())
                    .unwrap()
            })
            .collect();
        let leaf = X509::from_der(&der[0]).unwrap();
        let leaf_key = PublicJwk::from_spki_pem(
            std::str::from_utf8(&leaf.public_key().unwrap().public_key_to_pem().unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(leaf_key.thumbprint(), key.public_jwk().thumbprint());
        let ca = X509::from_der(&der[1]).unwrap();
        assert!(leaf.verify(&ca.public_key().unwrap()).unwrap());
    }

    // Without a chain there is no x5c.
    let plain = start(|_| {}).await;
    let token = signed(&plain, "/.well-known/openid-credential-issuer").await;
    assert!(header_of(&token).get("x5c").is_none());
}

async fn issuer_with(config: Config, signer: Arc<dyn Signer>) -> Result<Issuer, IssuerError> {
    let registry = RegistryClient::new(
        "http://127.0.0.1:9",
        REGISTRY_ID,
        SoftwareSigner::generate().unwrap().public_jwk().clone(),
        ClientOptions::default(),
    )
    .unwrap();
    Issuer::new(
        config,
        Store::connect_in_memory().await.unwrap(),
        signer,
        registry,
    )
}

#[tokio::test]
async fn a_chain_that_does_not_certify_the_key_or_is_not_valid_now_refuses_to_start() {
    let key = Arc::new(SoftwareSigner::generate().unwrap());
    let now = jwt::now();
    let with_chain = |pem: Vec<u8>| {
        let mut config = Config::new(ISSUER);
        config.x5c_chain = Some(CertificateChain::from_pem(&pem).unwrap());
        config
    };
    let cases: [(Vec<u8>, ConfigError); 3] = [
        (
            chain_pem(&fresh_key(), now - 60, 30),
            ConfigError::ChainKeyMismatch,
        ),
        (
            chain_pem(&private_key(&key), now - 10 * 86_400, 5),
            ConfigError::ChainNotValidNow {
                index: 0,
                reason: "expired",
            },
        ),
        (
            chain_pem(&private_key(&key), now + 86_400, 30),
            ConfigError::ChainNotValidNow {
                index: 0,
                reason: "not yet valid",
            },
        ),
    ];
    for (pem, expected) in cases {
        match issuer_with(with_chain(pem), key.clone()).await {
            Err(IssuerError::Config(found)) => assert_eq!(found, expected),
            Err(other) => panic!("expected {expected:?}, got {other:?}"),
            Ok(_) => panic!("expected {expected:?}, the issuer started"),
        }
    }
    // A leaf followed by a CA that did not sign it is no chain.
    let other_ca = fresh_key();
    let pem = chain_pem(&private_key(&key), now - 60, 30);
    let mut leaf_only = X509::stack_from_pem(&pem).unwrap()[0].to_pem().unwrap();
    leaf_only.extend(
        certificate("Other CA", "Other CA", &other_ca, &other_ca, now - 60, 30)
            .to_pem()
            .unwrap(),
    );
    assert!(matches!(
        issuer_with(with_chain(leaf_only), key.clone()).await,
        Err(IssuerError::Config(ConfigError::ChainBroken { index: 0 }))
    ));
    assert!(CertificateChain::from_pem(b"not a certificate").is_err());
    // The well-formed chain starts.
    assert!(issuer_with(with_chain(pem), key).await.is_ok());
}

/// Offer, token, proof and credential request: one SD-JWT VC in clear.
async fn issue_one(env: &Env) -> String {
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let token = env.access_token(&wallet, &offer).await;
    let holder = SoftwareSigner::generate().unwrap();
    let proof = env
        .key_proof(&holder, &env.c_nonce().await, json!({}))
        .await;
    let body = json!({"credential_configuration_id": CONFIGURATION, "proofs": {"jwt": [proof]}});
    let response = env.credential_request(&wallet, &token, &body).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["credentials"][0]["credential"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn clear_responses(config: &mut Config) {
    config.response_encryption_required = false;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_type_metadata_hashes_to_the_vct_integrity_of_issued_credentials() {
    let env = start(|config| {
        clear_responses(config);
        config.type_metadata.insert(
            CONFIGURATION.into(),
            json!({"description": "Person identification data"})
                .as_object()
                .unwrap()
                .clone(),
        );
    })
    .await;
    // The vct is an https URL under the issuer: served at that very URL.
    let path = VCT.strip_prefix(ISSUER).unwrap();
    let response = env.http.get(env.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let bytes = response.bytes().await.unwrap();
    let document: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(document["vct"], VCT);
    assert_eq!(document["name"], "Person identification");
    assert_eq!(document["description"], "Person identification data");
    assert_eq!(document["claims"].as_array().unwrap().len(), 3);
    let expected = format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(openssl::sha::sha256(&bytes))
    );

    let credential = issue_one(&env).await;
    let vc = verify_vc(&credential, &VcValidation::new(), &env.issuer_keys().await).unwrap();
    assert_eq!(vc.sd_jwt().claims()["vct#integrity"], json!(expected));
    // Never selectively disclosable (SD-JWT VC draft): it is in the signed payload itself.
    let payload: Value = serde_json::from_slice(
        &base64url::decode(
            credential
                .split('~')
                .next()
                .unwrap()
                .split('.')
                .nth(1)
                .unwrap(),
            "payload",
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(payload["vct#integrity"], json!(expected));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vct_elsewhere_is_served_under_the_type_metadata_path() {
    let env = start(|config| config.configurations[0].vct = "urn:example:pid:1".into()).await;
    let document = env.issuer.type_metadata(CONFIGURATION).unwrap();
    assert_eq!(
        document.url,
        format!(
            "{ISSUER}/{}/{CONFIGURATION}",
            immerse_issuer::TYPE_METADATA_PREFIX
        )
    );
    let bytes = env
        .http
        .get(env.url(document.url.strip_prefix(ISSUER).unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), document.bytes.as_slice());
    // A configuration's vct may not take an endpoint's path.
    let mut config = Config::new(ISSUER);
    config.configurations = env.issuer.config().configurations.clone();
    config.configurations[0].vct = format!("{ISSUER}/token");
    assert!(matches!(
        issuer_with(config, Arc::new(SoftwareSigner::generate().unwrap())).await,
        Err(IssuerError::Config(ConfigError::TypeMetadata(_)))
    ));
}

fn rotation(env: &Env, keys: Arc<dyn KeyFactory>) -> KeyRotation {
    KeyRotation {
        registry_url: env.registry_url.clone(),
        keys,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_registers_the_new_key_retires_the_old_and_old_credentials_still_verify() {
    let env = start(clear_responses).await;
    env.issuer
        .enable_key_rotation(rotation(&env, Arc::new(SoftwareKeys)))
        .unwrap();
    let before = issue_one(&env).await;
    let old_kid = env.issuer.signer().kid().to_owned();
    assert_eq!(header_of(&before)["kid"], old_kid);

    let rotated = env.issuer.rotate_now().await.unwrap();
    assert_eq!(rotated.old_kid, old_kid);
    assert!(rotated.retired);
    assert_ne!(rotated.new_kid, old_kid);
    assert_eq!(env.issuer.signer().kid(), rotated.new_kid);

    // New credentials, status list tokens and signed metadata carry the new kid.
    let after = issue_one(&env).await;
    assert_eq!(header_of(&after)["kid"], rotated.new_kid);
    let metadata = signed(&env, "/.well-known/openid-credential-issuer").await;
    assert_eq!(header_of(&metadata)["kid"], rotated.new_kid);
    let index: Value = env
        .http
        .get(env.url("/.well-known/credential-status.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list_uri = index["status_lists"][0]["uri"].as_str().unwrap();
    let list = env
        .http
        .get(env.url(list_uri.strip_prefix(ISSUER).unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(header_of(&list)["kid"], rotated.new_kid);

    // The registry lists both keys: the old one retired, the new one active.
    let records = env.registry_service.keys(ISSUER).await.unwrap();
    let status_of = |kid: &str| {
        records
            .iter()
            .find(|record| record.kid == kid)
            .map(|record| record.status)
    };
    assert_eq!(status_of(&old_kid), Some(KeyStatus::Retired));
    assert_eq!(status_of(&rotated.new_kid), Some(KeyStatus::Active));
    assert!(
        records
            .iter()
            .find(|record| record.kid == old_kid)
            .unwrap()
            .retired_at
            .is_some()
    );

    // A verifier that asks the registry now accepts both credentials.
    let registry = env.fresh_registry_client();
    let keys = registry
        .verification_keys(ISSUER, Role::Issuer)
        .await
        .unwrap();
    let old = verify_vc(&before, &VcValidation::new(), &keys).unwrap();
    verify_vc(&after, &VcValidation::new(), &keys).unwrap();
    // And the old key was valid when the old credential was issued.
    assert!(
        registry
            .key_valid_at(ISSUER, Role::Issuer, &old_kid, old.iat().unwrap())
            .await
            .unwrap()
            .is_ok()
    );
    let historical = registry
        .historical_keys(ISSUER, Role::Issuer)
        .await
        .unwrap();
    let kids: Vec<&str> = historical.kids().collect();
    assert!(kids.contains(&old_kid.as_str()) && kids.contains(&rotated.new_kid.as_str()));
}

/// Generates keys but refuses to activate them.
struct FailingActivation;

impl KeyFactory for FailingActivation {
    fn generate(&self) -> KeyFuture<'_, Arc<dyn Signer>> {
        SoftwareKeys.generate()
    }

    fn activate<'a>(&'a self, _signer: &'a Arc<dyn Signer>) -> KeyFuture<'a, ()> {
        Box::pin(async { Err(IssuerError::Internal("the key store is full".into())) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_that_fails_before_the_switch_keeps_the_old_key_in_use() {
    let env = start(clear_responses).await;
    let old_kid = env.issuer.signer().kid().to_owned();
    // Registration fails: the registry is not where the issuer looks.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    env.issuer
        .enable_key_rotation(KeyRotation {
            registry_url: dead_url,
            ..rotation(&env, Arc::new(SoftwareKeys))
        })
        .unwrap();
    assert!(matches!(
        env.issuer.rotate_now().await,
        Err(IssuerError::KeyRotation(_))
    ));
    assert_eq!(env.issuer.signer().kid(), old_kid);
    let credential = issue_one(&env).await;
    assert_eq!(header_of(&credential)["kid"], old_kid);
    let records = env.registry_service.keys(ISSUER).await.unwrap();
    assert_eq!(records.len(), 1, "no key was registered");
    assert!(
        records
            .iter()
            .all(|record| record.status == KeyStatus::Active)
    );

    // The registry refuses a registration countersigned by a key it does not know.
    let stranger = Arc::new(SoftwareSigner::generate().unwrap());
    let refused = start_with_key(stranger.clone(), clear_responses).await;
    let impostor = issuer_on(
        &refused,
        Arc::new(SoftwareSigner::generate().unwrap()),
        jwt::now,
    )
    .await;
    impostor
        .enable_key_rotation(rotation(&refused, Arc::new(SoftwareKeys)))
        .unwrap();
    let impostor_kid = impostor.signer().kid().to_owned();
    match impostor.rotate_now().await {
        Err(IssuerError::KeyRotation(detail)) => assert!(detail.contains("refused"), "{detail}"),
        other => panic!("expected a refused registration, got {other:?}"),
    }
    assert_eq!(impostor.signer().kid(), impostor_kid);

    // Registered but not activated: still nothing switched.
    let env = start(clear_responses).await;
    let old_kid = env.issuer.signer().kid().to_owned();
    env.issuer
        .enable_key_rotation(rotation(&env, Arc::new(FailingActivation)))
        .unwrap();
    assert!(matches!(
        env.issuer.rotate_now().await,
        Err(IssuerError::Internal(_))
    ));
    assert_eq!(env.issuer.signer().kid(), old_kid);
    assert_eq!(
        header_of(&issue_one(&env).await)["kid"],
        old_kid,
        "credentials still signed by the old key"
    );
    let old = env
        .registry_service
        .keys(ISSUER)
        .await
        .unwrap()
        .into_iter()
        .find(|record| record.kid == old_kid)
        .unwrap();
    assert_eq!(old.status, KeyStatus::Active);
}

/// A second issuer on `env`'s registry and configuration, with `signer` and `clock`.
async fn issuer_on(
    env: &Env,
    signer: Arc<dyn Signer>,
    clock: impl Fn() -> i64 + Send + Sync + 'static,
) -> Issuer {
    Issuer::with_clock(
        env.issuer.config().clone(),
        Store::connect_in_memory().await.unwrap(),
        signer,
        env.fresh_registry_client(),
        clock,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_is_due_after_the_configured_interval_on_the_issuers_clock() {
    let key = Arc::new(SoftwareSigner::generate().unwrap());
    let env = start_with_key(key.clone(), |config| {
        config.key_rotation_interval = 3600;
    })
    .await;
    let now = Arc::new(AtomicI64::new(jwt::now()));
    let clock = now.clone();
    let issuer = issuer_on(&env, key.clone(), move || clock.load(Ordering::SeqCst)).await;
    // Not enabled: never due.
    assert_eq!(issuer.rotate_if_due().await.unwrap(), None);
    issuer
        .enable_key_rotation(rotation(&env, Arc::new(SoftwareKeys)))
        .unwrap();
    now.fetch_add(3599, Ordering::SeqCst);
    assert_eq!(issuer.rotate_if_due().await.unwrap(), None);
    assert_eq!(issuer.signer().kid(), key.kid());
    now.fetch_add(1, Ordering::SeqCst);
    let rotated = issuer.rotate_if_due().await.unwrap().unwrap();
    assert_eq!(rotated.old_kid, key.kid());
    assert_eq!(issuer.signer().kid(), rotated.new_kid);
    // The interval counts from the rotation.
    now.fetch_add(3599, Ordering::SeqCst);
    assert_eq!(issuer.rotate_if_due().await.unwrap(), None);
    now.fetch_add(1, Ordering::SeqCst);
    let again = issuer.rotate_if_due().await.unwrap().unwrap();
    assert_eq!(again.old_kid, rotated.new_kid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_settings_that_disagree_with_the_registry_are_refused() {
    let env = start(|config| config.key_retention = 24 * 3600).await;
    assert!(matches!(
        env.issuer
            .enable_key_rotation(rotation(&env, Arc::new(SoftwareKeys))),
        Err(IssuerError::Config(ConfigError::KeyRotation(_)))
    ));
    let env = start(|config| config.key_rotation_interval = 0).await;
    assert!(
        env.issuer
            .enable_key_rotation(rotation(&env, Arc::new(SoftwareKeys)))
            .is_err()
    );
    let env = start(|_| {}).await;
    assert!(matches!(
        env.issuer.rotate_now().await,
        Err(IssuerError::Config(ConfigError::KeyRotation(_)))
    ));
    env.issuer
        .enable_key_rotation(rotation(&env, Arc::new(SoftwareKeys)))
        .unwrap();
    assert!(
        env.issuer
            .enable_key_rotation(rotation(&env, Arc::new(SoftwareKeys)))
            .is_err(),
        "enabled twice"
    );
}
