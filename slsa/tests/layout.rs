//! The same signatures and provenance written into, and verified from, an OCI image layout on
//! disk (air-gapped use: `skopeo copy --all docker://... oci:dir` and verify offline).

mod chain;

use chain::*;
use immerse_oci::OciLayout;
use immerse_oci::cosign::{self, Scheme};
use immerse_sigstore::Error as SigstoreError;
use immerse_slsa::sign::{attest_image, sign_image};
use immerse_slsa::{
    RejectReason, SupplyChainError, verify_image_provenance, verify_image_signatures,
};

#[tokio::test]
async fn layout_round_trips_signatures_and_provenance_in_both_schemes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = OciLayout::create(dir.path()).expect("layout");
    let key = signer();
    let (verifier, policy) = (key_verifier(), key_policy(&key));
    let image = write_image(&layout, "v1", b"layout image");

    sign_image(&layout, &image, "registry.example/demo", &key)
        .await
        .expect("sign");
    attest_image(&layout, &image, &provenance_for(&image), &key)
        .await
        .expect("attest");
    // Signing again appends to `.sig` (one more layer) and adds a referrer.
    sign_image(&layout, &image, "registry.example/demo", &key)
        .await
        .expect("sign again");

    // Reopened from disk, as a verifier elsewhere would.
    let layout = OciLayout::open(dir.path()).expect("open");
    let signatures = verify_image_signatures(&layout, &image, &verifier, &policy)
        .await
        .expect("signatures verify");
    assert_eq!(signatures.len(), 4, "two .sig layers and two referrers");
    assert_eq!(
        signatures
            .iter()
            .filter(|s| s.scheme == Scheme::Referrer)
            .count(),
        2
    );
    let provenance = verify_image_provenance(&layout, &image, &verifier, &policy, &options())
        .await
        .expect("provenance verifies");
    assert_eq!(provenance.provenance.builder_id(), BUILDER);
    let attestations = cosign::read_attestations(&layout, &image)
        .await
        .expect("read");
    // The .att layer and the provenance referrer, plus the two signature referrers: cosign 3.x
    // signatures are DSSE bundles too, told apart by their predicate type.
    assert_eq!(attestations.len(), 4);
    assert_eq!(
        attestations
            .iter()
            .filter(|a| a
                .manifest_annotations
                .get(cosign::ANNOTATION_BUNDLE_PREDICATE_TYPE)
                .is_some_and(|p| p == immerse_slsa::COSIGN_SIGN_PREDICATE_TYPE))
            .count(),
        2
    );

    // Another key: refused everywhere.
    let other = key_policy(&signer());
    let err = verify_image_signatures(&layout, &image, &verifier, &other)
        .await
        .expect_err("other key");
    assert_eq!(reasons(&err).len(), 4, "{err}");
    let err = verify_image_provenance(&layout, &image, &verifier, &other, &options())
        .await
        .expect_err("other key");
    assert!(
        reasons(&err)
            .iter()
            .all(|r| *r == RejectReason::Sigstore(SigstoreError::DsseSignature)),
        "{err}"
    );
}

#[tokio::test]
async fn unsigned_layout_image_fails_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let layout = OciLayout::create(dir.path()).expect("layout");
    let image = write_image(&layout, "v1", b"unsigned");
    let key = signer();
    let err = verify_image_signatures(&layout, &image, &key_verifier(), &key_policy(&key))
        .await
        .expect_err("nothing to verify");
    assert!(
        matches!(&err, SupplyChainError::NoValidSignature { rejections, .. } if rejections.is_empty()),
        "{err}"
    );
    let err = verify_image_provenance(
        &layout,
        &image,
        &key_verifier(),
        &key_policy(&key),
        &options(),
    )
    .await
    .expect_err("nothing to verify");
    assert!(
        matches!(err, SupplyChainError::NoValidProvenance { .. }),
        "{err}"
    );
    // An SBOM attestation is not provenance: skipped, not judged.
    let sbom = immerse_slsa::sign::image_statement(
        "registry.example/demo",
        &image,
        "https://spdx.dev/Document",
        &serde_json::json!({"spdxVersion": "SPDX-2.3"}),
    )
    .expect("statement");
    attest_image(&layout, &image, &sbom, &key)
        .await
        .expect("attest SBOM");
    let err = verify_image_provenance(
        &layout,
        &image,
        &key_verifier(),
        &key_policy(&key),
        &options(),
    )
    .await
    .expect_err("an SBOM is not provenance");
    assert!(
        matches!(&err, SupplyChainError::NoValidProvenance { rejections, .. } if rejections.is_empty()),
        "{err}"
    );
    // An attestation of another image in the layout does not count for this one.
    let other = write_image(&layout, "v2", b"other");
    attest_image(&layout, &other, &provenance_for(&other), &key)
        .await
        .expect("attest other");
    assert!(
        verify_image_provenance(
            &layout,
            &image,
            &key_verifier(),
            &key_policy(&key),
            &options()
        )
        .await
        .is_err()
    );
}
