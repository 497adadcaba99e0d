//! Transparency-log checks (SET, inclusion proof, checkpoint, entry body, Rekor v2) and the
//! bundle version rules, against the local test Sigstore: each refusal has its own variant.
mod common;

use common::*;
use immerse_merkle::MerkleError;
use immerse_sigstore::testing::{BundleOptions, Tamper, TestInstance};
use immerse_sigstore::{Artifact, BundleVersion, Error, Policy};

// ---------------------------------------------------------------- Rekor

#[test]
fn set_with_a_flipped_byte_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::version(BundleVersion::V01));
    let mut value = bundle.to_json();
    flip_b64(
        &mut value,
        "/verificationMaterial/tlogEntries/0/inclusionPromise/signedEntryTimestamp",
        10,
    );
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::SetSignature);
}

#[test]
fn changed_integrated_time_breaks_the_set() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let mut value = bundle.to_json();
    value["verificationMaterial"]["tlogEntries"][0]["integratedTime"] =
        (instance.now + 1).to_string().into();
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::SetSignature);
}

#[test]
fn checkpoint_signed_by_another_key_is_refused() {
    assert_eq!(
        blob_error(&BundleOptions::tampered(Tamper::CheckpointSignature)),
        Error::CheckpointSignature
    );
}

#[test]
fn checkpoint_root_other_than_the_proof_root_is_refused() {
    assert_eq!(
        blob_error(&BundleOptions::tampered(Tamper::CheckpointRoot)),
        Error::CheckpointMismatch
    );
}

#[test]
fn checkpoint_text_edited_after_signing_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let mut value = bundle.to_json();
    let pointer = "/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint/envelope";
    let note = value.pointer(pointer).unwrap().as_str().unwrap().to_owned();
    let edited = note.replacen("rekor.test - 4242\n1\n", "rekor.test - 4242\n2\n", 1);
    assert_ne!(note, edited);
    *value.pointer_mut(pointer).unwrap() = edited.into();
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::CheckpointSignature);
}

#[test]
fn inclusion_proof_with_a_changed_hash_is_refused() {
    let mut instance = TestInstance::new();
    // Two earlier entries so that the proof has hashes.
    instance.sign_blob(b"one", &BundleOptions::default());
    instance.sign_blob(b"two", &BundleOptions::default());
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let mut value = bundle.to_json();
    flip_b64(
        &mut value,
        "/verificationMaterial/tlogEntries/0/inclusionProof/hashes/0",
        0,
    );
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::InclusionProof(MerkleError::RootMismatch));
}

#[test]
fn inclusion_proof_with_a_changed_root_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let mut value = bundle.to_json();
    flip_b64(
        &mut value,
        "/verificationMaterial/tlogEntries/0/inclusionProof/rootHash",
        0,
    );
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::InclusionProof(MerkleError::RootMismatch));
}

#[test]
fn entry_from_an_unknown_log_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let mut value = bundle.to_json();
    flip_b64(
        &mut value,
        "/verificationMaterial/tlogEntries/0/logId/keyId",
        0,
    );
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnknownLog(_)), "{err:?}");
}

#[test]
fn body_naming_another_digest_is_refused() {
    assert_eq!(
        blob_error(&BundleOptions::tampered(Tamper::BodyDigest)),
        Error::BodyDigestMismatch
    );
    assert_eq!(
        dsse_error(&BundleOptions::tampered(Tamper::BodyDigest)),
        Error::BodyDigestMismatch
    );
}

#[test]
fn body_with_another_signature_is_refused() {
    assert_eq!(
        blob_error(&BundleOptions::tampered(Tamper::BodySignature)),
        Error::BodySignatureMismatch
    );
    assert_eq!(
        dsse_error(&BundleOptions::tampered(Tamper::BodySignature)),
        Error::BodySignatureMismatch
    );
}

#[test]
fn body_with_another_certificate_is_refused() {
    assert_eq!(
        blob_error(&BundleOptions::tampered(Tamper::BodyCertificate)),
        Error::BodyKeyMismatch
    );
    assert_eq!(
        dsse_error(&BundleOptions::tampered(Tamper::BodyCertificate)),
        Error::BodyKeyMismatch
    );
}

#[test]
fn rekor_v2_body_mismatches_are_refused() {
    for (tamper, expected) in [
        (Tamper::BodyDigest, Error::BodyDigestMismatch),
        (Tamper::BodySignature, Error::BodySignatureMismatch),
        (Tamper::BodyCertificate, Error::BodyKeyMismatch),
    ] {
        let options = BundleOptions {
            rekor_v2: true,
            ..BundleOptions::tampered(tamper)
        };
        assert_eq!(blob_error(&options), expected);
        assert_eq!(dsse_error(&options), expected);
    }
}

#[test]
fn kind_version_differing_from_the_body_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let mut value = bundle.to_json();
    value["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["kind"] = "dsse".into();
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::BodyKindMismatch);
}

#[test]
fn rekor_v2_entry_without_timestamp_is_refused() {
    let mut instance = TestInstance::new();
    let options = BundleOptions {
        rekor_v2: true,
        ..BundleOptions::default()
    };
    let bundle = instance.sign_blob(ARTIFACT, &options);
    let mut value = bundle.to_json();
    value["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"] =
        serde_json::json!([]);
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::RekorV2NeedsTimestamp);
}

