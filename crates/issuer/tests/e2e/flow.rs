//! The pre-authorized code flow from offer to verified credential and its status.
use immerse_issuer::{AS_METADATA_TYP, METADATA_TYP};
use immerse_jose::jwe::{DecryptionKey, Policy};
use immerse_jose::{Curve, Signer, SoftwareSigner, jwt};
use immerse_sd_jwt::{VcValidation, verify_vc};
use immerse_status_list::{DEFAULT_MAX_DECOMPRESSED, Status, StatusReference, Verifier};
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_served_plain_and_signed_with_the_registered_key() {
    let env = start(|_| {}).await;
    let keys = env.issuer_keys().await;
    let plain: Value = env
        .http
        .get(env.url("/.well-known/openid-credential-issuer"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plain["credential_issuer"], ISSUER);
    assert_eq!(plain["nonce_endpoint"], format!("{ISSUER}/nonce"));
    let conf = &plain["credential_configurations_supported"][CONFIGURATION];
    assert_eq!(conf["format"], "dc+sd-jwt");
    assert_eq!(conf["vct"], VCT);
    assert_eq!(
        conf["cryptographic_binding_methods_supported"],
        json!(["jwk"])
    );
    assert_eq!(
        conf["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        plain["credential_response_encryption"]["encryption_required"],
        true
    );
    assert!(plain["credential_request_encryption"]["jwks"]["keys"][0]["alg"].is_string());

    let response = env
        .http
        .get(env.url("/.well-known/openid-credential-issuer"))
        .header("Accept", "application/jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/jwt");
    let signed = response.text().await.unwrap();
    let verified = jwt::verify(&signed, &jwt::Validation::new(METADATA_TYP), &keys).unwrap();
    assert_eq!(verified.claims["sub"], ISSUER);
    assert!(verified.claims["iat"].is_i64());
    // OpenID4VCI 1.0 s12.2.3: every metadata parameter as a top-level claim.
    for (name, value) in plain.as_object().unwrap() {
        assert_eq!(&verified.claims[name], value, "{name}");
    }

    let response = env
        .http
        .get(env.url("/.well-known/oauth-authorization-server"))
        .header("Accept", "application/jwt")
        .send()
        .await
        .unwrap();
    let signed = response.text().await.unwrap();
    let verified = jwt::verify(&signed, &jwt::Validation::new(AS_METADATA_TYP), &keys).unwrap();
    assert_eq!(verified.claims["issuer"], ISSUER);
    assert_eq!(verified.claims["token_endpoint"], format!("{ISSUER}/token"));
    // A key the registry does not list is refused.
    let impostor = SoftwareSigner::generate().unwrap();
    assert!(
        jwt::verify(
            &signed,
            &jwt::Validation::new(AS_METADATA_TYP),
            impostor.public_jwk()
        )
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_authorized_flow_issues_an_encrypted_batch_that_verifies_and_can_be_revoked() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env
        .offer(json!({
            "credential_configuration_ids": [CONFIGURATION],
            "claims": {"given_name": "Ada", "family_name": "Lovelace"},
            "tx_code_length": 6,
            "by_reference": true,
        }))
        .await;
    let tx_code = offer.tx_code.clone().unwrap();
    assert_eq!(tx_code.len(), 6);
    // OpenID4VCI 1.0 s4.1.3: by reference, fetched once.
    let prefix = "openid-credential-offer://?credential_offer_uri=";
    assert!(offer.offer_uri.starts_with(prefix));
    let path = format!("/offers/{}", offer.offer_id);
    let fetched: Value = env
        .http
        .get(env.url(&path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, offer.credential_offer);
    assert_eq!(
        fetched["grants"][immerse_issuer::PRE_AUTHORIZED_GRANT]["tx_code"]["length"],
        6
    );
    let again = env.http.get(env.url(&path)).send().await.unwrap();
    assert_eq!(again.status(), 404);

    let token = env.access_token(&wallet, &offer).await;
    let holders = [
        SoftwareSigner::generate().unwrap(),
        SoftwareSigner::generate().unwrap(),
    ];
    let nonce = env.c_nonce().await;
    let mut proofs = Vec::new();
    for holder in &holders {
        proofs.push(env.key_proof(holder, &nonce, json!({})).await);
    }
    let response_key = DecryptionKey::generate(Curve::P256).unwrap();
    let mut jwk = response_key.public_jwk().to_object();
    jwk.insert("alg".into(), "ECDH-ES".into());
    let body = json!({
        "credential_configuration_id": CONFIGURATION,
        "proofs": {"jwt": proofs},
        "credential_response_encryption": {"jwk": jwk, "enc": "A256GCM"},
    });
    let response = env.credential_request(&wallet, &token, &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/jwt");
    let jwe = response.text().await.unwrap();
    let decrypted = response_key.decrypt(&jwe, &Policy::default()).unwrap();
    assert_eq!(
        decrypted.header["kid"],
        response_key.public_jwk().kid().unwrap()
    );
    assert_eq!(decrypted.header["enc"], "A256GCM");
    let plain: Value = serde_json::from_slice(&decrypted.plaintext).unwrap();
    let credentials = plain["credentials"].as_array().unwrap();
    assert_eq!(credentials.len(), 2);

    let keys = env.issuer_keys().await;
    let mut statuses = Vec::new();
    for (credential, holder) in credentials.iter().zip(&holders) {
        let text = credential["credential"].as_str().unwrap();
        let mut validation = VcValidation::new();
        validation.issuer = Some(ISSUER);
        let vc = verify_vc(text, &validation, &keys).unwrap();
        assert_eq!(vc.vct(), VCT);
        // SD-JWT VC draft, "Document Integrity": the hash of the type metadata we serve.
        let integrity = &env.issuer.type_metadata(CONFIGURATION).unwrap().integrity;
        assert!(integrity.starts_with("sha256-"));
        assert_eq!(vc.sd_jwt().claims()["vct#integrity"], json!(integrity));
        assert!(vc.exp().unwrap() > vc.iat().unwrap());
        assert_eq!(
            vc.holder_key().unwrap().thumbprint(),
            holder.public_jwk().thumbprint()
        );
        assert_eq!(vc.sd_jwt().claims()["given_name"], "Ada");
        statuses.push(vc.status().unwrap().clone());
    }
    assert_ne!(statuses[0].idx, statuses[1].idx);

    // The index lists the status list the credentials point into.
    let index: Value = env
        .http
        .get(env.url("/.well-known/credential-status.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(index["status_lists"][0]["uri"], statuses[0].uri);

    let verifier = Verifier::new(DEFAULT_MAX_DECOMPRESSED);
    let status_of = |list: String, reference: &immerse_sd_jwt::StatusListRef| {
        verifier
            .status_of(
                &list,
                &StatusReference::new(reference.idx, reference.uri.clone()),
                &keys,
            )
            .unwrap()
    };
    let list_path = statuses[0].uri.strip_prefix(ISSUER).unwrap().to_owned();
    let (env_ref, path_ref) = (&env, &list_path);
    let fetch = || async move {
        let response = env_ref
            .http
            .get(env_ref.url(path_ref))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers()["content-type"],
            "application/statuslist+jwt"
        );
        response.text().await.unwrap()
    };
    assert_eq!(status_of(fetch().await, &statuses[0]), Status::Valid);

    // Admin revokes the credentials of the offer; the list shows it.
    let response = env
        .http
        .post(env.url(&format!("/admin/offers/{}/status", offer.offer_id)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"status": "revoked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let list = fetch().await;
    assert_eq!(status_of(list.clone(), &statuses[0]), Status::Invalid);
    assert_eq!(status_of(list, &statuses[1]), Status::Invalid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_attestation_with_tee_none_is_accepted_only_when_configured_and_suspends() {
    let env = start(|config| {
        config.accepted_tee = vec!["none".into()];
        config.response_encryption_required = false;
    })
    .await;
    let wallet = Wallet::new();
    let identity = immerse_attestation::identity::KubernetesIdentity {
        namespace: "cvm-wallets".into(),
        service_account: "wallet".into(),
    };
    let attested = immerse_attestation::mint::Attested {
        client_id: &wallet.client_id,
        instance_key: wallet.instance.public_jwk(),
        identity: &identity,
        tee: None,
    };
    let attestation =
        immerse_attestation::mint::mint(&*env.attester, ATTESTER, &attested, jwt::now(), 300)
            .await
            .unwrap();
    let offer = env.simple_offer().await;
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
    let body = token_response(response).await;
    let token = body["access_token"].as_str().unwrap();
    let holder = SoftwareSigner::generate().unwrap();
    let nonce = env.c_nonce().await;
    let proof = env.key_proof(&holder, &nonce, json!({})).await;
    let request = json!({"credential_configuration_id": CONFIGURATION, "proofs": {"jwt": [proof]}});
    let response = env.credential_request(&wallet, token, &request).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    let text = body["credentials"][0]["credential"].as_str().unwrap();
    let keys = env.issuer_keys().await;
    let vc = verify_vc(text, &VcValidation::new(), &keys).unwrap();
    let reference = vc.status().unwrap().clone();

    env.http
        .post(env.url(&format!("/admin/offers/{}/status", offer.offer_id)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"status": "suspended"}))
        .send()
        .await
        .unwrap();
    let path = reference.uri.strip_prefix(ISSUER).unwrap();
    let list = env
        .http
        .get(env.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let status = Verifier::new(DEFAULT_MAX_DECOMPRESSED)
        .status_of(
            &list,
            &StatusReference::new(reference.idx, reference.uri.clone()),
            &keys,
        )
        .unwrap();
    assert_eq!(status, Status::Suspended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_requires_a_token_with_the_scope() {
    let env = start(|config| {
        config.admin_tokens.push(immerse_issuer::AdminToken {
            sha256_hex: sha256_hex("status-only"),
            scopes: vec![immerse_issuer::SCOPE_STATUS.into()],
        });
    })
    .await;
    let body = json!({"credential_configuration_ids": [CONFIGURATION], "claims": {}});
    let response = env
        .http
        .post(env.url("/admin/offers"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "invalid_token").await;
    let response = env
        .http
        .post(env.url("/admin/offers"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "invalid_token").await;
    let response = env
        .http
        .post(env.url("/admin/offers"))
        .bearer_auth("status-only")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(response, 403, "insufficient_scope").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_credential_request_to_the_metadata_key_is_accepted() {
    let env = start(|_| {}).await;
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let token = env.access_token(&wallet, &offer).await;
    let metadata: Value = env
        .http
        .get(env.url("/.well-known/openid-credential-issuer"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer_key = immerse_jose::PublicJwk::try_from(
        metadata["credential_request_encryption"]["jwks"]["keys"][0].clone(),
    )
    .unwrap();
    let holder = SoftwareSigner::generate().unwrap();
    let nonce = env.c_nonce().await;
    let proof = env.key_proof(&holder, &nonce, json!({})).await;
    let response_key = DecryptionKey::generate(Curve::P256).unwrap();
    let mut jwk = response_key.public_jwk().to_object();
    jwk.insert("alg".into(), "ECDH-ES".into());
    let body = json!({
        "credential_configuration_id": CONFIGURATION,
        "proofs": {"jwt": [proof]},
        "credential_response_encryption": {"jwk": jwk, "enc": "A128GCM"},
    });
    // OpenID4VCI 1.0 s10: the request as a JWE to the issuer's request-encryption key.
    let request = immerse_jose::jwe::encrypt_compact(
        body.to_string().as_bytes(),
        &issuer_key,
        immerse_jose::jwe::KeyManagement::EcdhEs,
        immerse_jose::jwe::ContentEncryption::A128Gcm,
        &Default::default(),
    )
    .unwrap();
    let dpop = env
        .dpop(&wallet.dpop, "/credential", Some(&token), json!({}))
        .await;
    let response = env
        .http
        .post(env.url("/credential"))
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", dpop)
        .header("Content-Type", "application/jwt")
        .body(request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let jwe = response.text().await.unwrap();
    let plain = response_key.decrypt(&jwe, &Policy::default()).unwrap();
    let credentials: Value = serde_json::from_slice(&plain.plaintext).unwrap();
    assert_eq!(credentials["credentials"].as_array().unwrap().len(), 1);

    // A JWE the issuer cannot decrypt is invalid_encryption_parameters, answered in clear.
    let dpop = env
        .dpop(&wallet.dpop, "/credential", Some(&token), json!({}))
        .await;
    let response = env
        .http
        .post(env.url("/credential"))
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", dpop)
        .header("Content-Type", "application/jwt")
        .body("a.b.c.d.e")
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_encryption_parameters").await;
}

/// OpenID4VCI 1.0 s10 with the third content encryption the metadata lists: a wallet asking
/// for A128CBC-HS256 gets its response in it, and may encrypt its request with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_asking_for_a128cbc_hs256_gets_it_both_ways() {
    use immerse_jose::jwe::{ContentEncryption, KeyManagement};
    let env = start(|_| {}).await;
    let metadata: Value = env
        .http
        .get(env.url("/.well-known/openid-credential-issuer"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for part in [
        "credential_request_encryption",
        "credential_response_encryption",
    ] {
        assert_eq!(
            metadata[part]["enc_values_supported"],
            json!(["A128GCM", "A256GCM", "A128CBC-HS256"]),
            "{part}"
        );
    }
    let issuer_key = immerse_jose::PublicJwk::try_from(
        metadata["credential_request_encryption"]["jwks"]["keys"][0].clone(),
    )
    .unwrap();
    let wallet = Wallet::new();
    let offer = env.simple_offer().await;
    let token = env.access_token(&wallet, &offer).await;
    let holder = SoftwareSigner::generate().unwrap();
    let proof = env
        .key_proof(&holder, &env.c_nonce().await, json!({}))
        .await;
    let response_key = DecryptionKey::generate(Curve::P256).unwrap();
    let mut jwk = response_key.public_jwk().to_object();
    jwk.insert("alg".into(), "ECDH-ES".into());
    let body = json!({
        "credential_configuration_id": CONFIGURATION,
        "proofs": {"jwt": [proof]},
        "credential_response_encryption": {"jwk": jwk, "enc": "A128CBC-HS256"},
    });
    let request = immerse_jose::jwe::encrypt_compact(
        body.to_string().as_bytes(),
        &issuer_key,
        KeyManagement::EcdhEs,
        ContentEncryption::A128CbcHs256,
        &Default::default(),
    )
    .unwrap();
    let dpop = env
        .dpop(&wallet.dpop, "/credential", Some(&token), json!({}))
        .await;
    let response = env
        .http
        .post(env.url("/credential"))
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", dpop)
        .header("Content-Type", "application/jwt")
        .body(request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let jwe = response.text().await.unwrap();
    let policy = Policy {
        content_encryption: &[ContentEncryption::A128CbcHs256],
        ..Policy::default()
    };
    let plain = response_key.decrypt(&jwe, &policy).unwrap();
    assert_eq!(plain.header["enc"], "A128CBC-HS256");
    assert_eq!(
        plain.header["kid"],
        response_key.public_jwk().kid().unwrap()
    );
    let credentials: Value = serde_json::from_slice(&plain.plaintext).unwrap();
    assert_eq!(credentials["credentials"].as_array().unwrap().len(), 1);
}
