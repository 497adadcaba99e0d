//! The Key Registry's operations: every refusal the issue names, with nothing stored and an
//! audit record (one row under an authenticated principal, or a count under `anonymous` for a
//! caller that never authenticated); rotation and retention; restart; tampering.
mod common;

use common::*;
use immerse_jose::{Error as JoseError, Signer, SoftwareSigner, base64url};
use immerse_registry::model::{KeyInvalid, KeyStatus, RevocationReason};
use immerse_registry::{
    ANONYMOUS, AdminKey, KeySubmission, KeyWindow, Peer, Registry, RegistryError,
};
use immerse_store::Store;
use serde_json::json;

const ISSUER: &str = "https://issuer.test";

/// Who a refusal is audited under.
#[derive(Clone, Copy)]
enum Audited<'a> {
    /// One row of its own, under this authenticated principal and the entity.
    As(&'a str),
    /// Counted under `anonymous`: the caller never authenticated, so no name it chose is kept.
    Anonymously,
}

/// What a refused operation must leave behind: no new log entry, no key, and its audit record.
async fn assert_nothing_stored(
    registry: &Registry,
    log_size_before: u64,
    entity: &str,
    code: &str,
    audited: Audited<'_>,
) {
    let report = registry
        .verify_integrity()
        .await
        .expect("state still matches the log");
    assert_eq!(
        report.tree_size, log_size_before,
        "the log grew on a refusal"
    );
    let newest = registry.audit_records(1).await.unwrap().pop();
    match audited {
        Audited::As(actor) => {
            let row = newest.expect("an audit row");
            assert_eq!(row.outcome, "refused");
            assert_eq!(row.error_code.as_deref(), Some(code));
            assert_eq!(row.actor, actor);
            assert_eq!(row.entity_id.as_deref(), Some(entity));
        }
        Audited::Anonymously => {
            assert!(
                newest.is_none_or(|row| row.actor != entity || row.outcome != "refused"),
                "a refusal was audited under the name the caller chose"
            );
            assert_eq!(registry.flush_refusals().await.unwrap(), 1);
            let row = registry.audit_records(1).await.unwrap().remove(0);
            assert_eq!(row.outcome, "refused");
            assert_eq!(row.error_code.as_deref(), Some(code));
            assert_eq!(row.actor, ANONYMOUS, "never the entity the caller named");
            assert_eq!(row.entity_id, None);
            assert!(
                row.detail
                    .starts_with("peer unknown: 1 unauthenticated refusal"),
                "{}",
                row.detail
            );
        }
    }
}

async fn log_size(registry: &Registry) -> u64 {
    registry.verify_integrity().await.unwrap().tree_size
}

fn admin_key(jwk: serde_json::Value) -> AdminKey {
    serde_json::from_value(json!({"jwk": jwk, "alg": "ES256"})).unwrap()
}

#[tokio::test]
async fn first_key_registers_with_secret_and_proof() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    let enrolment = enrol(&registry, ISSUER).await;
    let key = SoftwareSigner::generate().unwrap();
    let proof = proof(&key, ISSUER, "jti-1", clock.now()).await;
    let record = registry
        .submit_key(
            Peer::UNKNOWN,
            ISSUER,
            first_key(proof, &enrolment.enrolment_secret),
        )
        .await
        .expect("registered");
    assert_eq!(record.kid, key.public_jwk().thumbprint_b64());
    assert_eq!(record.status, KeyStatus::Active);
    let jwks = registry.jwks(ISSUER).await.unwrap();
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].kid(), Some(record.kid.as_str()));
    assert_eq!(
        registry.audit_records(1).await.unwrap()[0].outcome,
        "accepted"
    );
}

