//! A failed request spends nothing the specification does not say it spends: each recoverable
//! error of the token endpoint, retried as a wallet would (the same client attestation and PoP
//! where the error did not concern them, a fresh DPoP proof), succeeds.
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recoverable_token_errors_retried_with_the_same_pop_succeed() {
    // (what the first request lacks, the error it gets)
    let cases = ["use_dpop_nonce", "use_attestation_challenge"];
    for expected in cases {
        let env = start(|config| config.require_attestation_challenge = true).await;
        let wallet = Wallet::new();
        let offer = env.simple_offer().await;
        let challenge = |env: &Env| {
            let request = env.http.post(env.url("/challenge")).send();
            async move {
                let body: Value = request.await.unwrap().json().await.unwrap();
                body["attestation_challenge"].as_str().unwrap().to_owned()
            }
        };
        let attestation = env.attestation(&wallet, "sev-snp").await;
        let first_pop = match expected {
            "use_dpop_nonce" => {
                let challenge = challenge(&env).await;
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
                let challenge = challenge(&env).await;
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
