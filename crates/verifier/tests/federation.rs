//! The `openid_federation` Client Identifier prefix (OpenID4VP 1.0 s5.9.3) end to end over HTTP:
//! the request object is signed with the verifier's registered key named by `kid` (no x5c), the
//! full prefixed identifier is the `client_id` everywhere, and the KB-JWT `aud` must equal it.
mod common;

use common::{Options, World, default_selection};
use immerse_jose::{Signer, SoftwareSigner};
use immerse_registry::model::Role;
use immerse_registry::{AdminKey, NewEntity, RegistryError};
use immerse_verifier::{ClientIdPrefix, ClientIdentity};
use serde_json::json;

const ENTITY: &str = "https://verifier.test";
const CLIENT_ID: &str = "openid_federation:https://verifier.test";

async fn federation_world() -> World {
    World::start(Options {
        federation_entity: Some(ENTITY.into()),
        ..Options::default()
    })
    .await
}

/// Enrols the verifier entity with `key` as its one registered key.
async fn enrol(world: &World, key: &dyn Signer) {
    world
        .registry
        .create_entity(
            "admin:test",
            NewEntity {
                id: ENTITY.into(),
                role: Role::Verifier,
                display_name: "Example Shop".into(),
                allowances: Default::default(),
            },
        )
        .await
        .unwrap();
    let key: AdminKey =
        serde_json::from_value(json!({"jwk": key.public_jwk(), "alg": "ES256"})).unwrap();
    world
        .registry
        .add_key("admin:test", ENTITY, key)
        .await
        .unwrap();
}

#[tokio::test]
async fn federation_request_is_signed_by_kid_and_answered_with_the_full_client_id_as_aud() {
    let world = federation_world().await;
    assert_eq!(world.verifier.client_id(), CLIENT_ID);
    let created = world
        .create(json!({"dcql_query": common::default_query()}))
        .await;
    assert_eq!(created["client_id"], CLIENT_ID);
    let url = created["authorization_request"].as_str().unwrap();
    assert!(
        url.starts_with(
            "openid4vp://authorize?client_id=openid_federation%3Ahttps%3A%2F%2Fverifier.test&"
        ),
        "{url}"
    );
    // The helper checks: no x5c, kid = the registered key's thumbprint, signature by it, and
    // client_id inside = the full prefixed identifier.
    let session = world
        .fetch_session(
            created["id"].as_str().unwrap(),
            created["request_uri"].as_str().unwrap(),
        )
        .await;
    assert_eq!(session.client_id, CLIENT_ID);
    assert_eq!(session.claims["iss"], CLIENT_ID);
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world.present(&sd_jwt, &session).await;
    let (status, body) = world.respond(&session, json!({"pid": [vp]})).await;
    assert_eq!(status, 200, "{body}");
    let result = world.result(&session, None).await;
    assert_eq!(result["status"], "verified", "{result}");
    assert_eq!(result["credentials"]["pid"][0]["given_name"], "Erika");
}

#[tokio::test]
async fn kb_jwt_with_the_bare_entity_id_as_aud_is_rejected() {
    // OpenID4VP 1.0 s5.9: the prefix is part of the Client Identifier, so an audience without
    // it names someone else.
    let world = federation_world().await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world
        .present_with(
            &sd_jwt,
            &world.holder,
            ENTITY,
            &session.nonce,
            &default_selection(),
        )
        .await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "sd_jwt:KbAudienceMismatch")
        .await;
}

#[tokio::test]
async fn registration_check_finds_an_unenrolled_entity_and_accepts_an_enrolled_one() {
    let world = federation_world().await;
    let error = world.verifier.check_registration().await.unwrap_err();
    assert!(matches!(error, RegistryError::NotFound(_)), "{error:?}");
    enrol(&world, &*world.verifier_key).await;
    world.verifier.check_registration().await.unwrap().unwrap();
}

#[tokio::test]
async fn registration_check_refuses_an_entity_that_lists_another_key() {
    let world = federation_world().await;
    let other = SoftwareSigner::generate().unwrap();
    enrol(&world, &other).await;
    let refusal = world
        .verifier
        .check_registration()
        .await
        .unwrap()
        .unwrap_err();
    assert!(refusal.contains(world.verifier_key.kid()), "{refusal}");
    // x509_hash verifiers have nothing to check against the registry.
    let x509 = World::start(Options::default()).await;
    x509.verifier.check_registration().await.unwrap().unwrap();
}

#[test]
fn client_id_prefix_configuration_is_parsed_strictly() {
    assert_eq!(
        "x509_hash".parse::<ClientIdPrefix>().unwrap(),
        ClientIdPrefix::X509Hash
    );
    assert_eq!(
        "openid_federation:https://verifier.test/rp"
            .parse::<ClientIdPrefix>()
            .unwrap(),
        ClientIdPrefix::OpenIdFederation("https://verifier.test/rp".into())
    );
    for refused in [
        "x509_san_dns",
        "openid_federation:",
        "openid_federation:http://verifier.test",
        "openid_federation:https://verifier.test/?a=1",
        "openid_federation:https://verifier.test/#f",
        "redirect_uri:https://verifier.test/cb",
    ] {
        assert!(refused.parse::<ClientIdPrefix>().is_err(), "{refused}");
    }
    let signer = std::sync::Arc::new(SoftwareSigner::generate().unwrap());
    let identity = ClientIdentity::new(
        &ClientIdPrefix::OpenIdFederation(ENTITY.into()),
        signer.clone(),
        None,
    )
    .unwrap();
    assert_eq!(identity.client_id(), CLIENT_ID);
    assert!(identity.x5c().is_empty());
    assert_eq!(identity.entity_id(), Some(ENTITY));
    // x509_hash cannot be built without a certificate chain.
    assert!(ClientIdentity::new(&ClientIdPrefix::X509Hash, signer, None).is_err());
}
