//! Image signatures and SLSA provenance through both of cosign's storage schemes, against the
//! real registry (Debian's docker-registry on 127.0.0.1, which has no referrers API, so bundle
//! referrers go through the tag-schema fallback), with software keys and the local Sigstore.

mod chain;

use chain::*;
use immerse_oci::cosign::{self, Scheme, SignatureLayer, SimpleSigning};
use immerse_oci::testing::TestRegistry;
use immerse_sigstore::testing::{BundleOptions, TestInstance};
use immerse_sigstore::{BundleVersion, Content, Error as SigstoreError, Policy, VerifiedSigner};
use immerse_slsa::sign::{SignatureStore, attest_image, cosign_sign_statement, sign_image};
use immerse_slsa::{
    IN_TOTO_PAYLOAD_TYPE, RejectReason, SLSA_PROVENANCE_V1, SlsaError, legacy_material,
    verify_image_provenance, verify_image_signatures,
};

const REFERENCE: &str = "127.0.0.1/demo";

#[tokio::test]
async fn key_signed_image_verifies_through_each_scheme_alone() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/signed").expect("repo");
    let key = signer();
    let (verifier, policy) = (key_verifier(), key_policy(&key));

    let legacy_only = push_image(&repo, "a", b"image a").await;
    let written = sign_image(&repo, &legacy_only, REFERENCE, &key)
        .await
        .expect("sign");
    let both = verify_image_signatures(&repo, &legacy_only, &verifier, &policy)
        .await
        .expect("both schemes verify");
    assert_eq!(both.len(), 2);
    assert!(
        both.iter()
            .any(|s| matches!(s.scheme, Scheme::LegacyTag(_)))
    );
    assert!(both.iter().any(|s| s.scheme == Scheme::Referrer));
    assert!(
        both.iter()
            .all(|s| matches!(s.signer, VerifiedSigner::Key(_)))
    );
    assert_eq!(both[0].docker_reference.as_deref(), Some(REFERENCE));

    repo.delete_manifest(&written.referrer.digest)
        .await
        .expect("delete referrer");
    let legacy = verify_image_signatures(&repo, &legacy_only, &verifier, &policy)
        .await
        .expect("the .sig tag alone verifies");
    assert_eq!(legacy.len(), 1);
    assert!(matches!(legacy[0].scheme, Scheme::LegacyTag(_)));

    let referrer_only = push_image(&repo, "b", b"image b").await;
    let written = sign_image(&repo, &referrer_only, REFERENCE, &key)
        .await
        .expect("sign");
    repo.delete_manifest(&written.legacy.digest)
        .await
        .expect("delete .sig");
    let referrer = verify_image_signatures(&repo, &referrer_only, &verifier, &policy)
        .await
        .expect("the bundle referrer alone verifies");
    assert_eq!(referrer.len(), 1);
    assert_eq!(referrer[0].scheme, Scheme::Referrer);
}

#[tokio::test]
async fn key_signature_without_log_entry_passes_only_when_policy_allows() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/notlog").expect("repo");
    let key = signer();
    let image = push_image(&repo, "v1", b"unlogged").await;
    sign_image(&repo, &image, REFERENCE, &key)
        .await
        .expect("sign");
    let strict = Policy::key(immerse_sigstore::sign::signer_key(&key).expect("key"));
    let err = verify_image_signatures(&repo, &image, &key_verifier(), &strict)
        .await
        .expect_err("no log entry, no consent");
    let reasons = reasons(&err);
    assert_eq!(reasons.len(), 2, "{err}");
    assert!(
        reasons
            .iter()
            .all(|r| *r == RejectReason::Sigstore(SigstoreError::TransparencyLogRequired)),
        "{err}"
    );
}

#[tokio::test]
async fn signature_by_another_key_is_refused_in_both_schemes() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/otherkey").expect("repo");
    let image = push_image(&repo, "v1", b"other key").await;
    sign_image(&repo, &image, REFERENCE, &signer())
        .await
        .expect("sign");
    let err = verify_image_signatures(&repo, &image, &key_verifier(), &key_policy(&signer()))
        .await
        .expect_err("another key");
    let reasons = reasons(&err);
    assert!(
        reasons.contains(&RejectReason::Sigstore(SigstoreError::ArtifactSignature)),
        "{err}"
    );
    assert!(
        reasons.contains(&RejectReason::Sigstore(SigstoreError::DsseSignature)),
        "{err}"
    );
}