#[tokio::test]
async fn later_key_needs_a_countersignature_by_an_active_key() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    let enrolment = enrol(&registry, ISSUER).await;
    let first = SoftwareSigner::generate().unwrap();
    let first_proof = proof(&first, ISSUER, "jti-1", clock.now()).await;
    registry
        .submit_key(
            Peer::UNKNOWN,
            ISSUER,
            first_key(first_proof, &enrolment.enrolment_secret),
        )
        .await
        .unwrap();

    let second = SoftwareSigner::generate().unwrap();
    let second_proof = proof(&second, ISSUER, "jti-2", clock.now()).await;
    let before = log_size(&registry).await;
    let unsigned = KeySubmission {
        proof: second_proof.clone(),
        enrolment_secret: None,
        countersignature: None,
    };
    assert!(matches!(
        registry.submit_key(Peer::UNKNOWN, ISSUER, unsigned).await,
        Err(RegistryError::CountersignatureRequired)
    ));
    assert_nothing_stored(
        &registry,
        before,
        ISSUER,
        "invalid_proof",
        Audited::Anonymously,
    )
    .await;

    let stranger = SoftwareSigner::generate().unwrap();
    let forged = KeySubmission {
        proof: second_proof.clone(),
        enrolment_secret: None,
        countersignature: Some(
            countersignature(&stranger, ISSUER, &second_proof, "c-1", clock.now()).await,
        ),
    };
    assert!(matches!(
        registry.submit_key(Peer::UNKNOWN, ISSUER, forged).await,
        Err(RegistryError::InvalidProof(JoseError::UnknownKey(_)))
    ));
    assert_nothing_stored(
        &registry,
        before,
        ISSUER,
        "invalid_proof",
        Audited::Anonymously,
    )
    .await;

    let other_proof = proof(&second, ISSUER, "jti-3", clock.now()).await;
    let mismatched = KeySubmission {
        proof: second_proof.clone(),
        enrolment_secret: None,
        countersignature: Some(
            countersignature(&first, ISSUER, &other_proof, "c-2", clock.now()).await,
        ),
    };
    assert!(matches!(
        registry.submit_key(Peer::UNKNOWN, ISSUER, mismatched).await,
        Err(RegistryError::InvalidProof(JoseError::InvalidClaim(
            "proof_hash"
        )))
    ));

    let countersigned = KeySubmission {
        proof: second_proof.clone(),
        enrolment_secret: None,
        countersignature: Some(
            countersignature(&first, ISSUER, &second_proof, "c-3", clock.now()).await,
        ),
    };
    registry
        .submit_key(Peer::UNKNOWN, ISSUER, countersigned)
        .await
        .expect("countersigned key registers");
    assert_eq!(registry.jwks(ISSUER).await.unwrap().keys.len(), 2);
}

