//! The review's attack and its relatives, over HTTP on 127.0.0.1: a registry entity that is not
//! an active issuer registered for the credential's `vct` signs a credential (and serves its own
//! status list); a genuine credential whose status list another entity signed. Each is refused
//! with a precise reason and the session is never verified.
mod common;

use std::sync::{Arc, Mutex};

use common::{Options, SECOND_ISSUER, VCT, World, serve_status_list};
use immerse_jose::SoftwareSigner;
use immerse_registry::model::{Allowances, Role};
use immerse_status_list::{Bits, StatusList};
use serde_json::json;

fn issuing(types: &[&str]) -> Allowances {
    Allowances {
        credential_types: types.iter().map(|&vct| vct.to_owned()).collect(),
        claims: Vec::new(),
    }
}

/// A status list with every entry VALID, signed by `signer`; returns its URI.
async fn own_status_list(signer: &SoftwareSigner) -> String {
    let signer = Arc::new(SoftwareSigner::from_pkcs8_pem(&signer.to_pkcs8_pem().unwrap()).unwrap());
    serve_status_list(
        signer,
        Arc::new(Mutex::new(StatusList::new(Bits::One, 1024))),
    )
    .await
}

#[tokio::test]
async fn only_an_active_issuer_registered_for_the_vct_is_trusted() {
    let world = World::start(Options::default()).await;
    // (entity, role, allowances, suspended, the reason the relying party reads)
    let cases = [
        (
            "https://rp.test",
            Role::Verifier,
            Allowances::default(),
            false,
            "untrusted_issuer",
        ),
        (
            "https://attester.test",
            Role::Attester,
            issuing(&[VCT]),
            false,
            "untrusted_issuer",
        ),
        (
            "https://wp.test",
            Role::WalletProvider,
            issuing(&[VCT]),
            false,
            "untrusted_issuer",
        ),
        (
            "https://no-types.test",
            Role::Issuer,
            issuing(&[]),
            false,
            "untrusted_issuer",
        ),
        (
            "https://other-type.test",
            Role::Issuer,
            issuing(&["urn:other"]),
            false,
            "untrusted_issuer",
        ),
        (
            "https://suspended.test",
            Role::Issuer,
            issuing(&[VCT]),
            true,
            "issuer_key:EntitySuspended",
        ),
    ];
    for (entity, role, allowances, suspended, reason) in cases {
        let signer = world.enrol(entity, role, allowances, suspended).await;
        let mut credential = world.credential();
        credential.iss = entity.into();
        credential.status.as_mut().unwrap().uri = own_status_list(&signer).await;
        let sd_jwt = world.issue_with(&signer, &credential).await;
        let session = world.session().await;
        let vp = world.present(&sd_jwt, &session).await;
        world
            .assert_refused(&session, json!({"pid": [vp]}), reason)
            .await;
    }

    // The same shape from an active issuer registered for the vct verifies: the refusals
    // above are the role, the allowance and the status, nothing else.
    world.enrol_second_issuer(issuing(&[VCT])).await;
    let mut credential = world.credential();
    credential.iss = SECOND_ISSUER.into();
    credential.status.as_mut().unwrap().uri = format!("{SECOND_ISSUER}/status/1");
    let sd_jwt = world.issue_with(&world.second_issuer, &credential).await;
    let session = world.session().await;
    let vp = world.present(&sd_jwt, &session).await;
    let (status, body) = world.respond(&session, json!({"pid": [vp]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(world.result(&session, None).await["status"], "verified");
}

#[tokio::test]
async fn the_refusal_says_an_issuer_without_credential_types_may_issue_none() {
    let world = World::start(Options::default()).await;
    let entity = "https://no-types.test";
    let signer = world.enrol(entity, Role::Issuer, issuing(&[]), false).await;
    let mut credential = world.credential();
    credential.iss = entity.into();
    let sd_jwt = world.issue_with(&signer, &credential).await;
    let session = world.session().await;
    let vp = world.present(&sd_jwt, &session).await;
    let (status, body) = world.respond(&session, json!({"pid": [vp]})).await;
    assert_eq!(status, 400, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains("registered for no credential type"),
        "{description}"
    );
}

/// A genuine credential whose status list another entity publishes (and signs) is refused: a
/// list outside the issuer identifier's origin is not the issuer's to publish.
#[tokio::test]
async fn a_status_list_published_by_another_entity_is_not_the_credentials_status() {
    let world = World::start(Options::default()).await;
    let rogue_verifier = world
        .enrol(
            "https://rp.test",
            Role::Verifier,
            Allowances::default(),
            false,
        )
        .await;
    let other_issuer = world
        .enrol(
            "https://second-issuer.test",
            Role::Issuer,
            issuing(&[VCT]),
            false,
        )
        .await;
    for signer in [&rogue_verifier, &other_issuer] {
        let mut credential = world.credential();
        credential.status.as_mut().unwrap().uri = own_status_list(signer).await;
        let sd_jwt = world.issue(&credential).await;
        let session = world.session().await;
        let vp = world.present(&sd_jwt, &session).await;
        world
            .assert_refused(&session, json!({"pid": [vp]}), "foreign_status_list")
            .await;
    }
}

/// Once the real issuer's list is cached, another issuer's credential naming that URI is not
/// judged by it: the URI is not under that issuer's origin (and the cache is keyed by issuer and
/// URI besides).
#[tokio::test]
async fn a_status_list_cached_for_one_issuer_answers_for_no_other() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world.present(&sd_jwt, &session).await;
    let (status, body) = world.respond(&session, json!({"pid": [vp]})).await;
    assert_eq!(status, 200, "the real issuer's list is now cached: {body}");

    let entity = "https://second-issuer.test";
    let signer = world
        .enrol(entity, Role::Issuer, issuing(&[VCT]), false)
        .await;
    let mut credential = world.credential();
    credential.iss = entity.into();
    let sd_jwt = world.issue_with(&signer, &credential).await;
    let session = world.session().await;
    let vp = world.present(&sd_jwt, &session).await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "foreign_status_list")
        .await;
}