#[tokio::test]
async fn signature_copied_from_another_image_is_refused() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/copied").expect("repo");
    let key = signer();
    let (verifier, policy) = (key_verifier(), key_policy(&key));
    let signed = push_image(&repo, "signed", b"signed image").await;
    let target = push_image(&repo, "target", b"unsigned image").await;
    sign_image(&repo, &signed, REFERENCE, &key)
        .await
        .expect("sign");

    // The legacy layer, copied under the target's `.sig` tag: valid signature, wrong digest.
    let stored = cosign::read_signatures(&repo, &signed).await.expect("read");
    let legacy = stored
        .iter()
        .find(|s| matches!(s.scheme, Scheme::LegacyTag(_)))
        .expect("legacy layer");
    push_raw_sig(&repo, &target, legacy).await;
    // A bundle whose statement names the signed image, attached to the target.
    let bundle = immerse_sigstore::sign::sign_dsse(
        &key,
        IN_TOTO_PAYLOAD_TYPE,
        &cosign_sign_statement(&signed),
    )
    .await
    .expect("sign");
    let json = serde_json::to_vec(&bundle.to_json()).expect("json");
    repo.attach_bundle(
        &target,
        &json,
        Some(immerse_slsa::COSIGN_SIGN_PREDICATE_TYPE),
    )
    .await
    .expect("attach");

    let err = verify_image_signatures(&repo, &target, &verifier, &policy)
        .await
        .expect_err("signatures of another image");
    let reasons = reasons(&err);
    assert!(
        reasons.contains(&RejectReason::OtherImage {
            found: signed.to_string()
        }),
        "{err}"
    );
    assert!(
        reasons.contains(&RejectReason::Sigstore(
            SigstoreError::DssePayloadDigestMismatch
        )),
        "{err}"
    );
}

#[tokio::test]
async fn keyless_signatures_verify_in_both_schemes() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/keyless").expect("repo");
    let image = push_image(&repo, "v1", b"keyless").await;
    let mut sigstore = TestInstance::new();

    // Legacy: certificate, chain and Rekor bundle in annotations, as cosign writes them.
    let payload = SimpleSigning::new(REFERENCE, image).to_json();
    let bundle = sigstore.sign_blob(&payload, &BundleOptions::version(BundleVersion::V01));
    let Content::MessageSignature { signature, .. } = &bundle.content else {
        panic!("a message signature");
    };
    let material = legacy_material(&bundle);
    assert!(material.certificate.is_some() && material.rekor_bundle.is_some());
    cosign::push_signature(
        &repo,
        &image,
        SignatureLayer {
            payload: payload.clone(),
            signature_b64: base64_encode(signature),
            bundle: material.rekor_bundle,
            certificate: material.certificate,
            chain: material.chain,
        },
    )
    .await
    .expect("push legacy");
    // Referrer: a v0.3 DSSE bundle as cosign 3.x signs images.
    let bundle = sigstore.sign_dsse(
        IN_TOTO_PAYLOAD_TYPE,
        &cosign_sign_statement(&image),
        &BundleOptions::default(),
    );
    let json = serde_json::to_vec(&bundle.to_json()).expect("json");
    repo.attach_bundle(
        &image,
        &json,
        Some(immerse_slsa::COSIGN_SIGN_PREDICATE_TYPE),
    )
    .await
    .expect("attach");

    let policy = Policy::identity(sigstore.identity_policy());
    let verified = verify_image_signatures(&repo, &image, &sigstore.verifier(), &policy)
        .await
        .expect("keyless signatures verify");
    assert_eq!(verified.len(), 2);
    for v in &verified {
        assert!(matches!(v.signer, VerifiedSigner::Certificate { .. }));
        assert!(!v.signing_times.is_empty(), "the log vouches for a time");
    }

    // Another identity is refused in both schemes.
    let other = Policy::identity(immerse_sigstore::IdentityPolicy::exact(
        "someone@else.example",
        immerse_sigstore::testing::TEST_ISSUER,
    ));
    let err = verify_image_signatures(&repo, &image, &sigstore.verifier(), &other)
        .await
        .expect_err("wrong identity");
    assert!(
        reasons(&err).iter().all(|r| matches!(
            r,
            RejectReason::Sigstore(SigstoreError::IdentityMismatch { .. })
        )),
        "{err}"
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn key_attested_provenance_verifies_through_each_scheme() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/attested").expect("repo");
    let key = signer();
    let (verifier, policy) = (key_verifier(), key_policy(&key));
    let image = push_image(&repo, "v1", b"attested").await;
    let written = attest_image(&repo, &image, &provenance_for(&image), &key)
        .await
        .expect("attest");

    let verified = verify_image_provenance(&repo, &image, &verifier, &policy, &options())
        .await
        .expect("provenance verifies");
    assert_eq!(verified.provenance.builder_id(), BUILDER);
    assert_eq!(verified.provenance.predicate_type(), SLSA_PROVENANCE_V1);
    assert_eq!(verified.provenance.source_ref(), REF);

    // A key names no workflow, so the policy must pin the builder it trusts the key for.
    let mut unpinned = options();
    unpinned.builder_id = None;
    let err = verify_image_provenance(&repo, &image, &verifier, &policy, &unpinned)
        .await
        .expect_err("key without builder id");
    assert!(
        reasons(&err)
            .iter()
            .all(|r| *r == RejectReason::KeyNeedsBuilderId),
        "{err}"
    );

    // A wrong source is refused.
    let mut elsewhere = options();
    elsewhere.source_uri = "https://github.com/evil/immerse".into();
    let err = verify_image_provenance(&repo, &image, &verifier, &policy, &elsewhere)
        .await
        .expect_err("other source");
    assert!(
        reasons(&err)
            .iter()
            .all(|r| matches!(r, RejectReason::Slsa(SlsaError::SourceMismatch { .. }))),
        "{err}"
    );

    // Each scheme alone.
    repo.delete_manifest(&written.referrer.digest)
        .await
        .expect("delete referrer");
    let legacy = verify_image_provenance(&repo, &image, &verifier, &policy, &options())
        .await
        .expect("the .att tag alone verifies");
    assert!(matches!(legacy.scheme, Scheme::LegacyTag(_)));

    let second = push_image(&repo, "v2", b"attested 2").await;
    let written = attest_image(&repo, &second, &provenance_for(&second), &key)
        .await
        .expect("attest");
    repo.delete_manifest(&written.legacy.digest)
        .await
        .expect("delete .att");
    let referrer = verify_image_provenance(&repo, &second, &verifier, &policy, &options())
        .await
        .expect("the referrer alone verifies");
    assert_eq!(referrer.scheme, Scheme::Referrer);
}

