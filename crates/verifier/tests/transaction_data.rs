//! Transaction data end to end (OpenID4VP 1.0 s5.1, s8.4, appendix B.3.3): the request object
//! carries each item base64url-encoded, and a presentation is accepted only when its KB-JWT
//! hashes exactly the items that name its credential.
mod common;

use common::{API_TOKEN, Options, Session, World, default_query, default_selection};
use immerse_jose::{Signer, base64url};
use immerse_sd_jwt::{KeyBindingInput, Limits, present_with_claims};
use serde_json::{Map, Value, json};

fn payment() -> Value {
    json!({"type": "payment", "credential_ids": ["pid"], "amount": "42.00", "currency": "EUR"})
}

async fn session(world: &World, item: Value) -> Session {
    world
        .session_with(json!({"dcql_query": default_query(), "transaction_data": [item]}))
        .await
}

/// base64url(SHA-256) of each `transaction_data` string, as a wallet computes it.
fn hashes(session: &Session) -> Vec<String> {
    session.claims["transaction_data"]
        .as_array()
        .expect("transaction_data in the request object")
        .iter()
        .map(|item| base64url::encode(openssl::sha::sha256(item.as_str().unwrap().as_bytes())))
        .collect()
}

/// A presentation whose KB-JWT carries `extra` claims.
async fn present(world: &World, session: &Session, extra: Value) -> String {
    let sd_jwt = world.issue(&world.credential()).await;
    let Value::Object(extra) = extra else {
        unreachable!("extra claims are an object")
    };
    let input = KeyBindingInput {
        audience: &session.client_id,
        nonce: &session.nonce,
        issued_at: None,
    };
    let holder: &dyn Signer = &world.holder;
    present_with_claims(
        &sd_jwt,
        &default_selection(),
        Some((holder, input, &extra)),
        &Limits::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn request_object_carries_each_item_as_base64url_json() {
    let world = World::start(Options::default()).await;
    let session = session(&world, payment()).await;
    let items = session.claims["transaction_data"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let decoded = base64url::decode(items[0].as_str().unwrap(), "item").unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&decoded).unwrap(),
        payment()
    );
}

#[tokio::test]
async fn kb_jwt_with_the_matching_hashes_is_verified() {
    let world = World::start(Options::default()).await;
    let session = session(&world, payment()).await;
    let vp = present(
        &world,
        &session,
        json!({"transaction_data_hashes": hashes(&session)}),
    )
    .await;
    let (status, body) = world.respond(&session, json!({"pid": [vp]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(world.result(&session, None).await["status"], "verified");
}

#[tokio::test]
async fn kb_jwt_naming_the_requested_algorithm_is_verified() {
    let world = World::start(Options::default()).await;
    let mut item = payment();
    item["transaction_data_hashes_alg"] = json!(["sha-256"]);
    let session = session(&world, item).await;
    let vp = present(
        &world,
        &session,
        json!({"transaction_data_hashes": hashes(&session), "transaction_data_hashes_alg": "sha-256"}),
    )
    .await;
    let (status, body) = world.respond(&session, json!({"pid": [vp]})).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn kb_jwt_without_transaction_data_hashes_is_refused() {
    let world = World::start(Options::default()).await;
    let session = session(&world, payment()).await;
    let vp = present(&world, &session, json!({})).await;
    world
        .assert_refused(
            &session,
            json!({"pid": [vp]}),
            "transaction_data:MissingHashes",
        )
        .await;
}

#[tokio::test]
async fn kb_jwt_with_a_wrong_hash_is_refused() {
    let world = World::start(Options::default()).await;
    let session = session(&world, payment()).await;
    let other = base64url::encode(openssl::sha::sha256(b"another transaction"));
    let vp = present(
        &world,
        &session,
        json!({"transaction_data_hashes": [other]}),
    )
    .await;
    world
        .assert_refused(
            &session,
            json!({"pid": [vp]}),
            "transaction_data:HashMismatch",
        )
        .await;
}

#[tokio::test]
async fn kb_jwt_with_an_algorithm_not_offered_is_refused() {
    let world = World::start(Options::default()).await;
    let session = session(&world, payment()).await;
    let vp = present(
        &world,
        &session,
        json!({"transaction_data_hashes": hashes(&session), "transaction_data_hashes_alg": "sha-384"}),
    )
    .await;
    world
        .assert_refused(
            &session,
            json!({"pid": [vp]}),
            "transaction_data:UnsupportedAlgorithm",
        )
        .await;
}

#[tokio::test]
async fn kb_jwt_omitting_the_algorithm_the_request_named_is_refused() {
    let world = World::start(Options::default()).await;
    let mut item = payment();
    item["transaction_data_hashes_alg"] = json!(["sha-256"]);
    let session = session(&world, item).await;
    let vp = present(
        &world,
        &session,
        json!({"transaction_data_hashes": hashes(&session)}),
    )
    .await;
    world
        .assert_refused(
            &session,
            json!({"pid": [vp]}),
            "transaction_data:MissingAlgorithm",
        )
        .await;
}

#[tokio::test]
async fn transaction_data_for_an_unknown_credential_or_algorithm_is_not_requested() {
    let world = World::start(Options::default()).await;
    let mut unknown_credential = payment();
    unknown_credential["credential_ids"] = json!(["mdl"]);
    let mut unknown_algorithm = payment();
    unknown_algorithm["transaction_data_hashes_alg"] = json!(["sha-3-256"]);
    for item in [
        unknown_credential,
        unknown_algorithm,
        json!({"credential_ids": ["pid"]}),
    ] {
        let response = world
            .http
            .post(format!("{}/v1/requests", world.base))
            .bearer_auth(API_TOKEN)
            .json(&json!({"dcql_query": default_query(), "transaction_data": [item]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{item}");
        let body: Map<String, Value> = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
}