#[tokio::test]
async fn an_entity_retires_its_own_key_with_a_request_signed_by_a_valid_key() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    let enrolment = enrol(&registry, ISSUER).await;
    let old = SoftwareSigner::generate().unwrap();
    let old_proof = proof(&old, ISSUER, "jti-1", clock.now()).await;
    registry
        .submit_key(
            Peer::UNKNOWN,
            ISSUER,
            first_key(old_proof, &enrolment.enrolment_secret),
        )
        .await
        .unwrap();
    let new = SoftwareSigner::generate().unwrap();
    let new_proof = proof(&new, ISSUER, "jti-2", clock.now()).await;
    registry
        .submit_key(
            Peer::UNKNOWN,
            ISSUER,
            KeySubmission {
                countersignature: Some(
                    countersignature(&old, ISSUER, &new_proof, "c-1", clock.now()).await,
                ),
                proof: new_proof,
                enrolment_secret: None,
            },
        )
        .await
        .unwrap();
    let old_kid = old.public_jwk().thumbprint_b64();
    let new_kid = new.public_jwk().thumbprint_b64();
    let before = log_size(&registry).await;

    let stranger = SoftwareSigner::generate().unwrap();
    let by_stranger = retirement(&stranger, ISSUER, &old_kid, "r-1", clock.now()).await;
    assert!(matches!(
        registry
            .retire_own_key(Peer::UNKNOWN, ISSUER, &old_kid, &by_stranger)
            .await,
        Err(RegistryError::InvalidProof(JoseError::UnknownKey(_)))
    ));
    assert_nothing_stored(
        &registry,
        before,
        ISSUER,
        "invalid_proof",
        Audited::Anonymously,
    )
    .await;

    // A request to retire one key cannot be used on another.
    let for_new = retirement(&new, ISSUER, &new_kid, "r-2", clock.now()).await;
    assert!(matches!(
        registry
            .retire_own_key(Peer::UNKNOWN, ISSUER, &old_kid, &for_new)
            .await,
        Err(RegistryError::InvalidProof(JoseError::InvalidClaim("kid")))
    ));
    assert_nothing_stored(
        &registry,
        before,
        ISSUER,
        "invalid_proof",
        Audited::Anonymously,
    )
    .await;

    // A countersignature is not a retirement request, whatever it says.
    let wrong_typ = countersignature(&new, ISSUER, "x", "r-3", clock.now()).await;
    assert!(matches!(
        registry
            .retire_own_key(Peer::UNKNOWN, ISSUER, &old_kid, &wrong_typ)
            .await,
        Err(RegistryError::InvalidProof(_))
    ));
    assert_nothing_stored(
        &registry,
        before,
        ISSUER,
        "invalid_proof",
        Audited::Anonymously,
    )
    .await;

    let request = retirement(&new, ISSUER, &old_kid, "r-4", clock.now()).await;
    let retired = registry
        .retire_own_key(Peer::UNKNOWN, ISSUER, &old_kid, &request)
        .await
        .expect("the new key retires the old one");
    assert_eq!(retired.status, KeyStatus::Retired);
    assert_eq!(retired.retired_at, Some(clock.now()));
    assert_eq!(log_size(&registry).await, before + 1);
    assert!(
        registry.jwks(ISSUER).await.unwrap().keys.len() == 2,
        "a retired key stays published for the retention"
    );

    let after = log_size(&registry).await;
    assert!(matches!(
        registry
            .retire_own_key(Peer::UNKNOWN, ISSUER, &old_kid, &request)
            .await,
        Err(RegistryError::Replayed(_))
    ));
    assert_nothing_stored(
        &registry,
        after,
        ISSUER,
        "replay_detected",
        Audited::Anonymously,
    )
    .await;
    let again = retirement(&new, ISSUER, &old_kid, "r-5", clock.now()).await;
    assert!(matches!(
        registry
            .retire_own_key(Peer::UNKNOWN, ISSUER, &old_kid, &again)
            .await,
        Err(RegistryError::InvalidTransition { .. })
    ));

    registry
        .set_suspended("admin:test", ISSUER, true)
        .await
        .unwrap();
    let suspended = retirement(&new, ISSUER, &new_kid, "r-6", clock.now()).await;
    assert!(matches!(
        registry
            .retire_own_key(Peer::UNKNOWN, ISSUER, &new_kid, &suspended)
            .await,
        Err(RegistryError::EntitySuspended(_))
    ));
}