#[tokio::test]
async fn provenance_for_another_image_is_refused() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/otherprov").expect("repo");
    let key = signer();
    let image = push_image(&repo, "v1", b"image").await;
    let other = push_image(&repo, "v2", b"other image").await;

    // The producer refuses to attach it...
    assert!(
        attest_image(&repo, &image, &provenance_for(&other), &key)
            .await
            .is_err()
    );
    // ...so store it the way an attacker would, in both schemes.
    let bundle =
        immerse_sigstore::sign::sign_dsse(&key, IN_TOTO_PAYLOAD_TYPE, &provenance_for(&other))
            .await
            .expect("sign");
    let Content::Dsse(envelope) = &bundle.content else {
        panic!("DSSE");
    };
    cosign::push_attestation(
        &repo,
        &image,
        cosign::AttestationLayer {
            envelope: immerse_slsa::sign::envelope_json(envelope),
            predicate_type: SLSA_PROVENANCE_V1.into(),
            ..Default::default()
        },
    )
    .await
    .expect("push .att");
    let json = serde_json::to_vec(&bundle.to_json()).expect("json");
    repo.attach_bundle(&image, &json, Some(SLSA_PROVENANCE_V1))
        .await
        .expect("attach");

    let err = verify_image_provenance(
        &repo,
        &image,
        &key_verifier(),
        &key_policy(&key),
        &options(),
    )
    .await
    .expect_err("provenance of another image");
    let reasons = reasons(&err);
    assert_eq!(reasons.len(), 2, "{err}");
    assert!(
        reasons
            .iter()
            .all(|r| matches!(r, RejectReason::Slsa(SlsaError::SubjectMismatch { .. }))),
        "{err}"
    );
}

