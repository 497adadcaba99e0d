//! Credential endpoint refusals (OpenID4VCI 1.0 s8.3.1.2, RFC 9449 s7): one bad input each,
//! the exact error, and nothing consumed that a retry needs.
use immerse_jose::jwe::DecryptionKey;
use immerse_jose::jws::SigningHeader;
use immerse_jose::{Curve, Signer, SoftwareSigner, jwt};
use serde_json::{Value, json};

use crate::support::*;

/// An issuer that does not require encryption, a wallet and its access token.
async fn ready() -> (Env, Wallet, String, immerse_issuer::CreatedOffer) {
    let env = start(|config| config.response_encryption_required = false).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let token = env.access_token(&wallet, &offer).await;
    (env, wallet, token, offer)
}

fn request(proofs: Vec<String>) -> Value {
    json!({"credential_configuration_id": CONFIGURATION, "proofs": {"jwt": proofs}})
}

/// A request with `nonce` and a fresh holder key succeeds: the nonce was not consumed.
async fn nonce_still_usable(env: &Env, wallet: &Wallet, token: &str, nonce: &str) {
    let holder = SoftwareSigner::generate().unwrap();
    let proof = env.key_proof(&holder, nonce, json!({})).await;
    let response = env
        .credential_request(wallet, token, &request(vec![proof]))
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_unknown_access_token_is_invalid_token() {
    let (env, wallet, _token, _) = ready().await;
    let response = env
        .http
        .post(env.url("/credential"))
        .json(&request(vec![]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        "DPoP error=\"invalid_token\""
    );
    assert_error(response, 401, "invalid_token").await;
    let response = env
        .credential_request(&wallet, "not-a-token", &request(vec![]))
        .await;
    assert_error(response, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_key_other_than_the_bound_one_is_invalid_dpop_proof() {
    let (env, wallet, token, _) = ready().await;
    let thief = Wallet::new();
    let response = env
        .credential_request(&thief, &token, &request(vec![]))
        .await;
    assert_error(response, 401, "invalid_dpop_proof").await;
    let _ = wallet;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_without_nonce_at_the_credential_endpoint_is_use_dpop_nonce() {
    let (env, wallet, token, _) = ready().await;
    let dpop = env
        .dpop(
            &wallet.dpop,
            "/credential",
            Some(&token),
            json!({"nonce": null}),
        )
        .await;
    let response = env
        .http
        .post(env.url("/credential"))
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", dpop)
        .json(&request(vec![]))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("dpop-nonce"));
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("use_dpop_nonce")
    );
    assert_error(response, 401, "use_dpop_nonce").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_with_wrong_audience_is_invalid_proof_and_keeps_the_nonce() {
    let (env, wallet, token, _) = ready().await;
    let nonce = env.c_nonce().await;
    let holder = SoftwareSigner::generate().unwrap();
    let proof = env
        .key_proof(&holder, &nonce, json!({"aud": "https://other.test"}))
        .await;
    let response = env
        .credential_request(&wallet, &token, &request(vec![proof]))
        .await;
    assert_error(response, 400, "invalid_proof").await;
    nonce_still_usable(&env, &wallet, &token, &nonce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_with_wrong_typ_or_two_key_references_is_invalid_proof() {
    let (env, wallet, token, _) = ready().await;
    let nonce = env.c_nonce().await;
    let holder = SoftwareSigner::generate().unwrap();
    let claims = json!({"aud": ISSUER, "iat": jwt::now(), "nonce": nonce});
    let wrong_typ = jwt::sign(&holder, &SigningHeader::new("JWT").embed_jwk(), &claims)
        .await
        .unwrap();
    let response = env
        .credential_request(&wallet, &token, &request(vec![wrong_typ]))
        .await;
    assert_error(response, 400, "invalid_proof").await;
    // F.1: exactly one of kid, jwk, x5c.
    let both = SigningHeader::new(immerse_issuer::PROOF_TYP)
        .embed_jwk()
        .with("kid", json!(holder.kid()));
    let both = jwt::sign(&holder, &both, &claims).await.unwrap();
    let response = env
        .credential_request(&wallet, &token, &request(vec![both]))
        .await;
    assert_error(response, 400, "invalid_proof").await;
    let old = env
        .key_proof(&holder, &nonce, json!({"iat": jwt::now() - 3600}))
        .await;
    let response = env
        .credential_request(&wallet, &token, &request(vec![old]))
        .await;
    assert_error(response, 400, "invalid_proof").await;
    nonce_still_usable(&env, &wallet, &token, &nonce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_not_issued_or_already_used_is_invalid_nonce() {
    let (env, wallet, token, _) = ready().await;
    let holder = SoftwareSigner::generate().unwrap();
    let proof = env.key_proof(&holder, "made-up", json!({})).await;
    let response = env
        .credential_request(&wallet, &token, &request(vec![proof]))
        .await;
    assert_error(response, 400, "invalid_nonce").await;
    let nonce = env.c_nonce().await;
    nonce_still_usable(&env, &wallet, &token, &nonce).await;
    let proof = env.key_proof(&holder, &nonce, json!({})).await;
    let response = env
        .credential_request(&wallet, &token, &request(vec![proof]))
        .await;
    assert_error(response, 400, "invalid_nonce").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_configuration_is_unknown_credential_configuration() {
    let (env, wallet, token, _) = ready().await;
    let body = json!({"credential_configuration_id": "nope", "proofs": {"jwt": []}});
    let response = env.credential_request(&wallet, &token, &body).await;
    assert_error(response, 400, "unknown_credential_configuration").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_identifier_is_unknown_credential_identifier() {
    let (env, wallet, token, _) = ready().await;
    let body = json!({"credential_identifier": "nope", "proofs": {"jwt": []}});
    let response = env.credential_request(&wallet, &token, &body).await;
    assert_error(response, 400, "unknown_credential_identifier").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_request_or_batch_over_batch_size_is_invalid_credential_request() {
    let (env, wallet, token, _) = ready().await;
    let body = json!({"proofs": {"jwt": []}});
    let response = env.credential_request(&wallet, &token, &body).await;
    assert_error(response, 400, "invalid_credential_request").await;
    let nonce = env.c_nonce().await;
    let mut proofs = Vec::new();
    for _ in 0..5 {
        let holder = SoftwareSigner::generate().unwrap();
        proofs.push(env.key_proof(&holder, &nonce, json!({})).await);
    }
    let response = env
        .credential_request(&wallet, &token, &request(proofs))
        .await;
    assert_error(response, 400, "invalid_credential_request").await;
    nonce_still_usable(&env, &wallet, &token, &nonce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_key_without_alg_or_missing_when_required_is_invalid_encryption_parameters() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let token = env.access_token(&wallet, &offer).await;
    let nonce = env.c_nonce().await;
    let holder = SoftwareSigner::generate().unwrap();
    let proof = env.key_proof(&holder, &nonce, json!({})).await;
    // Required by this issuer's metadata, and missing.
    let response = env
        .credential_request(&wallet, &token, &request(vec![proof.clone()]))
        .await;
    assert_error(response, 400, "invalid_encryption_parameters").await;
    let key = DecryptionKey::generate(Curve::P256).unwrap();
    let mut body = request(vec![proof.clone()]);
    body["credential_response_encryption"] = json!({"jwk": key.public_jwk(), "enc": "A128GCM"});
    let response = env.credential_request(&wallet, &token, &body).await;
    let error = assert_error(response, 400, "invalid_encryption_parameters").await;
    // Errors are never encrypted: this one came back as JSON.
    assert!(error["error_description"].is_string());
    // With alg the same nonce still works.
    let mut jwk = key.public_jwk().to_object();
    jwk.insert("alg".into(), "ECDH-ES".into());
    body["credential_response_encryption"] = json!({"jwk": jwk, "enc": "A128GCM"});
    let response = env.credential_request(&wallet, &token, &body).await;
    assert_eq!(response.status(), 200);
    let jwe = response.text().await.unwrap();
    let plain = key.decrypt(&jwe, &Default::default()).unwrap();
    assert_eq!(plain.header["enc"], "A128GCM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_after_the_offer_was_revoked_is_credential_request_denied() {
    let (env, wallet, token, offer) = ready().await;
    let response = env
        .http
        .post(env.url(&format!("/admin/offers/{}/status", offer.offer_id)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"status": "revoked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let nonce = env.c_nonce().await;
    let holder = SoftwareSigner::generate().unwrap();
    let proof = env.key_proof(&holder, &nonce, json!({})).await;
    let response = env
        .credential_request(&wallet, &token, &request(vec![proof]))
        .await;
    assert_error(response, 400, "credential_request_denied").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_whose_jwk_carries_a_private_key_is_invalid_proof() {
    let (env, wallet, token, _) = ready().await;
    let nonce = env.c_nonce().await;
    let holder = SoftwareSigner::generate().unwrap();
    let mut jwk = holder.public_jwk().to_object();
    jwk.remove("kid");
    // Any `d` member makes it a private key (RFC 7518 s6.2.2.1); the parser refuses it.
    jwk.insert("d".into(), json!("AAAA"));
    let header = json!({"alg": "ES256", "typ": immerse_issuer::PROOF_TYP, "jwk": jwk});
    let claims = json!({"aud": ISSUER, "iat": jwt::now(), "nonce": nonce});
    let mut token_text = immerse_jose::base64url::encode(header.to_string());
    token_text.push('.');
    token_text.push_str(&immerse_jose::base64url::encode(claims.to_string()));
    let signature = holder.sign(token_text.as_bytes()).await.unwrap();
    token_text.push('.');
    token_text.push_str(&immerse_jose::base64url::encode(signature));
    let response = env
        .credential_request(&wallet, &token, &request(vec![token_text]))
        .await;
    let body = assert_error(response, 400, "invalid_proof").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("private key member"),
        "{body}"
    );
    nonce_still_usable(&env, &wallet, &token, &nonce).await;
}