#[tokio::test]
async fn refused_keys_store_nothing_and_are_audited() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    enrol(&registry, ISSUER).await;
    let valid = public(&SoftwareSigner::generate().unwrap()).to_object();
    let mut with_private = valid.clone();
    with_private.insert("d".into(), json!("AAAA"));
    let mut off_curve = valid.clone();
    let mut y = base64url::decode(valid["y"].as_str().unwrap(), "y").unwrap();
    y[31] ^= 1;
    off_curve.insert("y".into(), json!(base64url::encode(&y)));
    let small_rsa = openssl::rsa::Rsa::generate(1024).unwrap();
    let cases = [
        (json!(with_private), JoseError::PrivateKeyMember("d")),
        (json!({"kty":"oct","k":"c2VjcmV0"}), JoseError::SymmetricKey),
        (
            json!({"kty":"EC","crv":"P-521","x":"AA","y":"AA"}),
            JoseError::UnsupportedCurve("P-521".into()),
        ),
        (json!(off_curve), JoseError::PointNotOnCurve),
        (
            json!({"kty":"RSA","n": base64url::encode(small_rsa.n().to_vec()),"e": base64url::encode(small_rsa.e().to_vec())}),
            JoseError::RsaKeyTooSmall(1024),
        ),
    ];
    for (jwk, expected) in cases {
        let before = log_size(&registry).await;
        match registry.add_key("admin:test", ISSUER, admin_key(jwk)).await {
            Err(RegistryError::InvalidKey(err)) => assert_eq!(err, expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
        assert_nothing_stored(
            &registry,
            before,
            ISSUER,
            "invalid_key",
            Audited::As("admin:test"),
        )
        .await;
        assert!(registry.keys(ISSUER).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn unsupported_algorithm_is_refused() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    let enrolment = enrol(&registry, ISSUER).await;
    let key = SoftwareSigner::generate().unwrap();
    let header = json!({"alg":"ES384","typ": immerse_registry::KEY_PROOF_TYP, "jwk": public(&key).to_object()});
    let claims = json!({"iss": ISSUER, "aud": REGISTRY_ID, "iat": clock.now(), "exp": clock.now() + 60, "jti": "a"});
    let proof = sign_with_header(&key, header, claims).await;
    let before = log_size(&registry).await;
    assert!(matches!(
        registry.submit_key(Peer::UNKNOWN, ISSUER, first_key(proof, &enrolment.enrolment_secret)).await,
        Err(RegistryError::UnsupportedAlgorithm(alg)) if alg == "ES384"
    ));
    assert_nothing_stored(
        &registry,
        before,
        ISSUER,
        "invalid_key",
        Audited::Anonymously,
    )
    .await;
}

#[tokio::test]
async fn private_member_in_the_proof_header_is_refused() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    let enrolment = enrol(&registry, ISSUER).await;
    let key = SoftwareSigner::generate().unwrap();
    let mut jwk = public(&key).to_object();
    jwk.insert("d".into(), json!("AAAA"));
    let header = json!({"alg":"ES256","typ": immerse_registry::KEY_PROOF_TYP, "jwk": jwk});
    let claims = json!({"iss": ISSUER, "aud": REGISTRY_ID, "iat": clock.now(), "exp": clock.now() + 60, "jti": "a"});
    let proof = sign_with_header(&key, header, claims).await;
    assert!(matches!(
        registry
            .submit_key(
                Peer::UNKNOWN,
                ISSUER,
                first_key(proof, &enrolment.enrolment_secret)
            )
            .await,
        Err(RegistryError::InvalidKey(JoseError::PrivateKeyMember("d")))
    ));
    assert!(registry.keys(ISSUER).await.unwrap().is_empty());
}

#[tokio::test]
async fn failed_proofs_of_possession_are_refused() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    let enrolment = enrol(&registry, ISSUER).await;
    let key = SoftwareSigner::generate().unwrap();
    let good = proof(&key, ISSUER, "jti", clock.now()).await;
    let (head, rest) = good.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let forged_claims = json!({"iss": ISSUER, "aud": REGISTRY_ID, "iat": clock.now(), "exp": clock.now() + 60, "jti": "x"});
    let tampered = format!(
        "{head}.{}.{signature}",
        base64url::encode(forged_claims.to_string())
    );
    let wrong_audience = sign_with_header(
        &key,
        json!({"alg":"ES256","typ": immerse_registry::KEY_PROOF_TYP, "jwk": public(&key).to_object()}),
        json!({"iss": ISSUER, "aud": "https://elsewhere", "iat": clock.now(), "exp": clock.now() + 60, "jti": "y"}),
    )
    .await;
    let stale = proof(&key, ISSUER, "z", clock.now() - 3600).await;
    let cases = [
        (tampered, JoseError::InvalidSignature),
        (
            wrong_audience,
            JoseError::AudienceMismatch(REGISTRY_ID.into()),
        ),
        (stale, JoseError::Expired),
    ];
    for (proof, expected) in cases {
        let before = log_size(&registry).await;
        match registry
            .submit_key(
                Peer::UNKNOWN,
                ISSUER,
                first_key(proof, &enrolment.enrolment_secret),
            )
            .await
        {
            Err(RegistryError::InvalidProof(err)) => assert_eq!(err, expected),
            other => panic!("expected {expected:?}, got {other:?}"),
        }
        assert_nothing_stored(
            &registry,
            before,
            ISSUER,
            "invalid_proof",
            Audited::Anonymously,
        )
        .await;
    }
    // The secret was not spent by the refusals.
    let proof = proof(&key, ISSUER, "fresh", clock.now()).await;
    registry
        .submit_key(
            Peer::UNKNOWN,
            ISSUER,
            first_key(proof, &enrolment.enrolment_secret),
        )
        .await
        .expect("secret still valid");
}

#[tokio::test]
async fn replayed_submission_is_refused() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    let enrolment = enrol(&registry, ISSUER).await;
    let first = SoftwareSigner::generate().unwrap();
    let first_proof = proof(&first, ISSUER, "jti-1", clock.now()).await;
    registry
        .submit_key(
            Peer::UNKNOWN,
            ISSUER,
            first_key(first_proof, &enrolment.enrolment_secret),
        )
        .await
        .unwrap();
    // Same jti, new key, valid countersignature: the jti alone makes it a replay.
    let second = SoftwareSigner::generate().unwrap();
    let replayed_proof = proof(&second, ISSUER, "jti-1", clock.now()).await;
    let submission = KeySubmission {
        countersignature: Some(
            countersignature(&first, ISSUER, &replayed_proof, "c-1", clock.now()).await,
        ),
        proof: replayed_proof,
        enrolment_secret: None,
    };
    let before = log_size(&registry).await;
    assert!(matches!(
        registry.submit_key(Peer::UNKNOWN, ISSUER, submission).await,
        Err(RegistryError::Replayed(jti)) if jti == "jti-1"
    ));
    assert_nothing_stored(
        &registry,
        before,
        ISSUER,
        "replay_detected",
        Audited::Anonymously,
    )
    .await;
    assert_eq!(registry.keys(ISSUER).await.unwrap().len(), 1);
}

