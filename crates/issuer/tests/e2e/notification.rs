//! The notification endpoint (OpenID4VCI 1.0 s11).
use immerse_jose::SoftwareSigner;
use serde_json::{Value, json};

use crate::support::*;

async fn notify(env: &Env, wallet: &Wallet, token: &str, body: &Value) -> reqwest::Response {
    let dpop = env
        .dpop(&wallet.dpop, "/notification", Some(token), json!({}))
        .await;
    env.http
        .post(env.url("/notification"))
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", dpop)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_id_is_accepted_once_and_bad_requests_are_refused() {
    let env = start(|config| config.response_encryption_required = false).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let token = env.access_token(&wallet, &offer).await;
    let holder = SoftwareSigner::generate().unwrap();
    let nonce = env.c_nonce().await;
    let proof = env.key_proof(&holder, &nonce, json!({})).await;
    let body = json!({"credential_configuration_id": CONFIGURATION, "proofs": {"jwt": [proof]}});
    let response = env.credential_request(&wallet, &token, &body).await;
    assert_eq!(response.status(), 200);
    let issued: Value = response.json().await.unwrap();
    let id = issued["notification_id"].as_str().unwrap();

    // s11.3: an unknown event is invalid_notification_request, and spends nothing.
    let bad = json!({"notification_id": id, "event": "credential_sold"});
    let response = notify(&env, &wallet, &token, &bad).await;
    assert_error(response, 400, "invalid_notification_request").await;
    let unknown = json!({"notification_id": "made-up", "event": "credential_accepted"});
    let response = notify(&env, &wallet, &token, &unknown).await;
    assert_error(response, 400, "invalid_notification_id").await;

    let good = json!({"notification_id": id, "event": "credential_accepted"});
    let response = notify(&env, &wallet, &token, &good).await;
    assert_eq!(response.status(), 204);
    let response = notify(&env, &wallet, &token, &good).await;
    assert_error(response, 400, "invalid_notification_id").await;
}
