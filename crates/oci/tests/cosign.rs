//! cosign's storage schemes against a real registry: legacy `.sig`/`.att` tags and Sigstore
//! bundle referrers (through the referrers tag-schema fallback).
#![cfg(feature = "test-registry")]

mod common;

use common::push_image;
use immerse_oci::cosign::{
    self, ANNOTATION_BUNDLE, ANNOTATION_CERTIFICATE, ANNOTATION_CHAIN, ANNOTATION_PREDICATE_TYPE,
    ANNOTATION_SIGNATURE, AttestationLayer, BUNDLE_V03_MEDIA_TYPE, DSSE_MEDIA_TYPE,
    SIMPLE_SIGNING_MEDIA_TYPE, Scheme, SignatureLayer, SimpleSigning,
};
use immerse_oci::testing::TestRegistry;
use immerse_oci::{Digest, Manifest, OciError};

fn signature(image: &Digest, sig: &str) -> SignatureLayer {
    SignatureLayer {
        payload: SimpleSigning::new("127.0.0.1/demo/signed", *image).to_json(),
        signature_b64: sig.to_owned(),
        bundle: Some(r#"{"SignedEntryTimestamp":"MEUC","Payload":{"logIndex":1}}"#.to_owned()),
        certificate: Some(
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".to_owned(),
        ),
        chain: None,
    }
}

#[tokio::test]
async fn legacy_signatures_round_trip_and_append() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/signed").unwrap();
    let image = push_image(&repo, "v1", b"signed image").await.digest;

    assert!(
        cosign::read_signatures(&repo, &image)
            .await
            .unwrap()
            .is_empty()
    );
    cosign::push_signature(&repo, &image, signature(&image, "c2lnMQ=="))
        .await
        .unwrap();
    let mut second = signature(&image, "c2lnMg==");
    second.chain =
        Some("-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n".to_owned());
    cosign::push_signature(&repo, &image, second.clone())
        .await
        .unwrap();
    // The same signature again is not a third layer.
    cosign::push_signature(&repo, &image, second).await.unwrap();

    let sigs = cosign::read_signatures(&repo, &image).await.unwrap();
    assert_eq!(sigs.len(), 2, "appending keeps the first signature");
    assert_eq!(sigs[0].annotation(ANNOTATION_SIGNATURE), Some("c2lnMQ=="));
    assert_eq!(sigs[1].annotation(ANNOTATION_SIGNATURE), Some("c2lnMg=="));
    assert!(sigs[1].annotation(ANNOTATION_CHAIN).is_some());
    for s in &sigs {
        assert_eq!(s.scheme, Scheme::LegacyTag(cosign::signature_tag(&image)));
        assert_eq!(s.media_type, SIMPLE_SIGNING_MEDIA_TYPE);
        assert!(
            s.annotation(ANNOTATION_BUNDLE).is_some()
                && s.annotation(ANNOTATION_CERTIFICATE).is_some()
        );
        assert_eq!(
            SimpleSigning::parse(&s.payload).unwrap().manifest_digest,
            image
        );
    }

    // The .sig image carries a config listing both layers, as cosign's does.
    let Manifest::Image(sig_manifest) = repo
        .get_manifest(&cosign::signature_tag(&image))
        .await
        .unwrap()
        .manifest
    else {
        panic!("sig tag is not an image manifest")
    };
    let config: serde_json::Value =
        serde_json::from_slice(&repo.get_blob(&sig_manifest.config).await.unwrap()).unwrap();
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn signature_for_another_image_is_refused() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/mismatch").unwrap();
    let image = push_image(&repo, "v1", b"an image").await.digest;
    let other = Digest::of(b"another manifest");
    let err = cosign::push_signature(&repo, &image, signature(&other, "c2ln"))
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::InvalidPayload(_)), "{err}");
}