#[tokio::test]
async fn expired_or_reused_enrolment_secret_is_refused() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    let enrolment = enrol(&registry, ISSUER).await;
    let key = SoftwareSigner::generate().unwrap();
    registry
        .submit_key(
            Peer::UNKNOWN,
            ISSUER,
            first_key(
                proof(&key, ISSUER, "1", clock.now()).await,
                &enrolment.enrolment_secret,
            ),
        )
        .await
        .unwrap();
    let other = SoftwareSigner::generate().unwrap();
    let before = log_size(&registry).await;
    assert!(matches!(
        registry
            .submit_key(
                Peer::UNKNOWN,
                ISSUER,
                first_key(
                    proof(&other, ISSUER, "2", clock.now()).await,
                    &enrolment.enrolment_secret
                )
            )
            .await,
        Err(RegistryError::EnrolmentSecret("already used"))
    ));
    assert_nothing_stored(
        &registry,
        before,
        ISSUER,
        "invalid_grant",
        Audited::Anonymously,
    )
    .await;

    let late = "https://late.test";
    let late_enrolment = enrol(&registry, late).await;
    clock.advance(registry.config().enrolment_secret_lifetime);
    let before = log_size(&registry).await;
    assert!(matches!(
        registry
            .submit_key(
                Peer::UNKNOWN,
                late,
                first_key(
                    proof(&other, late, "3", clock.now()).await,
                    &late_enrolment.enrolment_secret
                )
            )
            .await,
        Err(RegistryError::EnrolmentSecret("expired"))
    ));
    assert_nothing_stored(
        &registry,
        before,
        late,
        "invalid_grant",
        Audited::Anonymously,
    )
    .await;
    assert!(matches!(
        registry
            .submit_key(
                Peer::UNKNOWN,
                late,
                first_key(proof(&other, late, "4", clock.now()).await, "ime_guess")
            )
            .await,
        Err(RegistryError::EnrolmentSecret("unknown"))
    ));
}

#[tokio::test]
async fn kid_bound_to_another_entity_is_refused() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    enrol(&registry, ISSUER).await;
    let other = "https://other.test";
    let other_enrolment = enrol(&registry, other).await;
    let key = SoftwareSigner::generate().unwrap();
    registry
        .add_key(
            "admin:test",
            ISSUER,
            admin_key(json!(public(&key).to_object())),
        )
        .await
        .unwrap();
    let before = log_size(&registry).await;
    assert!(matches!(
        registry
            .submit_key(Peer::UNKNOWN, other, first_key(proof(&key, other, "1", clock.now()).await, &other_enrolment.enrolment_secret))
            .await,
        Err(RegistryError::KidBoundElsewhere(kid)) if kid == key.public_jwk().thumbprint_b64()
    ));
    assert_nothing_stored(&registry, before, other, "conflict", Audited::As(other)).await;
}

