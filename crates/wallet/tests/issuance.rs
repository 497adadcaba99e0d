//! Issuance against the sandbox's real services on loopback: the whole pre-authorized flow
//! with an attested wallet and encrypted request and response, and each refusal.
mod support;

use immerse_sandbox::{CONFIGURATION_ID, ISSUER_ID, Sandbox, VCT};
use immerse_wallet::{Status, WalletError};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_by_reference_with_tx_code_yields_a_verified_stored_credential() {
    let sandbox = Sandbox::start().await.unwrap();
    let wallet = wallet(&sandbox);
    let offer = sandbox.create_offer(ada(), true, true).await.unwrap();
    assert!(offer.offer_uri.contains("credential_offer_uri="));

    let issued = wallet
        .accept_offer(&offer.offer_uri, offer.tx_code.as_deref())
        .await
        .expect("issued");
    assert_eq!(issued.len(), 1);
    let credential = &issued[0];
    assert_eq!(credential.issuer, ISSUER_ID);
    assert_eq!(credential.vct, VCT);
    assert_eq!(credential.configuration_id, CONFIGURATION_ID);
    assert_eq!(credential.claims["given_name"], "Ada");
    assert_eq!(credential.claims["department"], "Analytical Engines");
    assert!(credential.expires_at.unwrap() > credential.issued_at);
    // cnf.jwk is the Holder Key the wallet keeps for this credential.
    let cnf = immerse_jose::PublicJwk::try_from(credential.claims["cnf"]["jwk"].clone()).unwrap();
    assert_eq!(
        cnf.thumbprint(),
        immerse_jose::Signer::public_jwk(&*credential.holder_key).thumbprint()
    );
    assert_eq!(wallet.credentials().len(), 1);
    assert!(wallet.credentials().get(&credential.id).is_some());

    assert_eq!(
        wallet.check_status(credential).await.unwrap(),
        Status::Valid
    );
    sandbox
        .set_credential_status(&offer.offer_id, "revoked")
        .await
        .unwrap();
    assert_eq!(
        wallet.check_status(credential).await.unwrap(),
        Status::Invalid
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_credential_gets_its_own_holder_key_and_offers_by_value_work() {
    let sandbox = Sandbox::start().await.unwrap();
    let wallet = wallet(&sandbox);
    let mut holders = Vec::new();
    for _ in 0..2 {
        let offer = sandbox.create_offer(ada(), false, false).await.unwrap();
        assert!(offer.offer_uri.contains("credential_offer="));
        let issued = wallet.accept_offer(&offer.offer_uri, None).await.unwrap();
        holders.push(immerse_jose::Signer::public_jwk(&*issued[0].holder_key).thumbprint());
    }
    assert_ne!(holders[0], holders[1]);
    assert_eq!(wallet.credentials().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_tx_code_is_refused_and_nothing_is_stored() {
    let sandbox = Sandbox::start().await.unwrap();
    let wallet = wallet(&sandbox);
    let offer = sandbox.create_offer(ada(), true, false).await.unwrap();
    let err = wallet
        .accept_offer(&offer.offer_uri, None)
        .await
        .unwrap_err();
    assert!(matches!(err, WalletError::TxCodeRequired(_)), "{err}");
    let err = wallet
        .accept_offer(&offer.offer_uri, Some("000000x"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WalletError::Refused { error, status: 400, .. } if error == "invalid_grant"),
        "{err}"
    );
    assert!(wallet.credentials().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_outside_the_admitted_measurement_gets_no_attestation_and_no_credential() {
    let sandbox = Sandbox::start().await.unwrap();
    let evidence = sandbox.evidence_provider_measuring([0x0B; 48]).unwrap();
    let wallet = immerse_wallet::Wallet::new(config(&sandbox, evidence)).unwrap();
    let offer = sandbox.create_offer(ada(), false, false).await.unwrap();
    let err = wallet
        .accept_offer(&offer.offer_uri, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WalletError::Attestation { error, .. } if error == "access_denied"),
        "{err}"
    );
    assert!(wallet.credentials().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_offers_are_refused() {
    let sandbox = Sandbox::start().await.unwrap();
    let wallet = wallet(&sandbox);
    for uri in [
        "openid-credential-offer://?nothing=1",
        "openid-credential-offer://?credential_offer=%7Bnot-json",
        "openid-credential-offer://?credential_offer=%7B%7D&credential_offer_uri=https%3A%2F%2Fissuer.sandbox.immerse.test%2Foffers%2Fx",
        // Plain http outside loopback.
        "openid-credential-offer://?credential_offer_uri=http%3A%2F%2Fissuer.example%2Foffers%2Fx",
    ] {
        let err = wallet.accept_offer(uri, None).await.unwrap_err();
        assert!(matches!(err, WalletError::InvalidOffer(_)), "{uri}: {err}");
    }
}

/// `immerse wallet accept-offer` drives this API of a running wallet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loopback_api_runs_issuance_for_its_bearer_only() {
    use immerse_wallet::http::{ConsentPage, bind_loopback, serve};
    use immerse_wallet::{Presenter, VerifierDirectory};
    let sandbox = Sandbox::start().await.unwrap();
    let presenter = std::sync::Arc::new(Presenter::new(
        wallet(&sandbox),
        VerifierDirectory::default(),
    ));
    let listener = bind_loopback(([127, 0, 0, 1], 0).into()).await.unwrap();
    let address = listener.local_addr().unwrap();
    let page = std::sync::Arc::new(ConsentPage::new(presenter.clone(), address).unwrap());
    let secret = page.secret().to_owned();
    tokio::spawn(serve(listener, page));
    let http = reqwest::Client::new();
    let offers = format!("http://{address}/api/v1/offers");
    let offer = sandbox.create_offer(ada(), true, false).await.unwrap();
    let body = serde_json::json!({"offer_uri": offer.offer_uri, "tx_code": offer.tx_code});

    let anonymous = http.post(&offers).json(&body).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let without_code = http
        .post(&offers)
        .bearer_auth(&secret)
        .json(&serde_json::json!({"offer_uri": offer.offer_uri}))
        .send()
        .await
        .unwrap();
    assert_eq!(without_code.status(), 400);
    let refusal: serde_json::Value = without_code.json().await.unwrap();
    assert_eq!(refusal["error"], "tx_code_required");
    assert!(presenter.wallet().credentials().is_empty());

    let issued = http
        .post(&offers)
        .bearer_auth(&secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), 201);
    let issued: serde_json::Value = issued.json().await.unwrap();
    assert_eq!(issued[0]["vct"], VCT);
    assert_eq!(issued[0]["claims"]["given_name"], "Ada");
    assert!(
        !issued.to_string().contains("\"d\""),
        "no private key member in what the API shows"
    );
    assert_eq!(presenter.wallet().credentials().len(), 1);
}
