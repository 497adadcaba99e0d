//! Verification against the local test Sigstore: every bundle shape verifies, and each check
//! refuses a bundle that is wrong in exactly that one place, with its own error variant.
mod common;

use common::*;
use immerse_sigstore::dsse::IN_TOTO_PAYLOAD_TYPE;
use immerse_sigstore::testing::{BundleOptions, Tamper, TestIdentity, TestInstance};
use immerse_sigstore::{
    Artifact, BundleVersion, Error, IdentityPolicy, Matcher, Policy, VerifiedSigner,
};

// ---------------------------------------------------------------- positive

#[test]
fn blob_bundles_of_every_version_verify() {
    let mut instance = TestInstance::new();
    for version in [BundleVersion::V01, BundleVersion::V02, BundleVersion::V03] {
        let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::version(version));
        let verified = verify_blob(&instance, &bundle).expect("bundle verifies");
        assert_eq!(verified.signing_times, vec![instance.now], "{version:?}");
        assert_eq!(
            verified.log_entries[0].inclusion_proven,
            version != BundleVersion::V01
        );
    }
}

#[test]
fn dsse_bundles_of_every_version_and_body_kind_verify() {
    let mut instance = TestInstance::new();
    for version in [BundleVersion::V01, BundleVersion::V02, BundleVersion::V03] {
        for intoto in [false, true] {
            let options = BundleOptions {
                intoto,
                ..BundleOptions::version(version)
            };
            let bundle = instance.sign_dsse(IN_TOTO_PAYLOAD_TYPE, &statement(), &options);
            let verified = verify_dsse(&instance, &bundle).expect("DSSE bundle verifies");
            let (payload_type, payload) = verified.dsse.expect("DSSE payload");
            assert_eq!(payload_type, IN_TOTO_PAYLOAD_TYPE);
            assert_eq!(payload, statement());
        }
    }
}

#[test]
fn rekor_v2_bundles_verify_with_a_timestamp() {
    let mut instance = TestInstance::new();
    let options = BundleOptions {
        rekor_v2: true,
        ..BundleOptions::default()
    };
    let blob = instance.sign_blob(ARTIFACT, &options);
    let verified = verify_blob(&instance, &blob).expect("Rekor v2 blob verifies");
    assert!(verified.log_entries[0].rekor_v2);
    assert_eq!(verified.signing_times, vec![instance.now]);
    let dsse = instance.sign_dsse(IN_TOTO_PAYLOAD_TYPE, &statement(), &options);
    verify_dsse(&instance, &dsse).expect("Rekor v2 DSSE verifies");
}

#[test]
fn timestamp_and_log_give_two_signing_times() {
    let mut instance = TestInstance::new();
    let options = BundleOptions {
        timestamp: true,
        ..BundleOptions::default()
    };
    let bundle = instance.sign_blob(ARTIFACT, &options);
    let verified = verify_blob(&instance, &bundle).unwrap();
    assert_eq!(verified.signing_times, vec![instance.now, instance.now]);
}

#[test]
fn verification_by_digest_only_works() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let digest = openssl::sha::sha256(ARTIFACT);
    verify_value(
        &instance,
        &bundle.to_json(),
        Some(Artifact::Digest(
            immerse_sigstore::HashAlgorithm::Sha256,
            &digest,
        )),
        &Policy::identity(instance.identity_policy()),
    )
    .expect("digest-only verification");
}

#[test]
fn fulcio_extensions_are_exposed_as_typed_fields() {
    let mut instance = TestInstance::new();
    let uri = "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1";
    let options = BundleOptions {
        identity: TestIdentity {
            emails: vec![],
            uris: vec![uri.into()],
            issuer: "https://token.actions.githubusercontent.com".into(),
            extensions: vec![
                (9, uri.into()),
                (12, "https://github.com/org/repo".into()),
                (14, "refs/tags/v1".into()),
                (18, uri.into()),
            ],
        },
        ..BundleOptions::default()
    };
    let bundle = instance.sign_blob(ARTIFACT, &options);
    let policy = IdentityPolicy {
        identity: Matcher::regex(r"https://github\.com/org/repo/\.github/workflows/.*").unwrap(),
        issuer: Matcher::exact("https://token.actions.githubusercontent.com"),
    };
    let verified = verify_value(
        &instance,
        &bundle.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(policy),
    )
    .expect("workflow identity verifies");
    let VerifiedSigner::Certificate { identity, .. } = verified.signer else {
        panic!("certificate signer expected");
    };
    let ext = identity.extensions;
    assert_eq!(ext.build_signer_uri.as_deref(), Some(uri));
    assert_eq!(
        ext.source_repository_uri.as_deref(),
        Some("https://github.com/org/repo")
    );
    assert_eq!(ext.source_repository_ref.as_deref(), Some("refs/tags/v1"));
    assert_eq!(ext.build_config_uri.as_deref(), Some(uri));
    assert_eq!(ext.issuer_v1.as_deref(), ext.issuer_v2.as_deref());
}

// ---------------------------------------------------------------- Fulcio and CT

#[test]
fn certificate_expired_at_integrated_time_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(
        ARTIFACT,
        &BundleOptions::tampered(Tamper::CertificateExpired),
    );
    let err = verify_blob(&instance, &bundle).unwrap_err();
    assert_eq!(err, Error::CertificateNotValidAtTime { time: instance.now });
}

