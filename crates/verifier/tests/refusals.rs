//! End to end over HTTP on 127.0.0.1: one test per refusal of OpenID4VP 1.0 s8.6, each with
//! exactly one thing wrong, asserting the wallet's error code, the precise reason the relying
//! party reads, and that the session was not marked verified.
mod common;

use common::{Options, World, default_selection};
use immerse_jose::{Signer, SoftwareSigner};
use immerse_registry::model::RevocationReason;
use immerse_sd_jwt::{ClaimPath, KeyBindingInput, key_binding_jwt};
use immerse_status_list::Status;
use serde_json::json;

#[tokio::test]
async fn kb_jwt_with_wrong_aud_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world
        .present_with(
            &sd_jwt,
            &world.holder,
            "x509_hash:someone-else",
            &session.nonce,
            &default_selection(),
        )
        .await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "sd_jwt:KbAudienceMismatch")
        .await;
}

#[tokio::test]
async fn kb_jwt_with_wrong_nonce_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world
        .present_with(
            &sd_jwt,
            &world.holder,
            &session.client_id,
            "another-nonce",
            &default_selection(),
        )
        .await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "sd_jwt:KbNonceMismatch")
        .await;
}

#[tokio::test]
async fn sd_hash_mismatch_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let all = immerse_sd_jwt::present(&sd_jwt, &default_selection(), None, &Default::default())
        .await
        .unwrap();
    let fewer = immerse_sd_jwt::present(
        &sd_jwt,
        &[ClaimPath::claim("given_name")],
        None,
        &Default::default(),
    )
    .await
    .unwrap();
    let input = KeyBindingInput {
        audience: &session.client_id,
        nonce: &session.nonce,
        issued_at: None,
    };
    // A KB-JWT over another selection than the one presented.
    let kb = key_binding_jwt(&world.holder, &input, &fewer)
        .await
        .unwrap();
    world
        .assert_refused(
            &session,
            json!({"pid": [format!("{all}{kb}")]}),
            "sd_jwt:KbSdHashMismatch",
        )
        .await;
}

#[tokio::test]
async fn kb_jwt_signed_by_another_key_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    // The thief signs with its own key but names the holder's kid: the signature fails.
    let thief = Impostor {
        key: SoftwareSigner::generate().unwrap(),
        claims_to_be: world.holder.public_jwk().clone(),
    };
    let vp = world
        .present_with(
            &sd_jwt,
            &thief,
            &session.client_id,
            &session.nonce,
            &default_selection(),
        )
        .await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "sd_jwt:KbSignatureInvalid")
        .await;
}

#[tokio::test]
async fn kb_jwt_naming_another_key_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let thief = SoftwareSigner::generate().unwrap();
    let vp = world
        .present_with(
            &sd_jwt,
            &thief,
            &session.client_id,
            &session.nonce,
            &default_selection(),
        )
        .await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "sd_jwt:KbJwt:UnknownKey")
        .await;
}

/// Signs with its own key while presenting another's public key and kid.
struct Impostor {
    key: SoftwareSigner,
    claims_to_be: immerse_jose::PublicJwk,
}

impl Signer for Impostor {
    fn algorithm(&self) -> immerse_jose::Algorithm {
        self.key.algorithm()
    }
    fn public_jwk(&self) -> &immerse_jose::PublicJwk {
        &self.claims_to_be
    }
    fn kid(&self) -> &str {
        self.claims_to_be.kid().unwrap_or_default()
    }
    fn sign<'a>(&'a self, message: &'a [u8]) -> immerse_jose::SignFuture<'a> {
        self.key.sign(message)
    }
}

#[tokio::test]
async fn credential_from_a_revoked_issuer_key_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    world
        .registry
        .revoke_key(
            "admin:test",
            common::ISSUER,
            world.issuer_kid(),
            RevocationReason::Compromised,
        )
        .await
        .unwrap();
    let vp = world.present(&sd_jwt, &session).await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "issuer_key:Revoked")
        .await;
}

#[tokio::test]
async fn credential_from_an_issuer_key_retired_past_retention_is_rejected() {
    // Retention 0: the retired key verified what it signed only until it was retired.
    let world = World::start(Options {
        retention: Some(0),
        ..Options::default()
    })
    .await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    world
        .registry
        .retire_key("admin:test", common::ISSUER, world.issuer_kid())
        .await
        .unwrap();
    let vp = world.present(&sd_jwt, &session).await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "issuer_key:Retired")
        .await;
}

#[tokio::test]
async fn credential_revoked_in_the_status_list_is_rejected() {
    let world = World::start(Options::default()).await;
    world.set_status(7, Status::Invalid);
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world.present(&sd_jwt, &session).await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "status:invalid")
        .await;
}

/// Fail closed, and say it is the verifier's trouble: the wallet did nothing wrong.
#[tokio::test]
async fn unreachable_status_list_fails_closed() {
    genuine_presentation_is_status_unavailable(Options {
        status_unreachable: true,
        ..Options::default()
    })
    .await;
}

