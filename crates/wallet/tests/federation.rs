//! `openid_federation` Client Identifiers (OpenID4VP 1.0 s5.9.3) against the real verifier on
//! 127.0.0.1: the wallet resolves the verifier's entity through the Key Registry, verifies the
//! request object with the registered key its `kid` names, and refuses everything else with a
//! typed error.
mod presentation_support;

use std::sync::{Arc, Mutex};

use immerse_jose::{Signer, SoftwareSigner, base64url, jwt};
use immerse_verifier::{REQUEST_OBJECT_TYP, SELF_ISSUED_AUDIENCE};
use immerse_wallet::{FederationClientRefusal, PresentationError, Presenter, VerifierDirectory};
use presentation_support::verifier_world::{ISSUER, default_query};
use presentation_support::{
    Setup, VERIFIER_ENTITY, VERIFIER_NAME, default_allowances, query_with_optional_locality,
};
use serde_json::{Value, json};

const CLIENT_ID: &str = "openid_federation:https://verifier.test";

fn code(result: Result<impl std::fmt::Debug, PresentationError>) -> &'static str {
    result.expect_err("refused").code()
}

/// A presenter with an empty directory: an `openid_federation` identifier names its entity.
fn presenter(setup: &Setup) -> Presenter {
    Presenter::new(
        setup.presenter.wallet().clone(),
        VerifierDirectory::default(),
    )
}

/// Request object claims as the verifier would sign them, for `client_id`.
fn claims(client_id: &str) -> Value {
    json!({
        "iss": client_id,
        "aud": SELF_ISSUED_AUDIENCE,
        "iat": jwt::now(),
        "exp": jwt::now() + 300,
        "client_id": client_id,
        "response_type": "vp_token",
        "response_mode": "direct_post.jwt",
        "response_uri": "https://verifier.test/response/1",
        "nonce": "n-0123456789",
        "state": "s-0123456789",
        "dcql_query": default_query(),
        "client_metadata": {"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "alg": "ECDH-ES",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}
    })
}

/// A request object signed by `signer` whose header names `kid`, whatever key that is.
async fn sign(signer: &dyn Signer, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "ES256", "typ": REQUEST_OBJECT_TYP, "kid": kid});
    let input = format!(
        "{}.{}",
        base64url::encode(header.to_string()),
        base64url::encode(claims.to_string())
    );
    let signature = signer.sign(input.as_bytes()).await.unwrap();
    format!("{input}.{}", base64url::encode(signature))
}

/// An authorization request by value.
fn by_value(client_id: &str, request: &str) -> String {
    let mut url = reqwest::Url::parse("openid4vp://authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request", request);
    url.to_string()
}