#[tokio::test]
async fn suspended_entity_cannot_add_keys_and_has_no_valid_keys() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    let enrolment = enrol(&registry, ISSUER).await;
    let key = SoftwareSigner::generate().unwrap();
    registry
        .add_key(
            "admin:test",
            ISSUER,
            admin_key(json!(public(&key).to_object())),
        )
        .await
        .unwrap();
    registry
        .set_suspended("admin:test", ISSUER, true)
        .await
        .unwrap();
    assert!(registry.jwks(ISSUER).await.unwrap().keys.is_empty());
    let other = SoftwareSigner::generate().unwrap();
    let before = log_size(&registry).await;
    assert!(matches!(
        registry
            .submit_key(
                Peer::UNKNOWN,
                ISSUER,
                first_key(
                    proof(&other, ISSUER, "1", clock.now()).await,
                    &enrolment.enrolment_secret
                )
            )
            .await,
        Err(RegistryError::EntitySuspended(_))
    ));
    assert_nothing_stored(
        &registry,
        before,
        ISSUER,
        "access_denied",
        Audited::Anonymously,
    )
    .await;
    assert_eq!(
        registry
            .key_valid_at(ISSUER, &key.public_jwk().thumbprint_b64(), clock.now())
            .await
            .unwrap(),
        Err(KeyInvalid::EntitySuspended)
    );
    registry
        .set_suspended("admin:test", ISSUER, false)
        .await
        .unwrap();
    assert_eq!(registry.jwks(ISSUER).await.unwrap().keys.len(), 1);
}

#[tokio::test]
async fn retired_keys_stay_published_for_the_retention_and_revoked_keys_leave_at_once() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    enrol(&registry, ISSUER).await;
    let old = SoftwareSigner::generate().unwrap();
    let compromised = SoftwareSigner::generate().unwrap();
    for key in [&old, &compromised] {
        registry
            .add_key(
                "admin:test",
                ISSUER,
                admin_key(json!(public(key).to_object())),
            )
            .await
            .unwrap();
    }
    let old_kid = old.public_jwk().thumbprint_b64();
    let bad_kid = compromised.public_jwk().thumbprint_b64();
    registry
        .retire_key("admin:test", ISSUER, &old_kid)
        .await
        .unwrap();
    registry
        .revoke_key(
            "admin:test",
            ISSUER,
            &bad_kid,
            RevocationReason::Compromised,
        )
        .await
        .unwrap();
    let published: Vec<_> = registry
        .jwks(ISSUER)
        .await
        .unwrap()
        .keys
        .iter()
        .map(|k| k.kid().unwrap().to_owned())
        .collect();
    assert_eq!(published, std::slice::from_ref(&old_kid));
    assert_eq!(
        registry
            .key_valid_at(ISSUER, &bad_kid, clock.now() - 10)
            .await
            .unwrap(),
        Err(KeyInvalid::Revoked)
    );
    clock.advance(registry.config().retention.0);
    assert!(registry.jwks(ISSUER).await.unwrap().keys.is_empty());
    assert_eq!(
        registry
            .key_valid_at(ISSUER, &old_kid, clock.now())
            .await
            .unwrap(),
        Err(KeyInvalid::Retired)
    );
    assert!(matches!(
        registry.retire_key("admin:test", ISSUER, &old_kid).await,
        Err(RegistryError::InvalidTransition { .. })
    ));
    // History keeps both, with the revocation reason.
    let keys = registry.keys(ISSUER).await.unwrap();
    assert_eq!(keys.len(), 2);
    let revoked = keys.iter().find(|k| k.kid == bad_kid).unwrap();
    assert_eq!(
        revoked.revocation_reason,
        Some(RevocationReason::Compromised)
    );
}

#[tokio::test]
async fn keys_past_exp_leave_on_their_own() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    enrol(&registry, ISSUER).await;
    let key = SoftwareSigner::generate().unwrap();
    let request = AdminKey {
        window: KeyWindow {
            nbf: None,
            exp: Some(clock.now() + 100),
        },
        ..admin_key(json!(public(&key).to_object()))
    };
    registry
        .add_key("admin:test", ISSUER, request)
        .await
        .unwrap();
    assert_eq!(registry.jwks(ISSUER).await.unwrap().keys.len(), 1);
    clock.advance(100);
    assert!(registry.jwks(ISSUER).await.unwrap().keys.is_empty());
}