#[test]
fn certificate_from_a_foreign_ca_is_refused() {
    let err = blob_error(&BundleOptions::tampered(Tamper::ForeignCa));
    assert!(matches!(err, Error::CertificateUntrusted(_)), "{err:?}");
}

#[test]
fn sct_from_an_unknown_log_is_refused() {
    assert_eq!(
        blob_error(&BundleOptions::tampered(Tamper::SctUnknownLog)),
        Error::SctUnknownLog
    );
}

#[test]
fn sct_with_a_bad_signature_is_refused() {
    assert_eq!(
        blob_error(&BundleOptions::tampered(Tamper::SctSignature)),
        Error::SctSignature
    );
}

#[test]
fn certificate_without_code_signing_usage_is_refused() {
    assert_eq!(
        blob_error(&BundleOptions::tampered(Tamper::NoCodeSigning)),
        Error::CertificateUsage("codeSigning")
    );
}
// ---------------------------------------------------------------- RFC 3161

#[test]
fn timestamp_over_other_data_is_refused() {
    let options = BundleOptions {
        timestamp: true,
        ..BundleOptions::tampered(Tamper::TimestampOtherData)
    };
    assert_eq!(blob_error(&options), Error::TimestampImprintMismatch);
}

#[test]
fn timestamp_from_an_untrusted_tsa_is_refused() {
    let options = BundleOptions {
        timestamp: true,
        ..BundleOptions::tampered(Tamper::TimestampUntrusted)
    };
    assert_eq!(blob_error(&options), Error::TimestampUntrusted);
}

#[test]
fn timestamp_with_a_flipped_signature_byte_is_refused() {
    let mut instance = TestInstance::new();
    let options = BundleOptions {
        timestamp: true,
        ..BundleOptions::default()
    };
    let bundle = instance.sign_blob(ARTIFACT, &options);
    let mut value = bundle.to_json();
    let pointer =
        "/verificationMaterial/timestampVerificationData/rfc3161Timestamps/0/signedTimestamp";
    let len = b64d(value.pointer(pointer).unwrap().as_str().unwrap()).len();
    flip_b64(&mut value, pointer, len - 3); // inside the ECDSA signature, at the end
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::TimestampUntrusted);
}

// ---------------------------------------------------------------- content

#[test]
fn other_artifact_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let err = verify_value(
        &instance,
        &bundle.to_json(),
        Some(Artifact::Bytes(b"other")),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::ArtifactDigestMismatch);
}

#[test]
fn flipped_message_signature_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let mut value = bundle.to_json();
    flip_b64(&mut value, "/messageSignature/signature", 12);
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::ArtifactSignature);
}

#[test]
fn changed_dsse_payload_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_dsse(
        IN_TOTO_PAYLOAD_TYPE,
        &statement(),
        &BundleOptions::default(),
    );
    let mut value = bundle.to_json();
    let other = String::from_utf8(statement())
        .unwrap()
        .replace("artifact", "artifacT");
    value["dsseEnvelope"]["payload"] = b64e(other.as_bytes()).into();
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::DsseSignature);
}

#[test]
fn dsse_payload_type_other_than_the_policy_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_dsse(
        "application/vnd.other+json",
        b"{}",
        &BundleOptions::default(),
    );
    let policy =
        Policy::identity(instance.identity_policy()).with_payload_type(IN_TOTO_PAYLOAD_TYPE);
    let err = verify_value(&instance, &bundle.to_json(), None, &policy).unwrap_err();
    assert_eq!(
        err,
        Error::DssePayloadType("application/vnd.other+json".into())
    );
}

#[test]
fn dsse_statement_not_naming_the_artifact_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_dsse(
        IN_TOTO_PAYLOAD_TYPE,
        &statement(),
        &BundleOptions::default(),
    );
    let err = verify_value(
        &instance,
        &bundle.to_json(),
        Some(Artifact::Bytes(b"other")),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::DssePayloadDigestMismatch);
}

// ---------------------------------------------------------------- identity

#[test]
fn other_identity_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let policy = Policy::identity(IdentityPolicy::exact(
        "someone@example.com",
        immerse_sigstore::testing::TEST_ISSUER,
    ));
    let err = verify_value(
        &instance,
        &bundle.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &policy,
    )
    .unwrap_err();
    assert!(matches!(err, Error::IdentityMismatch { .. }), "{err:?}");
}

#[test]
fn identity_regex_is_anchored() {
    let mut instance = TestInstance::new();
    let options = BundleOptions {
        identity: TestIdentity {
            emails: vec!["x@example.com.evil".into()],
            ..TestIdentity::default()
        },
        ..BundleOptions::default()
    };
    let bundle = instance.sign_blob(ARTIFACT, &options);
    let policy = Policy::identity(IdentityPolicy {
        identity: Matcher::regex(".*@example.com").unwrap(),
        issuer: Matcher::exact(immerse_sigstore::testing::TEST_ISSUER),
    });
    let err = verify_value(
        &instance,
        &bundle.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &policy,
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::IdentityMismatch {
            found: vec!["x@example.com.evil".into()]
        }
    );
}

#[test]
fn other_issuer_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let policy = Policy::identity(IdentityPolicy::exact(
        immerse_sigstore::testing::TEST_EMAIL,
        "https://accounts.google.com",
    ));
    let err = verify_value(
        &instance,
        &bundle.to_json(),
        Some(Artifact::Bytes(ARTIFACT)),
        &policy,
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::IssuerMismatch {
            found: Some(immerse_sigstore::testing::TEST_ISSUER.into())
        }
    );
}