#[tokio::test]
async fn federation_request_is_verified_and_presented_end_to_end() {
    let setup = Setup::start_federation(default_allowances(), true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let presenter = presenter(&setup);
    let (session, uri) = setup.request(query_with_optional_locality()).await;
    assert!(
        uri.contains("client_id=openid_federation%3Ahttps%3A%2F%2Fverifier.test"),
        "{uri}"
    );
    let pending = presenter.resolve(&uri).await.unwrap();
    assert_eq!(pending.client_id, CLIENT_ID);
    assert_eq!(pending.verifier_id, VERIFIER_ENTITY);
    assert_eq!(pending.verifier_name, VERIFIER_NAME);
    assert_eq!(
        pending.purposes,
        ["Address the parcel", "Choose the nearest pick-up point"]
    );
    presenter
        .approve(&pending.id, &[pending.credentials[0].claims[2].key.clone()])
        .await
        .unwrap();
    // The verifier checks the KB-JWT aud against the full prefixed Client Identifier (its
    // own tests refuse the bare entity id): verified means the wallet used exactly that.
    let result = setup.result(&session).await;
    assert_eq!(result["status"], "verified", "{result}");
    assert_eq!(result["credentials"]["pid"][0]["given_name"], "Erika");
    assert_eq!(
        result["credentials"]["pid"][0]["address"]["locality"],
        "Berlin"
    );
}

#[tokio::test]
async fn the_wallet_advertises_openid_federation_when_it_fetches_by_post() {
    let setup = Setup::start_federation(default_allowances(), true).await;
    let seen = Arc::new(Mutex::new(String::new()));
    let seen_in_route = seen.clone();
    let router = axum::Router::new().route(
        "/request",
        axum::routing::post(
            move |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| {
                *seen_in_route.lock().unwrap() =
                    form.get("wallet_metadata").cloned().unwrap_or_default();
                async { "not a request object" }
            },
        ),
    );
    let base = presentation_support::serve(router).await;
    let mut url = reqwest::Url::parse("openid4vp://authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("request_uri", &format!("{base}/request"))
        .append_pair("request_uri_method", "post");
    assert!(presenter(&setup).resolve(url.as_str()).await.is_err());
    let metadata: Value = serde_json::from_str(&seen.lock().unwrap()).unwrap();
    assert_eq!(
        metadata["client_id_prefixes_supported"],
        json!(["x509_hash", "openid_federation"])
    );
}

#[tokio::test]
async fn a_request_signed_by_a_key_not_registered_for_the_entity_is_refused() {
    let setup = Setup::start_federation(default_allowances(), true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let presenter = presenter(&setup);
    let registered = &setup.world.verifier_key;
    // Control: the same claims signed by the registered key are accepted.
    let genuine = sign(&**registered, registered.kid(), &claims(CLIENT_ID)).await;
    presenter
        .resolve(&by_value(CLIENT_ID, &genuine))
        .await
        .unwrap();

    // Another key, named by its own kid: not listed for the entity.
    let stranger = SoftwareSigner::generate().unwrap();
    let foreign = sign(&stranger, stranger.kid(), &claims(CLIENT_ID)).await;
    let error = presenter
        .resolve(&by_value(CLIENT_ID, &foreign))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PresentationError::RequestKeyNotRegistered { entity, kid }
            if entity == VERIFIER_ENTITY && kid == stranger.kid()),
        "{error:?}"
    );
    assert_eq!(error.code(), "invalid_request_object");
    // Another key claiming the registered kid: the signature does not verify.
    let impostor = sign(&stranger, registered.kid(), &claims(CLIENT_ID)).await;
    let error = presenter
        .resolve(&by_value(CLIENT_ID, &impostor))
        .await
        .unwrap_err();
    assert!(
        matches!(error, PresentationError::RequestSignature(_)),
        "{error:?}"
    );
    assert_eq!(error.code(), "invalid_request_object");
    // No kid at all: nothing names a registered key.
    let header = json!({"alg": "ES256", "typ": REQUEST_OBJECT_TYP});
    let input = format!(
        "{}.{}",
        base64url::encode(header.to_string()),
        base64url::encode(claims(CLIENT_ID).to_string())
    );
    let signature = registered.sign(input.as_bytes()).await.unwrap();
    let kidless = format!("{input}.{}", base64url::encode(signature));
    assert_eq!(
        code(presenter.resolve(&by_value(CLIENT_ID, &kidless)).await),
        "invalid_request_object"
    );
}

#[tokio::test]
async fn the_real_verifier_is_refused_while_its_key_is_not_registered() {
    let setup = Setup::start_federation(default_allowances(), false).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let (session, uri) = setup.request(query_with_optional_locality()).await;
    let error = presenter(&setup).resolve(&uri).await.unwrap_err();
    assert!(
        matches!(&error, PresentationError::RequestKeyNotRegistered { kid, .. }
            if kid == setup.world.verifier_key.kid()),
        "{error:?}"
    );
    assert_eq!(setup.result(&session).await["status"], "pending");
}

#[tokio::test]
async fn an_entity_unknown_to_the_registry_or_not_a_verifier_is_an_invalid_client() {
    let setup = Setup::start_federation(default_allowances(), true).await;
    let presenter = presenter(&setup);
    let signer = &setup.world.verifier_key;
    for (entity, refusal) in [
        (
            "https://nobody.test",
            FederationClientRefusal::UnknownEntity,
        ),
        (ISSUER, FederationClientRefusal::NotAVerifier),
    ] {
        let client_id = format!("openid_federation:{entity}");
        let request = sign(&**signer, signer.kid(), &claims(&client_id)).await;
        let error = presenter
            .resolve(&by_value(&client_id, &request))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, PresentationError::FederationClient { entity: named, reason }
                if named == entity && *reason == refusal),
            "{error:?}"
        );
        assert_eq!(error.code(), "invalid_client");
    }
}

#[tokio::test]
async fn a_suspended_entity_is_an_invalid_client() {
    let setup = Setup::start_federation(default_allowances(), true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    setup
        .world
        .registry
        .set_suspended("admin:test", VERIFIER_ENTITY, true)
        .await
        .unwrap();
    let (session, uri) = setup.request(query_with_optional_locality()).await;
    let error = presenter(&setup).resolve(&uri).await.unwrap_err();
    assert!(
        matches!(
            &error,
            PresentationError::FederationClient {
                reason: FederationClientRefusal::Suspended,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.code(), "invalid_client");
    assert_eq!(setup.result(&session).await["status"], "pending");
}

#[tokio::test]
async fn a_query_beyond_the_entitys_allowance_is_refused() {
    let names_only = json!({"claims": [
        {"path": ["given_name"], "purpose": "greeting"},
        {"path": ["family_name"], "purpose": "greeting"},
    ]});
    let setup = Setup::start_federation(names_only, true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    // The default query also asks for address.locality.
    let (session, uri) = setup.request(default_query()).await;
    let error = presenter(&setup).resolve(&uri).await.unwrap_err();
    assert!(
        matches!(&error, PresentationError::ClaimNotAllowed { entity, path }
            if entity == VERIFIER_ENTITY && path == "address.locality"),
        "{error:?}"
    );
    assert_eq!(setup.result(&session).await["status"], "pending");
}

#[tokio::test]
async fn a_client_id_inside_the_request_object_differing_from_the_outer_one_is_refused() {
    let setup = Setup::start_federation(default_allowances(), true).await;
    let presenter = presenter(&setup);
    let signer = &setup.world.verifier_key;
    // Signed by the registered key, but naming another client inside.
    let mut inside = claims("openid_federation:https://other.test");
    inside["iss"] = json!(CLIENT_ID);
    let request = sign(&**signer, signer.kid(), &inside).await;
    let error = presenter
        .resolve(&by_value(CLIENT_ID, &request))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, PresentationError::ClientIdMismatch { outside, inside }
            if outside == CLIENT_ID && inside == "openid_federation:https://other.test"),
        "{error:?}"
    );
    // The bare Entity Identifier inside is another identifier too: the prefix is part of it.
    let request = sign(&**signer, signer.kid(), &claims(VERIFIER_ENTITY)).await;
    assert_eq!(
        code(presenter.resolve(&by_value(CLIENT_ID, &request)).await),
        "client_id_mismatch"
    );
}
