//! End to end over HTTP on 127.0.0.1: a relying party creates a request, a wallet fetches the
//! signed request object and posts an encrypted vp_token built by `immerse_sd_jwt`, and the
//! verifier accepts it or refuses it for exactly the one thing that is wrong.
mod common;

use common::{Options, World, default_selection};
use immerse_verifier::{RequestUriFetch, VerifierError, WalletResponse};
use serde_json::json;

#[tokio::test]
async fn valid_presentation_is_verified_and_its_claims_reach_the_relying_party() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    // OpenID4VP 1.0 s5: what the signed request carries.
    assert_eq!(session.claims["response_mode"], "direct_post.jwt");
    assert_eq!(session.claims["response_type"], "vp_token");
    assert!(session.client_id.starts_with("x509_hash:"));
    assert!(session.nonce.len() >= 22, "at least 128 bits");
    assert_eq!(
        session.claims["client_metadata"]["encrypted_response_enc_values_supported"],
        json!(["A128GCM", "A256GCM"])
    );
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world.present(&sd_jwt, &session).await;
    let (status, body) = world.respond(&session, json!({"pid": [vp]})).await;
    assert_eq!(status, 200, "{body}");
    let result = world.result(&session, None).await;
    assert_eq!(result["status"], "verified", "{result}");
    let claims = &result["credentials"]["pid"][0];
    assert_eq!(claims["given_name"], "Erika");
    assert_eq!(claims["address"]["locality"], "Berlin");
    assert!(claims.get("birthdate").is_none(), "not disclosed");
}

