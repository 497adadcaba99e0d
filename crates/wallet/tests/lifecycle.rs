//! The credential lifecycle across restarts and time: each service restarted mid-flow keeps
//! what must survive (registry, replay caches, issued-credential status) and loses its
//! in-memory keys; expired credentials are swept; no key reaches the disk.
mod support;

use std::time::Duration;

use immerse_jose::base64url;
use immerse_sandbox::{Sandbox, Service};
use immerse_wallet::{Status, StoredCredential, WalletError};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_each_service_mid_flow_keeps_state_that_must_survive() {
    let mut sandbox = Sandbox::start().await.unwrap();
    let wallet = wallet(&sandbox);
    let first = sandbox.create_offer(ada(), false, false).await.unwrap();
    let issued = wallet.accept_offer(&first.offer_uri, None).await.unwrap();
    let credential = &issued[0];

    // Issuer: a new signing key (the old one is retired, still valid for what it signed); the
    // status of what it issued and the spent pre-authorized code survive.
    sandbox.restart(Service::Issuer).await.unwrap();
    assert_eq!(
        wallet.check_status(credential).await.unwrap(),
        Status::Valid
    );
    let err = wallet
        .accept_offer(&first.offer_uri, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WalletError::Refused { error, .. } if error == "invalid_grant"),
        "a code spent before the restart was accepted after it: {err}"
    );
    let second = sandbox.create_offer(ada(), false, false).await.unwrap();
    let reissued = wallet.accept_offer(&second.offer_uri, None).await.unwrap();
    assert_ne!(
        issuer_kid(&reissued[0]),
        issuer_kid(credential),
        "the issuer's in-memory key survived its restart"
    );

    // Registry: entities and keys survive; the same root key still anchors them.
    sandbox.restart(Service::Registry).await.unwrap();
    let third = sandbox.create_offer(ada(), false, false).await.unwrap();
    wallet.accept_offer(&third.offer_uri, None).await.unwrap();

    // Attestation Service: a software A-Key is replaced and re-enrolled; issued challenges
    // live in its database.
    sandbox.restart(Service::Attestation).await.unwrap();
    let fourth = sandbox.create_offer(ada(), false, false).await.unwrap();
    wallet.accept_offer(&fourth.offer_uri, None).await.unwrap();

    // Verifier: comes back on its port with its database.
    sandbox.restart(Service::Verifier).await.unwrap();
    assert!(sandbox.is_running(Service::Verifier));

    // Revocation after all the restarts reaches the first credential.
    sandbox
        .set_credential_status(&first.offer_id, "revoked")
        .await
        .unwrap();
    assert_eq!(
        wallet.check_status(credential).await.unwrap(),
        Status::Invalid
    );
    assert_eq!(wallet.credentials().len(), 4);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_issuer_makes_status_unavailable_not_valid() {
    let mut sandbox = Sandbox::start().await.unwrap();
    let wallet = wallet(&sandbox);
    let offer = sandbox.create_offer(ada(), false, false).await.unwrap();
    let issued = wallet.accept_offer(&offer.offer_uri, None).await.unwrap();
    sandbox.stop(Service::Issuer).await;
    let err = wallet.check_status(&issued[0]).await.unwrap_err();
    assert!(matches!(err, WalletError::Unreachable { .. }), "{err}");
}

fn issuer_kid(credential: &StoredCredential) -> String {
    let header = credential.sd_jwt.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&base64url::decode(header, "header").unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expiry_task_removes_expired_credentials() {
    let sandbox = Sandbox::start().await.unwrap();
    let wallet = wallet(&sandbox);
    let offer = sandbox.create_offer(ada(), false, false).await.unwrap();
    let mut credential = wallet.accept_offer(&offer.offer_uri, None).await.unwrap()[0].clone();
    credential.id = "expired".into();
    credential.expires_at = Some(wallet.now() - 1);
    wallet.credentials().insert(credential);
    assert_eq!(wallet.credentials().len(), 2);

    let task = wallet.spawn_expiry_task(Duration::from_millis(10));
    let swept = tokio::time::timeout(Duration::from_secs(30), async {
        while wallet.credentials().get("expired").is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    task.abort();
    assert!(swept.is_ok(), "the expired credential was never removed");
    assert_eq!(wallet.credentials().len(), 1);
}

/// Every encoding of the private scalar `d` of `key` that could land in a file.
fn private_forms(key: &immerse_jose::SoftwareSigner) -> Vec<Vec<u8>> {
    let pem = key.to_pkcs8_pem().unwrap();
    let private = openssl::pkey::PKey::private_key_from_pem(pem.as_bytes()).unwrap();
    let d = private.ec_key().unwrap().private_key().to_vec();
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    vec![
        d.clone(),
        base64url::encode(&d).into_bytes(),
        hex_lower(&d).into_bytes(),
        body.into_bytes(),
    ]
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_key_shaped_reaches_the_disk() {
    let mut sandbox = Sandbox::start().await.unwrap();
    let wallet = wallet(&sandbox);
    let offer = sandbox.create_offer(ada(), true, true).await.unwrap();
    let issued = wallet
        .accept_offer(&offer.offer_uri, offer.tx_code.as_deref())
        .await
        .unwrap();
    // Flush every write-ahead log into its database file.
    for service in Service::ALL {
        sandbox.stop(service).await;
    }
    let forms = private_forms(&issued[0].holder_key);
    let mut scanned = 0;
    for entry in std::fs::read_dir(sandbox.dir()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        scanned += 1;
        for form in &forms {
            assert!(
                !bytes.windows(form.len()).any(|window| window == form),
                "the holder key is in {}",
                path.display()
            );
        }
        // No private JWK (of the CI-Key, a holder key, anyone's) and no PEM private key.
        for marker in [&b"\"d\":\""[..], b"\"d\": \"", b"PRIVATE KEY"] {
            assert!(
                !bytes.windows(marker.len()).any(|window| window == marker),
                "{} holds something key-shaped",
                path.display()
            );
        }
    }
    assert!(
        scanned >= 4,
        "expected the four databases, found {scanned} files"
    );
}
