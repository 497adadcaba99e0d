//! The A-Key lives in a SoftHSM2 token and is published through the Key Registry; a wallet's
//! verifier trusts the attestation JWT only through that registry.
use std::io::Write;
use std::sync::Arc;

use immerse_attestation::identity::KubernetesIdentity;
use immerse_attestation::mint::{Attested, CLIENT_ATTESTATION_TYP, mint};
use immerse_jose::pkcs11::{
    DEFAULT_MODULE, PinSource, Pkcs11Config, Pkcs11Signer, init_softhsm_token,
};
use immerse_jose::{Signer, SoftwareSigner, jwt};
use immerse_registry::client::{ClientOptions, RegistryClient};
use immerse_registry::model::Role;
use immerse_registry::{AdminKey, Config, NewEntity, Registry};
use immerse_store::Store;
use serde_json::json;

const REGISTRY_ID: &str = "https://registry.test";
const ATTESTER: &str = "https://attester.test";

/// The A-Key on a fresh SoftHSM2 token, or `None` (announced) where SoftHSM2 is missing and
/// IMMERSE_REQUIRE_PKCS11 is not set.
fn a_key(dir: &std::path::Path) -> Option<Pkcs11Signer> {
    if !std::path::Path::new(DEFAULT_MODULE).exists() {
        if std::env::var("IMMERSE_REQUIRE_PKCS11").as_deref() == Ok("1") {
            panic!("IMMERSE_REQUIRE_PKCS11=1 but {DEFAULT_MODULE} is missing");
        }
        let _ = writeln!(
            std::io::stderr(),
            "*** SKIPPED: A-Key test: {DEFAULT_MODULE} is missing ***"
        );
        return None;
    }
    let conf = init_softhsm_token(dir, "attester", "1234").unwrap();
    // SAFETY: the only test in this binary; set before the module is loaded.
    unsafe { std::env::set_var("SOFTHSM2_CONF", conf) };
    let pin = dir.join("pin");
    std::fs::write(&pin, "1234").unwrap();
    Some(
        Pkcs11Signer::generate(&Pkcs11Config::softhsm(
            "attester",
            "a-key",
            PinSource::File(pin),
        ))
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestation_jwt_verifies_with_the_a_key_published_in_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let Some(a_key) = a_key(dir.path()) else {
        return;
    };
    let a_key: Arc<dyn Signer> = Arc::new(a_key);

    let root = Arc::new(SoftwareSigner::generate().unwrap());
    let registry = Registry::new(
        Store::connect_in_memory().await.unwrap(),
        root.clone(),
        Config::new(REGISTRY_ID),
    );
    registry
        .create_entity(
            "admin:test",
            NewEntity {
                id: ATTESTER.into(),
                role: Role::Attester,
                display_name: "Attester".into(),
                allowances: Default::default(),
            },
        )
        .await
        .unwrap();
    let request: AdminKey =
        serde_json::from_value(json!({"jwk": a_key.public_jwk(), "alg": "ES256"})).unwrap();
    registry
        .add_key("admin:test", ATTESTER, request)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        async move { axum::serve(listener, immerse_registry::http::router(registry)).await },
    );

    let instance = SoftwareSigner::generate().unwrap();
    let identity = KubernetesIdentity {
        namespace: "cvm-wallets".into(),
        service_account: "wallet".into(),
    };
    let now = jwt::now();
    let attested = Attested {
        client_id: "wallet-client",
        instance_key: instance.public_jwk(),
        identity: &identity,
        tee: None,
    };
    let token = mint(&*a_key, ATTESTER, &attested, now, 300).await.unwrap();

    let client = RegistryClient::new(
        format!("http://{address}"),
        REGISTRY_ID,
        root.public_jwk().clone(),
        ClientOptions::default(),
    )
    .unwrap();
    let keys = client
        .verification_keys(ATTESTER, Role::Attester)
        .await
        .expect("verified statement");
    let validation = jwt::Validation::new(CLIENT_ATTESTATION_TYP).issuer(ATTESTER);
    let verified =
        jwt::verify(&token, &validation, &keys).expect("the JWT verifies with the registry's key");
    assert_eq!(verified.claims["sub"], "wallet-client");

    // A JWT from any other key is refused through the same registry answer.
    let impostor = SoftwareSigner::generate().unwrap();
    let forged = mint(&impostor, ATTESTER, &attested, now, 300)
        .await
        .unwrap();
    assert!(matches!(
        jwt::verify(&forged, &validation, &keys),
        Err(immerse_jose::Error::UnknownKey(_))
    ));
}