/// A genuine credential presented to a verifier started with `options` is judged
/// `temporarily_unavailable`.
async fn genuine_presentation_is_status_unavailable(options: Options) {
    let world = World::start(options).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world.present(&sd_jwt, &session).await;
    world
        .assert_status_unavailable(&session, json!({"pid": [vp]}))
        .await;
}

/// The status list is served, on loopback, which this verifier's outbound policy refuses: the
/// URI a credential carries never makes the verifier connect where it may not.
#[tokio::test]
async fn a_status_uri_the_outbound_policy_refuses_is_never_fetched() {
    genuine_presentation_is_status_unavailable(Options {
        outbound: Some(immerse_net::OutboundPolicy {
            allow_loopback: false,
            allow_private_networks: false,
        }),
        ..Options::default()
    })
    .await;
}

#[tokio::test]
async fn expired_credential_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let mut credential = world.credential();
    credential.iat -= 7200;
    credential.exp = Some(immerse_jose::jwt::now() - 3600);
    let sd_jwt = world.issue(&credential).await;
    let vp = world.present(&sd_jwt, &session).await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "sd_jwt:Expired")
        .await;
}

/// Builds `issuer-jwt~d1~...~` + a valid KB-JWT over exactly that text.
async fn with_disclosures(
    world: &World,
    session: &common::Session,
    jwt: &str,
    disclosures: &[&str],
) -> String {
    let mut sd_jwt = format!("{jwt}~");
    for disclosure in disclosures {
        sd_jwt.push_str(disclosure);
        sd_jwt.push('~');
    }
    let input = KeyBindingInput {
        audience: &session.client_id,
        nonce: &session.nonce,
        issued_at: None,
    };
    let kb = key_binding_jwt(&world.holder, &input, &sd_jwt)
        .await
        .unwrap();
    format!("{sd_jwt}{kb}")
}

#[tokio::test]
async fn unreferenced_disclosure_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let other = world.issue(&world.credential()).await;
    let mut disclosures: Vec<&str> = sd_jwt.disclosures().iter().map(|d| d.encoded()).collect();
    // A disclosure from another credential: no digest of this one refers to it.
    disclosures.push(other.disclosures()[0].encoded());
    let vp = with_disclosures(&world, &session, sd_jwt.jwt(), &disclosures).await;
    world
        .assert_refused(
            &session,
            json!({"pid": [vp]}),
            "sd_jwt:UnreferencedDisclosure",
        )
        .await;
}

#[tokio::test]
async fn duplicate_disclosure_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let mut disclosures: Vec<&str> = sd_jwt.disclosures().iter().map(|d| d.encoded()).collect();
    disclosures.push(sd_jwt.disclosures()[0].encoded());
    let vp = with_disclosures(&world, &session, sd_jwt.jwt(), &disclosures).await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "sd_jwt:DuplicateDisclosure")
        .await;
}

#[tokio::test]
async fn missing_required_claim_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    // The holder withholds family_name, which the query requires.
    let selection = [
        ClaimPath::claim("given_name"),
        ClaimPath::claim("address").name("locality"),
    ];
    let vp = world
        .present_with(
            &sd_jwt,
            &world.holder,
            &session.client_id,
            &session.nonce,
            &selection,
        )
        .await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "dcql:MissingClaim")
        .await;
}

#[tokio::test]
async fn wrong_vct_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let mut credential = world.credential();
    credential.vct = "https://credentials.example.com/library_card".into();
    let sd_jwt = world.issue(&credential).await;
    let vp = world.present(&sd_jwt, &session).await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "dcql:VctNotAccepted")
        .await;
}

#[tokio::test]
async fn response_for_an_unrequested_credential_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world.present(&sd_jwt, &session).await;
    world
        .assert_refused(
            &session,
            json!({"other": [vp]}),
            "dcql:UnexpectedCredential",
        )
        .await;
}

#[tokio::test]
async fn kb_jwt_outside_the_iat_window_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let sd_jwt = world.issue(&world.credential()).await;
    let input = KeyBindingInput {
        audience: &session.client_id,
        nonce: &session.nonce,
        issued_at: Some(immerse_jose::jwt::now() - 3600),
    };
    let vp = immerse_sd_jwt::present(
        &sd_jwt,
        &default_selection(),
        Some((&world.holder, input)),
        &Default::default(),
    )
    .await
    .unwrap();
    world
        .assert_refused(&session, json!({"pid": [vp]}), "sd_jwt:KbTooOld")
        .await;
}

#[tokio::test]
async fn credential_from_an_issuer_the_registry_does_not_know_is_rejected() {
    let world = World::start(Options::default()).await;
    let session = world.session().await;
    let mut credential = world.credential();
    credential.iss = "https://unregistered-issuer.test".into();
    let sd_jwt = world.issue(&credential).await;
    let vp = world.present(&sd_jwt, &session).await;
    world
        .assert_refused(&session, json!({"pid": [vp]}), "untrusted_issuer")
        .await;
}