#[tokio::test]
async fn a_restart_keeps_entities_keys_and_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let clock = TestClock::new();
    let kid = {
        let registry = registry_on(Store::connect(&url).await.unwrap(), &clock);
        enrol(&registry, ISSUER).await;
        let key = SoftwareSigner::generate().unwrap();
        let record = registry
            .add_key(
                "admin:test",
                ISSUER,
                admin_key(json!(public(&key).to_object())),
            )
            .await
            .unwrap();
        registry.store().close().await;
        record.kid
    };
    let registry = registry_on(Store::connect(&url).await.unwrap(), &clock);
    let report = registry
        .verify_integrity()
        .await
        .expect("log intact after restart");
    assert_eq!((report.tree_size, report.entities, report.keys), (2, 1, 1));
    assert_eq!(
        registry.jwks(ISSUER).await.unwrap().keys[0].kid(),
        Some(kid.as_str())
    );
}

#[tokio::test]
async fn rows_changed_by_hand_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let clock = TestClock::new();
    let registry = registry_on(Store::connect(&url).await.unwrap(), &clock);
    enrol(&registry, ISSUER).await;
    let key = SoftwareSigner::generate().unwrap();
    let record = registry
        .add_key(
            "admin:test",
            ISSUER,
            admin_key(json!(public(&key).to_object())),
        )
        .await
        .unwrap();
    registry
        .revoke_key(
            "admin:test",
            ISSUER,
            &record.kid,
            RevocationReason::Compromised,
        )
        .await
        .unwrap();
    registry.verify_integrity().await.expect("intact");

    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    // Someone "un-revokes" the key in the state table.
    sqlx::query(
        "UPDATE registry_keys SET status = 'active', revoked_at = NULL, revocation_reason = NULL",
    )
    .execute(&raw)
    .await
    .unwrap();
    assert!(
        matches!(registry.verify_integrity().await, Err(RegistryError::Integrity(what)) if what.contains(&record.kid))
    );
    sqlx::query("UPDATE registry_keys SET status = 'revoked', revoked_at = $1, revocation_reason = 'compromised'")
        .bind(clock.now())
        .execute(&raw)
        .await
        .unwrap();
    registry.verify_integrity().await.expect("restored");
    // Someone rewrites history in the log itself.
    sqlx::query("UPDATE registry_log SET leaf = replace(leaf, 'compromised', 'superseded')")
        .execute(&raw)
        .await
        .unwrap();
    assert!(
        matches!(registry.verify_integrity().await, Err(RegistryError::Integrity(what)) if what.contains("checkpoint"))
    );
}

#[tokio::test]
async fn statements_and_proofs_verify_with_the_root_key_alone() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    enrol(&registry, ISSUER).await;
    let key = SoftwareSigner::generate().unwrap();
    let record = registry
        .add_key(
            "admin:test",
            ISSUER,
            admin_key(json!(public(&key).to_object())),
        )
        .await
        .unwrap();
    let root = ROOT.public_jwk().clone();
    let statement = registry.entity_statement(ISSUER).await.unwrap();
    let validation = immerse_jose::jwt::Validation::new("entity-statement+jwt")
        .issuer(REGISTRY_ID)
        .at(clock.now());
    let claims = immerse_jose::jwt::verify(&statement, &validation, &root)
        .unwrap()
        .into_inner()
        .claims;
    assert_eq!(claims["sub"], ISSUER);
    let proof: immerse_registry::publish::InclusionProof =
        serde_json::from_value(claims["immerse_log"]["keys"][0]["inclusion"].clone()).unwrap();
    let (checkpoint, leaf) = proof.verify(&root, REGISTRY_ID, clock.now()).unwrap();
    assert_eq!(checkpoint.tree_size, 2);
    assert!(String::from_utf8(leaf).unwrap().contains(&record.kid));
    // The same statement is served within the publication window, so its ETag is stable.
    assert_eq!(registry.entity_statement(ISSUER).await.unwrap(), statement);
    let old_root = checkpoint.root().unwrap();
    registry
        .retire_key("admin:test", ISSUER, &record.kid)
        .await
        .unwrap();
    let newer = immerse_registry::log::Checkpoint::verify(
        &registry.checkpoint().await.unwrap(),
        &root,
        REGISTRY_ID,
        clock.now(),
    )
    .unwrap();
    let consistency: Vec<[u8; 32]> = registry
        .consistency_proof(2, 3)
        .await
        .unwrap()
        .iter()
        .map(|hash| base64url::decode(hash, "h").unwrap().try_into().unwrap())
        .collect();
    immerse_merkle::verify_consistency(2, 3, &old_root, &newer.root().unwrap(), &consistency)
        .expect("consistent");
}