#[tokio::test]
async fn legacy_attestations_round_trip() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/attested").unwrap();
    let image = push_image(&repo, "v1", b"attested image").await.digest;
    let envelope = br#"{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"MEUC"}]}"#;
    for predicate in [
        "https://slsa.dev/provenance/v1",
        "https://spdx.dev/Document",
    ] {
        let layer = AttestationLayer {
            envelope: envelope.to_vec(),
            predicate_type: predicate.to_owned(),
            ..Default::default()
        };
        cosign::push_attestation(&repo, &image, layer)
            .await
            .unwrap();
    }
    let atts = cosign::read_attestations(&repo, &image).await.unwrap();
    assert_eq!(atts.len(), 2);
    assert_eq!(
        atts[0].annotation(ANNOTATION_PREDICATE_TYPE),
        Some("https://slsa.dev/provenance/v1")
    );
    assert_eq!(
        atts[1].annotation(ANNOTATION_PREDICATE_TYPE),
        Some("https://spdx.dev/Document")
    );
    assert!(
        atts.iter()
            .all(|a| a.media_type == DSSE_MEDIA_TYPE && a.payload == envelope)
    );
    assert!(
        cosign::read_signatures(&repo, &image)
            .await
            .unwrap()
            .is_empty(),
        "attestations are not signatures"
    );
}

#[tokio::test]
async fn bundle_referrers_round_trip_through_the_fallback_tag() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/bundled").unwrap();
    let image = push_image(&repo, "v1", b"bundled image").await.digest;

    let message = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"messageSignature":{"signature":"MEUC"}}"#;
    let dsse = br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{},"dsseEnvelope":{"payload":"e30="}}"#;
    cosign::push_bundle_referrer(&repo, &image, message, None)
        .await
        .unwrap();
    cosign::push_bundle_referrer(&repo, &image, dsse, Some("https://slsa.dev/provenance/v1"))
        .await
        .unwrap();
    // A legacy signature next to them: readers return both schemes.
    cosign::push_signature(&repo, &image, signature(&image, "c2ln"))
        .await
        .unwrap();

    let bundles = cosign::read_bundles(&repo, &image).await.unwrap();
    assert_eq!(bundles.len(), 2);
    assert!(
        bundles
            .iter()
            .all(|b| b.scheme == Scheme::Referrer && b.media_type == BUNDLE_V03_MEDIA_TYPE)
    );

    let sigs = cosign::read_signatures(&repo, &image).await.unwrap();
    assert_eq!(sigs.len(), 2);
    assert!(
        sigs.iter()
            .any(|s| s.scheme == Scheme::Referrer && s.payload == message)
    );
    assert!(
        sigs.iter()
            .any(|s| matches!(s.scheme, Scheme::LegacyTag(_)))
    );

    let atts = cosign::read_attestations(&repo, &image).await.unwrap();
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0].payload, dsse);
    assert_eq!(
        atts[0]
            .manifest_annotations
            .get(cosign::ANNOTATION_BUNDLE_PREDICATE_TYPE)
            .map(String::as_str),
        Some("https://slsa.dev/provenance/v1")
    );

    // The fallback index lists them with the bundle artifact type, so the filter finds both.
    let filtered = repo
        .referrers(&image, Some(BUNDLE_V03_MEDIA_TYPE))
        .await
        .unwrap();
    assert_eq!(filtered.manifests.len(), 2);
}

#[tokio::test]
async fn tampered_signature_layer_is_detected_when_read() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/tampered").unwrap();
    let image = push_image(&repo, "v1", b"image").await.digest;
    let layer = signature(&image, "c2ln");
    let payload_digest = Digest::of(&layer.payload);
    let len = layer.payload.len();
    cosign::push_signature(&repo, &image, layer).await.unwrap();
    std::fs::write(registry.blob_data_path(&payload_digest), vec![b' '; len]).unwrap();
    let err = cosign::read_signatures(&repo, &image).await.unwrap_err();
    assert!(matches!(err, OciError::DigestMismatch { .. }), "{err}");
}
