//! Token endpoint refusals (OpenID4VCI 1.0 s6.3, RFC 6749 s5.2, RFC 9449, the attestation
//! draft): one bad input each, the exact error, and a valid code that survives where it must.
use immerse_jose::{SoftwareSigner, jwt};
use serde_json::json;

use crate::support::*;

/// The code still works: a failed request did not burn it.
async fn code_still_redeemable(env: &Env, wallet: &Wallet, code: &str, tx_code: Option<&str>) {
    let response = env
        .token_request(
            wallet,
            code,
            TokenOpts {
                tx_code,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_grant_type_is_unsupported_grant_type() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let response = env
        .token_request(
            &wallet,
            &Env::code(&offer),
            TokenOpts {
                grant_type: Some("client_credentials"),
                ..Default::default()
            },
        )
        .await;
    assert_error(response, 400, "unsupported_grant_type").await;
    code_still_redeemable(&env, &wallet, &Env::code(&offer), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_tx_code_is_invalid_request_and_spends_no_attempt() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env
        .offer(json!({"credential_configuration_ids": [CONFIGURATION], "claims": {}, "tx_code_length": 6}))
        .await;
    let response = env
        .token_request(&wallet, &Env::code(&offer), TokenOpts::default())
        .await;
    assert_error(response, 400, "invalid_request").await;
    code_still_redeemable(&env, &wallet, &Env::code(&offer), offer.tx_code.as_deref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_tx_code_is_invalid_grant_and_the_last_attempt_kills_the_code() {
    let env = start(|config| config.tx_code_attempts = 2).await;
    let wallet = Wallet::new();
    let offer = env
        .offer(json!({"credential_configuration_ids": [CONFIGURATION], "claims": {}, "tx_code_length": 6}))
        .await;
    let code = Env::code(&offer);
    let right = offer.tx_code.clone().unwrap();
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..2 {
        let opts = TokenOpts {
            tx_code: Some(wrong),
            ..Default::default()
        };
        let response = env.token_request(&wallet, &code, opts).await;
        assert_error(response, 400, "invalid_grant").await;
    }
    // OpenID4VCI 1.0 s13.6.1: after the allowed attempts the code is dead, even with the
    // right tx_code.
    let opts = TokenOpts {
        tx_code: Some(&right),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &code, opts).await;
    assert_error(response, 400, "invalid_grant").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_or_unknown_code_is_invalid_grant() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    env.access_token(&wallet, &offer).await;
    let response = env
        .token_request(&wallet, &Env::code(&offer), TokenOpts::default())
        .await;
    assert_error(response, 400, "invalid_grant").await;
    let response = env
        .token_request(&wallet, "no-such-code", TokenOpts::default())
        .await;
    assert_error(response, 400, "invalid_grant").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_client_attestation_is_invalid_client_and_keeps_the_code() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let opts = TokenOpts {
        skip_attestation: true,
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_error(response, 401, "invalid_client").await;
    code_still_redeemable(&env, &wallet, &Env::code(&offer), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestation_not_signed_by_a_registered_attester_key_is_invalid_client() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let impostor = SoftwareSigner::generate().unwrap();
    let attestation = env
        .attestation_with(&impostor, &wallet, "sev-snp", 300)
        .await;
    let opts = TokenOpts {
        attestation: Some(attestation),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_error(response, 401, "invalid_client").await;
    code_still_redeemable(&env, &wallet, &Env::code(&offer), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_attestation_is_invalid_client() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let attestation = env
        .attestation_with(&*env.attester, &wallet, "sev-snp", -120)
        .await;
    let opts = TokenOpts {
        attestation: Some(attestation),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_error(response, 401, "invalid_client").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tee_none_is_refused_by_default_policy() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let attestation = env.attestation(&wallet, "none").await;
    let opts = TokenOpts {
        attestation: Some(attestation),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_error(response, 401, "invalid_client").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop_with_wrong_audience_or_signed_by_another_key_is_invalid_client() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let pop = env.pop(&wallet, json!({"aud": "https://other.test"})).await;
    let opts = TokenOpts {
        pop: Some(pop),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_error(response, 401, "invalid_client").await;
    // A PoP by a key other than cnf.jwk.
    let other = Wallet::new();
    let pop = env.pop(&other, json!({})).await;
    let opts = TokenOpts {
        pop: Some(pop),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_error(response, 401, "invalid_client").await;
    code_still_redeemable(&env, &wallet, &Env::code(&offer), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_pop_jti_is_invalid_client() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let first = env.simple_offer().await;
    let second = env.simple_offer().await;
    let pop = env.pop(&wallet, json!({})).await;
    let opts = TokenOpts {
        pop: Some(pop.clone()),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&first), opts).await;
    assert_eq!(response.status(), 200);
    let opts = TokenOpts {
        pop: Some(pop),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&second), opts).await;
    assert_error(response, 401, "invalid_client").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_challenge_is_use_attestation_challenge_when_required() {
    let env = start(|config| config.require_attestation_challenge = true).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let response = env
        .token_request(&wallet, &Env::code(&offer), TokenOpts::default())
        .await;
    assert_error(response, 400, "use_attestation_challenge").await;
    // A challenge from the challenge endpoint works, once.
    let challenge = env.attestation_challenge().await;
    let pop = env.pop(&wallet, json!({"challenge": challenge})).await;
    let opts = TokenOpts {
        pop: Some(pop),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_eq!(response.status(), 200);
    let other = env.simple_offer().await;
    let pop = env.pop(&wallet, json!({"challenge": challenge})).await;
    let opts = TokenOpts {
        pop: Some(pop),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&other), opts).await;
    assert_error(response, 400, "use_attestation_challenge").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_without_server_nonce_is_use_dpop_nonce_with_a_fresh_nonce() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let dpop = env
        .dpop(&wallet.dpop, "/token", None, json!({"nonce": null}))
        .await;
    let opts = TokenOpts {
        dpop: Some(dpop),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert!(response.headers().contains_key("dpop-nonce"));
    assert_error(response, 400, "use_dpop_nonce").await;
    code_still_redeemable(&env, &wallet, &Env::code(&offer), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_proof_with_wrong_htu_or_missing_is_invalid_dpop_proof() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let dpop = env
        .dpop(
            &wallet.dpop,
            "/token",
            None,
            json!({"htu": "https://issuer.test/other"}),
        )
        .await;
    let opts = TokenOpts {
        dpop: Some(dpop),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_error(response, 400, "invalid_dpop_proof").await;
    let opts = TokenOpts {
        skip_dpop: true,
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_error(response, 400, "invalid_dpop_proof").await;
    let stale = env
        .dpop(
            &wallet.dpop,
            "/token",
            None,
            json!({"iat": jwt::now() - 3600}),
        )
        .await;
    let opts = TokenOpts {
        dpop: Some(stale),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_error(response, 400, "invalid_dpop_proof").await;
    code_still_redeemable(&env, &wallet, &Env::code(&offer), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tx_code_for_an_offer_without_one_is_invalid_request() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    // By value: the URI carries the offer itself.
    let encoded = offer
        .offer_uri
        .strip_prefix("openid-credential-offer://?credential_offer=")
        .unwrap();
    assert!(encoded.contains("pre-authorized_code"));
    let opts = TokenOpts {
        tx_code: Some("123456"),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_error(response, 400, "invalid_request").await;
    code_still_redeemable(&env, &wallet, &Env::code(&offer), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop_issued_too_long_ago_is_invalid_client() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let pop = env.pop(&wallet, json!({"iat": jwt::now() - 3600})).await;
    let opts = TokenOpts {
        pop: Some(pop),
        ..Default::default()
    };
    let response = env.token_request(&wallet, &Env::code(&offer), opts).await;
    assert_error(response, 401, "invalid_client").await;
}

/// Client attestations only from an active `attester` entity: an issuer, verifier or wallet
/// provider entity (listed as trusted by mistake, signing with its own registered key) and a
/// suspended attester are refused, and the code is not spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_attestation_from_a_non_attester_entity_is_invalid_client() {
    use immerse_jose::Signer as _;
    use immerse_registry::model::Role;
    use immerse_registry::{AdminKey, NewEntity};

    let cases = [
        ("https://issuer-2.test", Role::Issuer, false),
        ("https://rp.test", Role::Verifier, false),
        ("https://wallet-provider.test", Role::WalletProvider, false),
        ("https://attester-2.test", Role::Attester, true),
    ];
    let env = start(|config| {
        for (id, _, _) in &cases {
            config.trusted_attesters.push((*id).into());
        }
    })
    .await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    for (id, role, suspended) in cases {
        let entity = NewEntity {
            id: id.into(),
            role,
            display_name: id.into(),
            allowances: Default::default(),
        };
        let registry = &env.registry_service;
        registry.create_entity("admin:test", entity).await.unwrap();
        let signer = SoftwareSigner::generate().unwrap();
        let key: AdminKey =
            serde_json::from_value(json!({"jwk": signer.public_jwk(), "alg": "ES256"})).unwrap();
        registry.add_key("admin:test", id, key).await.unwrap();
        if suspended {
            registry
                .set_suspended("admin:test", id, true)
                .await
                .unwrap();
        }
        let attestation = env
            .attestation_from(id, &signer, &wallet, "sev-snp", 300)
            .await;
        let response = env
            .token_request(
                &wallet,
                &Env::code(&offer),
                TokenOpts {
                    attestation: Some(attestation),
                    ..Default::default()
                },
            )
            .await;
        let body = assert_error(response, 401, "invalid_client").await;
        let description = body["error_description"].as_str().unwrap_or_default();
        let expected = if suspended { "suspended" } else { "has role" };
        assert!(description.contains(expected), "{id}: {body}");
    }
    code_still_redeemable(&env, &wallet, &Env::code(&offer), None).await;
}