#[test]
fn certificate_bundle_without_log_entry_is_refused() {
    let options = BundleOptions {
        tlog: false,
        timestamp: true,
        ..BundleOptions::default()
    };
    assert_eq!(blob_error(&options), Error::TransparencyLogRequired);
}

// ---------------------------------------------------------------- bundle version rules

#[test]
fn v01_entry_without_inclusion_promise_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::version(BundleVersion::V01));
    let mut value = bundle.to_json();
    value["verificationMaterial"]["tlogEntries"][0]
        .as_object_mut()
        .unwrap()
        .remove("inclusionPromise");
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::MissingInclusionPromise);
}

#[test]
fn v02_and_v03_entries_without_inclusion_proof_are_refused() {
    let mut instance = TestInstance::new();
    for version in [BundleVersion::V02, BundleVersion::V03] {
        let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::version(version));
        let mut value = bundle.to_json();
        value["verificationMaterial"]["tlogEntries"][0]
            .as_object_mut()
            .unwrap()
            .remove("inclusionProof");
        let err = verify_value(
            &instance,
            &value,
            Some(Artifact::Bytes(ARTIFACT)),
            &Policy::identity(instance.identity_policy()),
        )
        .unwrap_err();
        assert_eq!(err, Error::MissingInclusionProof);
    }
}

#[test]
fn v03_with_a_certificate_chain_is_refused() {
    let mut instance = TestInstance::new();
    let v2 = instance
        .sign_blob(ARTIFACT, &BundleOptions::version(BundleVersion::V02))
        .to_json();
    let mut value = v2.clone();
    value["mediaType"] = immerse_sigstore::bundle::MEDIA_TYPE_V03.into();
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::CertificateChainInV03);
}

#[test]
fn v02_with_a_single_certificate_is_refused() {
    let mut instance = TestInstance::new();
    let mut value = instance
        .sign_blob(ARTIFACT, &BundleOptions::default())
        .to_json();
    value["mediaType"] = immerse_sigstore::bundle::MEDIA_TYPE_V02.into();
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::BundleField(_)), "{err:?}");
}

#[test]
fn unknown_media_type_and_unknown_fields_are_refused() {
    let mut instance = TestInstance::new();
    let mut value = instance
        .sign_blob(ARTIFACT, &BundleOptions::default())
        .to_json();
    value["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.4+json".into();
    let err = verify_value(
        &instance,
        &value,
        None,
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::BundleMediaType(_)), "{err:?}");
    let mut value = instance
        .sign_blob(ARTIFACT, &BundleOptions::default())
        .to_json();
    value["verificationMaterial"]["surprise"] = true.into();
    let err = verify_value(
        &instance,
        &value,
        None,
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert!(matches!(err, Error::BundleJson(_)), "{err:?}");
}

#[test]
fn trusted_root_is_parsed_strictly() {
    let instance = TestInstance::new();
    let mut root: serde_json::Value = serde_json::from_str(&instance.trusted_root_json()).unwrap();
    root["mediaType"] = "application/vnd.dev.sigstore.trustedroot+json;version=0.2".into();
    assert!(matches!(
        immerse_sigstore::TrustedRoot::from_json(&root.to_string()),
        Err(Error::TrustRootMediaType(_))
    ));
    let mut root: serde_json::Value = serde_json::from_str(&instance.trusted_root_json()).unwrap();
    flip_b64(&mut root, "/tlogs/0/logId/keyId", 0);
    assert!(matches!(
        immerse_sigstore::TrustedRoot::from_json(&root.to_string()),
        Err(Error::TrustRootEntry(_))
    ));
    let mut root: serde_json::Value = serde_json::from_str(&instance.trusted_root_json()).unwrap();
    root["ctlogs"][0]["publicKey"]["validFor"]["start"] = "yesterday".into();
    assert!(matches!(
        immerse_sigstore::TrustedRoot::from_json(&root.to_string()),
        Err(Error::TrustRootEntry(_))
    ));
}

/// The ECDSA key ID does not cover the key name, so the name is checked on its own: a
/// signature line naming another key is ignored, and then no known signature remains.
#[test]
fn checkpoint_signature_under_another_key_name_is_refused() {
    let mut instance = TestInstance::new();
    let bundle = instance.sign_blob(ARTIFACT, &BundleOptions::default());
    let mut value = bundle.to_json();
    let pointer = "/verificationMaterial/tlogEntries/0/inclusionProof/checkpoint/envelope";
    let note = value.pointer(pointer).unwrap().as_str().unwrap().to_owned();
    let renamed = note.replace("\u{2014} rekor.test ", "\u{2014} rekor.evil ");
    assert_ne!(note, renamed);
    *value.pointer_mut(pointer).unwrap() = renamed.into();
    let err = verify_value(
        &instance,
        &value,
        Some(Artifact::Bytes(ARTIFACT)),
        &Policy::identity(instance.identity_policy()),
    )
    .unwrap_err();
    assert_eq!(err, Error::CheckpointSignature);
}
