//! What anyone may ask for without authenticating (a c_nonce, an attestation challenge, a DPoP
//! nonce) adds no database row: the values are stateless until a request spends them.
use immerse_jose::SoftwareSigner;
use serde_json::{Value, json};

use crate::support::*;

/// Requests per endpoint: enough that a row per request could not hide.
const CALLS: usize = 200;
const SCOPES: [&str; 3] = [
    "issuer:c-nonce",
    "issuer:attestation-challenge",
    "issuer:dpop-nonce",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_and_challenges_add_no_row_until_one_is_spent() {
    let env = start(|config| config.require_attestation_challenge = true).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..CALLS {
        for (path, member) in [
            ("/nonce", "c_nonce"),
            ("/challenge", "attestation_challenge"),
        ] {
            let response = env.http.post(env.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            assert!(seen.insert(body[member].as_str().unwrap().to_owned()));
        }
        assert!(seen.insert(env.issuer.dpop_nonce().await.unwrap()));
    }
    for scope in SCOPES {
        assert_eq!(env.store.replay_entries(scope).await.unwrap(), 0, "{scope}");
    }

    // A whole issuance spends one of each, and only those are recorded.
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let challenge = env.attestation_challenge().await;
    let pop = env.pop(&wallet, json!({"challenge": challenge})).await;
    let response = env
        .token_request(
            &wallet,
            &Env::code(&offer),
            TokenOpts {
                pop: Some(pop),
                ..Default::default()
            },
        )
        .await;
    let body = token_response(response).await;
    let token = body["access_token"].as_str().unwrap();
    let holder = SoftwareSigner::generate().unwrap();
    let proof = env
        .key_proof(&holder, &env.c_nonce().await, json!({}))
        .await;
    let (request, _) = encrypted_request(CONFIGURATION, &proof);
    let response = env.credential_request(&wallet, token, &request).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    // The token and the credential request each spent a DPoP nonce.
    for (scope, spent) in SCOPES.into_iter().zip([1, 1, 2]) {
        assert_eq!(
            env.store.replay_entries(scope).await.unwrap(),
            spent,
            "{scope}"
        );
    }
}
