//! Deferred issuance (OpenID4VCI 1.0 s9).
use immerse_jose::SoftwareSigner;
use immerse_sd_jwt::{VcValidation, verify_vc};
use serde_json::{Value, json};

use crate::support::*;

async fn poll(env: &Env, wallet: &Wallet, token: &str, transaction_id: &str) -> reqwest::Response {
    let dpop = env
        .dpop(&wallet.dpop, "/deferred_credential", Some(token), json!({}))
        .await;
    env.http
        .post(env.url("/deferred_credential"))
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", dpop)
        .json(&json!({"transaction_id": transaction_id}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_offer_answers_202_then_issues_once_when_ready() {
    let env = start(|config| config.response_encryption_required = false).await;
    let wallet = Wallet::new();
    let offer = env
        .offer(json!({
            "credential_configuration_ids": [CONFIGURATION],
            "claims": {"given_name": "Ada"},
            "deferred": true,
        }))
        .await;
    let token = env.access_token(&wallet, &offer).await;
    let holder = SoftwareSigner::generate().unwrap();
    let nonce = env.c_nonce().await;
    let proof = env.key_proof(&holder, &nonce, json!({})).await;
    let body = json!({"credential_configuration_id": CONFIGURATION, "proofs": {"jwt": [proof]}});
    let response = env.credential_request(&wallet, &token, &body).await;
    assert_eq!(response.status(), 202);
    let pending: Value = response.json().await.unwrap();
    let transaction_id = pending["transaction_id"].as_str().unwrap().to_owned();
    assert!(pending["interval"].as_i64().unwrap() > 0);

    // Not ready yet: 202 again.
    let response = poll(&env, &wallet, &token, &transaction_id).await;
    assert_eq!(response.status(), 202);

    let response = env
        .http
        .post(env.url(&format!("/admin/offers/{}/ready", offer.offer_id)))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = poll(&env, &wallet, &token, &transaction_id).await;
    assert_eq!(response.status(), 200);
    let issued: Value = response.json().await.unwrap();
    let text = issued["credentials"][0]["credential"].as_str().unwrap();
    let vc = verify_vc(text, &VcValidation::new(), &env.issuer_keys().await).unwrap();
    assert_eq!(
        vc.holder_key().unwrap().thumbprint(),
        immerse_jose::Signer::public_jwk(&holder).thumbprint()
    );

    // s9.3: a completed (or unknown) transaction is invalid_transaction_id.
    let response = poll(&env, &wallet, &token, &transaction_id).await;
    assert_error(response, 400, "invalid_transaction_id").await;
    let response = poll(&env, &wallet, &token, "made-up").await;
    assert_error(response, 400, "invalid_transaction_id").await;
}
