//! The sandbox starts every service enrolled and wired, and restarts each on its port over its
//! database.
use immerse_registry::model::Role;
use immerse_sandbox::{
    ATTESTER_ID, ISSUER_ID, Sandbox, Service, VERIFIER_ALLOWED_CLAIMS, VERIFIER_ID,
};

async fn enrolled_roles(sandbox: &Sandbox) -> Vec<(String, Role, usize)> {
    let registry = sandbox.registry_client().unwrap();
    let mut roles = Vec::new();
    for (id, role) in [
        (ATTESTER_ID, Role::Attester),
        (ISSUER_ID, Role::Issuer),
        (VERIFIER_ID, Role::Verifier),
    ] {
        // Asking for the role the sandbox meant: another one would be `WrongRole`.
        let entity = registry.entity(id, role).await.unwrap();
        let keys = registry
            .verification_keys(id, role)
            .await
            .unwrap()
            .keys
            .len();
        roles.push((id.to_owned(), entity.role(), keys));
    }
    roles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entity_is_enrolled_with_its_key_and_survives_restarts() {
    let mut sandbox = Sandbox::start().await.unwrap();
    let expected = vec![
        (ATTESTER_ID.to_owned(), Role::Attester, 1),
        (ISSUER_ID.to_owned(), Role::Issuer, 1),
        (VERIFIER_ID.to_owned(), Role::Verifier, 1),
    ];
    assert_eq!(enrolled_roles(&sandbox).await, expected);
    let verifier = sandbox
        .registry_client()
        .unwrap()
        .entity(VERIFIER_ID, Role::Verifier)
        .await
        .unwrap();
    let allowed: Vec<String> = verifier
        .allowances()
        .claims
        .iter()
        .map(|claim| claim.path.join("."))
        .collect();
    assert_eq!(allowed, VERIFIER_ALLOWED_CLAIMS);
    assert!(sandbox.a_key_is_software());
    assert!(
        sandbox
            .verifier_client_id()
            .unwrap()
            .starts_with("x509_hash:")
    );

    let urls: Vec<String> = Service::ALL.iter().map(|&s| sandbox.url(s)).collect();
    sandbox.restart(Service::Registry).await.unwrap();
    assert_eq!(enrolled_roles(&sandbox).await, expected);
    // The issuer's and a software A-Key's in-memory keys are replaced: the new key is
    // enrolled, the old one retired (still valid for what it signed, for the retention).
    sandbox.restart(Service::Issuer).await.unwrap();
    sandbox.restart(Service::Attestation).await.unwrap();
    sandbox.restart(Service::Verifier).await.unwrap();
    let after = enrolled_roles(&sandbox).await;
    assert_eq!(after[0].2, 2, "attester keys: {after:?}");
    assert_eq!(after[1].2, 2, "issuer keys: {after:?}");
    assert_eq!(after[2].2, 1, "verifier keys: {after:?}");
    let again: Vec<String> = Service::ALL.iter().map(|&s| sandbox.url(s)).collect();
    assert_eq!(urls, again);
    for service in Service::ALL {
        assert!(sandbox.is_running(service));
        let response = reqwest::get(sandbox.url(service)).await;
        assert!(response.is_ok(), "{service:?} does not answer");
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_service_frees_its_port_and_comes_back_on_it() {
    let mut sandbox = Sandbox::start().await.unwrap();
    let url = sandbox.url(Service::Issuer);
    sandbox.stop(Service::Issuer).await;
    assert!(!sandbox.is_running(Service::Issuer));
    assert!(reqwest::get(format!("{url}/nonce")).await.is_err());
    sandbox.restart(Service::Issuer).await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{url}/nonce"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_go_through_the_issuer_admin_api() {
    let sandbox = Sandbox::start().await.unwrap();
    let offer = sandbox
        .create_offer(serde_json::json!({"given_name": "Ada"}), true, true)
        .await
        .unwrap();
    assert_eq!(offer.tx_code.as_deref().map(str::len), Some(6));
    assert!(
        offer
            .offer_uri
            .starts_with("openid-credential-offer://?credential_offer_uri=")
    );
    sandbox
        .set_credential_status(&offer.offer_id, "suspended")
        .await
        .unwrap();
}
