//! A failed request spends nothing the specification does not say it spends: each recoverable
//! error of the token and credential endpoints, retried as a wallet would (the same client
//! attestation, PoP and c_nonce where the error did not concern them, a fresh DPoP proof),
//! succeeds.
use serde_json::json;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recoverable_token_errors_retried_with_the_same_pop_succeed() {
    // (what the first request lacks, the error it gets)
    let cases = ["use_dpop_nonce", "use_attestation_challenge"];
    for expected in cases {
        let env = start(|config| config.require_attestation_challenge = true).await;
        let wallet = Wallet::new();
        let offer = env.simple_offer().await;
        let attestation = env.attestation(&wallet, "sev-snp").await;
        let first_pop = match expected {
            "use_dpop_nonce" => {
                let challenge = env.attestation_challenge().await;
                env.pop(&wallet, json!({"challenge": challenge})).await
            }
            _ => env.pop(&wallet, json!({"challenge": "never-issued"})).await,
        };
        let first_dpop = match expected {
            "use_dpop_nonce" => {
                env.dpop(&wallet.dpop, "/token", None, json!({"nonce": null}))
                    .await
            }
            _ => env.dpop(&wallet.dpop, "/token", None, json!({})).await,
        };
        let response = env
            .token_request(
                &wallet,
                &Env::code(&offer),
                TokenOpts {
                    attestation: Some(attestation.clone()),
                    pop: Some(first_pop.clone()),
                    dpop: Some(first_dpop),
                    ..Default::default()
                },
            )
            .await;
        assert_error(response, 400, expected).await;
        // The retry: the same PoP after use_dpop_nonce (its challenge and jti were not
        // spent), a PoP with a fresh challenge after use_attestation_challenge.
        let retry_pop = match expected {
            "use_dpop_nonce" => first_pop,
            _ => {
                let challenge = env.attestation_challenge().await;
                env.pop(&wallet, json!({"challenge": challenge})).await
            }
        };
        let response = env
            .token_request(
                &wallet,
                &Env::code(&offer),
                TokenOpts {
                    attestation: Some(attestation),
                    pop: Some(retry_pop),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(
            response.status(),
            200,
            "retry after {expected}: {:?}",
            response.text().await
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recoverable_credential_errors_retried_as_a_wallet_would_succeed() {
    use immerse_jose::SoftwareSigner;

    for expected in ["use_dpop_nonce", "invalid_nonce"] {
        let env = start(|_| {}).await;
        let wallet = Wallet::new();
        let offer = env.simple_offer().await;
        let token = env.access_token(&wallet, &offer).await;
        let holder = SoftwareSigner::generate().unwrap();
        let request = |proof: String| encrypted_request(CONFIGURATION, &proof).0;
        let c_nonce = env.c_nonce().await;
        let first = match expected {
            // A good key proof, a DPoP proof without the server's nonce.
            "use_dpop_nonce" => {
                let proof = env.key_proof(&holder, &c_nonce, json!({})).await;
                let dpop = env
                    .dpop(
                        &wallet.dpop,
                        "/credential",
                        Some(&token),
                        json!({"nonce": null}),
                    )
                    .await;
                env.http
                    .post(env.url("/credential"))
                    .header("Authorization", format!("DPoP {token}"))
                    .header("DPoP", dpop)
                    .json(&request(proof))
                    .send()
                    .await
                    .unwrap()
            }
            // A key proof over a c_nonce the issuer never gave.
            _ => {
                let proof = env.key_proof(&holder, "never-issued", json!({})).await;
                env.credential_request(&wallet, &token, &request(proof))
                    .await
            }
        };
        // RFC 9449 s9: at a resource server the nonce is asked for with 401.
        let status = if expected == "use_dpop_nonce" {
            401
        } else {
            400
        };
        assert_error(first, status, expected).await;
        // The retry: the same c_nonce after use_dpop_nonce (the failed request spent nothing),
        // a fresh one after invalid_nonce; always a fresh DPoP proof.
        let retry_nonce = match expected {
            "use_dpop_nonce" => c_nonce,
            _ => env.c_nonce().await,
        };
        let proof = env.key_proof(&holder, &retry_nonce, json!({})).await;
        let response = env
            .credential_request(&wallet, &token, &request(proof))
            .await;
        assert_eq!(
            response.status(),
            200,
            "retry after {expected}: {:?}",
            response.text().await
        );
    }
}