#[tokio::test]
async fn request_object_by_get_is_signed_with_the_x5c_leaf_and_typed() {
    let world = World::start(Options::default()).await;
    let created = world
        .create(json!({"dcql_query": common::default_query()}))
        .await;
    let response = world
        .http
        .get(created["request_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/oauth-authz-req+jwt"
    );
    let claims = world.verify_request_object(&response.text().await.unwrap());
    assert_eq!(claims["client_id"], world.verifier.client_id());
    assert!(claims.get("wallet_nonce").is_none());
    let url = created["authorization_request"].as_str().unwrap();
    assert!(
        url.starts_with("openid4vp://authorize?client_id=x509_hash%3A"),
        "{url}"
    );
    assert!(url.contains("request_uri_method=post"));
}

#[tokio::test]
async fn same_device_flow_redirects_with_a_response_code_bound_to_the_session() {
    let world = World::start(Options::default()).await;
    let created = world
        .create(json!({"dcql_query": common::default_query(), "same_device": true}))
        .await;
    let jwt = world
        .http
        .get(created["request_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let claims = world.verify_request_object(&jwt);
    let session = common::Session {
        id: created["id"].as_str().unwrap().to_owned(),
        client_id: claims["client_id"].as_str().unwrap().to_owned(),
        nonce: claims["nonce"].as_str().unwrap().to_owned(),
        state: claims["state"].as_str().unwrap().to_owned(),
        response_uri: claims["response_uri"].as_str().unwrap().to_owned(),
        claims,
    };
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world.present(&sd_jwt, &session).await;
    let (status, body) = world.respond(&session, json!({"pid": [vp]})).await;
    assert_eq!(status, 200, "{body}");
    let redirect = body["redirect_uri"].as_str().unwrap();
    let code = redirect
        .strip_prefix("https://rp.test/done#response_code=")
        .unwrap();
    assert!(code.len() >= 22, "at least 128 bits");
    // Without the code (or with another) the result is not handed out.
    let response = world
        .http
        .get(format!("{}/v1/requests/{}", world.base, session.id))
        .bearer_auth(common::API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let result = world.result(&session, Some(code)).await;
    assert_eq!(result["status"], "verified");
}

#[tokio::test]
async fn relying_party_api_requires_its_bearer_token() {
    let world = World::start(Options::default()).await;
    let response = world
        .http
        .post(format!("{}/v1/requests", world.base))
        .bearer_auth("wrong")
        .json(&json!({"dcql_query": common::default_query()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn replayed_response_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world.present(&sd_jwt, &session).await;
    let (status, _) = world.respond(&session, json!({"pid": [vp.clone()]})).await;
    assert_eq!(status, 200);
    // The same response again: nonce and state were spent.
    let (status, body) = world.respond(&session, json!({"pid": [vp.clone()]})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already answered")
    );
    // And the presentation replayed to a new request is bound to the old nonce.
    let other = world.session().await;
    world
        .assert_refused(&other, json!({"pid": [vp]}), "sd_jwt:KbNonceMismatch")
        .await;
}

#[tokio::test]
async fn response_in_clear_is_refused_when_encryption_was_requested() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world.present(&sd_jwt, &session).await;
    let vp_token = json!({"pid": [vp]}).to_string();
    let (status, body) = world
        .post_form(
            &session.response_uri,
            &[("vp_token", &vp_token), ("state", &session.state)],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
    // Nothing was spent: the session is still pending.
    assert_eq!(world.result(&session, None).await["status"], "pending");
}

#[tokio::test]
async fn direct_post_works_when_configured() {
    let world = World::start(Options {
        allow_direct_post: true,
        ..Options::default()
    })
    .await;
    let created = world
        .create(json!({"dcql_query": common::default_query(), "response_mode": "direct_post"}))
        .await;
    let jwt = world
        .http
        .get(created["request_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let claims = world.verify_request_object(&jwt);
    assert_eq!(claims["response_mode"], "direct_post");
    assert!(claims["client_metadata"].get("jwks").is_none());
    let nonce = claims["nonce"].as_str().unwrap();
    let client_id = claims["client_id"].as_str().unwrap();
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world
        .present_with(
            &sd_jwt,
            &world.holder,
            client_id,
            nonce,
            &default_selection(),
        )
        .await;
    let vp_token = json!({"pid": [vp]}).to_string();
    let (status, body) = world
        .post_form(
            claims["response_uri"].as_str().unwrap(),
            &[
                ("vp_token", &vp_token),
                ("state", claims["state"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn nonce_and_state_are_spent_for_every_replica_sharing_the_database() {
    let world = World::start(Options {
        allow_direct_post: true,
        ..Options::default()
    })
    .await;
    let created = world
        .create(json!({"dcql_query": common::default_query(), "response_mode": "direct_post"}))
        .await;
    let id = created["id"].as_str().unwrap();
    let jwt = world
        .verifier
        .request_object(id, RequestUriFetch::Get)
        .await
        .unwrap();
    let claims = world.verify_request_object(&jwt);
    let (nonce, state) = (
        claims["nonce"].as_str().unwrap(),
        claims["state"].as_str().unwrap(),
    );
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world
        .present_with(
            &sd_jwt,
            &world.holder,
            world.verifier.client_id(),
            nonce,
            &default_selection(),
        )
        .await;
    let response = WalletResponse::Clear {
        vp_token: json!({"pid": [vp]}).to_string(),
        state: Some(state.to_owned()),
    };
    // The same response raced to two replicas: exactly one accepts it.
    let (first, second) = tokio::join!(
        world.verifier.handle_response(id, response.clone()),
        world.replica.handle_response(id, response.clone()),
    );
    assert_eq!(
        [first.is_ok(), second.is_ok()]
            .iter()
            .filter(|ok| **ok)
            .count(),
        1,
        "{first:?} {second:?}"
    );
    let refused = first.err().or(second.err()).unwrap();
    assert!(matches!(refused, VerifierError::Replayed), "{refused:?}");
    // And again, later, on either replica.
    assert!(matches!(
        world.replica.handle_response(id, response).await,
        Err(VerifierError::Replayed)
    ));
    let result = world.result_of(id).await;
    assert_eq!(result["status"], "verified");
}

#[tokio::test]
async fn unauthenticated_answers_do_not_end_a_session_the_wallet_can_still_answer() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let (status, _) = world
        .post_form(
            &session.response_uri,
            &[("error", "access_denied"), ("state", "not-the-state")],
        )
        .await;
    assert_eq!(status, 400, "another state ends nothing");
    let (status, body) = world
        .post_form(
            &session.response_uri,
            &[("error", "access_denied"), ("state", &session.state)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // A bystander who saw the QR code knows the state: the error is noted, nothing more.
    let result = world.result(&session, None).await;
    assert_eq!(result["status"], "pending", "{result}");
    assert_eq!(result["error"], "wallet:access_denied");
    // So is a presentation that does not verify (here Key Binding to another nonce).
    let sd_jwt = world.issue(&world.credential()).await;
    let forged = world
        .present_with(
            &sd_jwt,
            &world.holder,
            &session.client_id,
            "a-nonce-the-bystander-chose",
            &default_selection(),
        )
        .await;
    let (status, body) = world.respond(&session, json!({"pid": [forged]})).await;
    assert_eq!(status, 400, "{body}");
    let result = world.result(&session, None).await;
    assert_eq!(result["status"], "pending", "{result}");
    assert_eq!(result["error"], "sd_jwt:KbNonceMismatch", "{result}");
    // The genuine wallet still answers, once.
    let vp = world.present(&sd_jwt, &session).await;
    let (status, body) = world.respond(&session, json!({"pid": [vp.clone()]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(world.result(&session, None).await["status"], "verified");
    let (status, body) = world.respond(&session, json!({"pid": [vp]})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn wallet_that_cannot_check_es256_request_objects_is_refused_at_request_uri() {
    let world = World::start(Options::default()).await;
    let created = world
        .create(json!({"dcql_query": common::default_query()}))
        .await;
    let metadata = json!({"request_object_signing_alg_values_supported": ["EdDSA"]}).to_string();
    let (status, body) = world
        .post_form(
            created["request_uri"].as_str().unwrap(),
            &[("wallet_metadata", &metadata), ("wallet_nonce", "n")],
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn unknown_request_uri_is_not_found() {
    let world = World::start(Options::default()).await;
    let response = world
        .http
        .get(format!("{}/request/does-not-exist", world.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