#[tokio::test]
async fn keyless_provenance_is_bound_to_the_signing_workflow() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/keylessprov").expect("repo");
    let mut sigstore = TestInstance::new();
    let verifier = sigstore.verifier();
    let policy = github_policy();

    // Signed by the builder the predicate names: accepted, the signer is the workflow.
    let good = push_image(&repo, "good", b"good").await;
    let bundle = sigstore.sign_dsse(
        IN_TOTO_PAYLOAD_TYPE,
        &provenance_for(&good),
        &workflow_identity(BUILDER),
    );
    let json = serde_json::to_vec(&bundle.to_json()).expect("json");
    repo.attach_bundle(&good, &json, Some(SLSA_PROVENANCE_V1))
        .await
        .expect("attach");
    let verified = verify_image_provenance(&repo, &good, &verifier, &policy, &options())
        .await
        .expect("keyless provenance verifies");
    assert_eq!(verified.provenance.signer(), BUILDER);
    assert_eq!(verified.provenance.source_commit(), Some(COMMIT));

    // The same through the legacy `.att` tag: certificate and Rekor bundle in annotations.
    let legacy = push_image(&repo, "legacy", b"legacy").await;
    let mut v01 = workflow_identity(BUILDER);
    v01.version = BundleVersion::V01;
    let bundle = sigstore.sign_dsse(IN_TOTO_PAYLOAD_TYPE, &provenance_for(&legacy), &v01);
    let Content::Dsse(envelope) = &bundle.content else {
        panic!("DSSE");
    };
    let material = legacy_material(&bundle);
    cosign::push_attestation(
        &repo,
        &legacy,
        cosign::AttestationLayer {
            envelope: immerse_slsa::sign::envelope_json(envelope),
            predicate_type: SLSA_PROVENANCE_V1.into(),
            bundle: material.rekor_bundle,
            certificate: material.certificate,
            chain: material.chain,
        },
    )
    .await
    .expect("push .att");
    let verified = verify_image_provenance(&repo, &legacy, &verifier, &policy, &options())
        .await
        .expect("keyless .att verifies");
    assert!(matches!(verified.scheme, Scheme::LegacyTag(_)));
    assert_eq!(verified.provenance.signer(), BUILDER);

    // The predicate names the trusted builder, but another workflow signed it.
    let forged = push_image(&repo, "forged", b"forged").await;
    let bundle = sigstore.sign_dsse(
        IN_TOTO_PAYLOAD_TYPE,
        &provenance_for(&forged),
        &workflow_identity(OTHER_WORKFLOW),
    );
    let json = serde_json::to_vec(&bundle.to_json()).expect("json");
    repo.attach_bundle(&forged, &json, Some(SLSA_PROVENANCE_V1))
        .await
        .expect("attach");
    let err = verify_image_provenance(&repo, &forged, &verifier, &policy, &options())
        .await
        .expect_err("signed by another workflow");
    assert!(
        matches!(
            reasons(&err).as_slice(),
            [RejectReason::Slsa(SlsaError::SignerBuilderMismatch { .. })]
        ),
        "{err}"
    );
}

#[tokio::test]
async fn message_signature_bundle_over_the_manifest_counts_as_a_signature() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/message").expect("repo");
    let key = signer();
    let image = push_image(&repo, "v1", b"message").await;
    let manifest = manifest_bytes(b"message");
    assert_eq!(immerse_oci::Digest::of(&manifest), image);
    // `cosign sign-blob --bundle` over the manifest, attached as a referrer.
    let bundle = immerse_sigstore::sign::sign_message(&key, &manifest)
        .await
        .expect("sign");
    let json = serde_json::to_vec(&bundle.to_json()).expect("json");
    repo.attach_bundle(&image, &json, None)
        .await
        .expect("attach");
    let verified = verify_image_signatures(&repo, &image, &key_verifier(), &key_policy(&key))
        .await
        .expect("verifies");
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].scheme, Scheme::Referrer);

    // A message signature over anything else is not a signature of this image.
    let other = push_image(&repo, "v2", b"other").await;
    let bundle = immerse_sigstore::sign::sign_message(&key, b"some other blob")
        .await
        .expect("sign");
    let json = serde_json::to_vec(&bundle.to_json()).expect("json");
    repo.attach_bundle(&other, &json, None)
        .await
        .expect("attach");
    let err = verify_image_signatures(&repo, &other, &key_verifier(), &key_policy(&key))
        .await
        .expect_err("signs another blob");
    assert_eq!(
        reasons(&err),
        vec![RejectReason::Sigstore(
            SigstoreError::ArtifactDigestMismatch
        )],
        "{err}"
    );
}
