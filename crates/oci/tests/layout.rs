//! OCI image layouts on disk: write, reopen, resolve, digest-verified reads, referrers and
//! cosign material read from a layout.

mod common;

use common::{CONFIG, artifact, image_manifest};
use immerse_oci::cosign::{self, SIMPLE_SIGNING_MEDIA_TYPE, SimpleSigning};
use immerse_oci::manifest::{ANNOTATION_REF_NAME, Annotations, OCI_CONFIG};
use immerse_oci::{Descriptor, Digest, ImageManifest, Manifest, OciError, OciLayout};

#[test]
fn layout_round_trips_by_tag_and_digest() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    assert!(dir.path().join("oci-layout").exists() && dir.path().join("index.json").exists());

    layout.write_blob(CONFIG).unwrap();
    layout.write_blob(b"layer").unwrap();
    let pushed = layout
        .put_manifest(&Manifest::Image(image_manifest(b"layer")), Some("v1"))
        .unwrap();
    assert_eq!(pushed.annotation(ANNOTATION_REF_NAME), Some("v1"));

    let reopened = OciLayout::open(dir.path()).unwrap();
    let by_tag = reopened.get_manifest("v1").unwrap().expect("tag");
    let by_digest = reopened
        .get_manifest(&pushed.digest.to_string())
        .unwrap()
        .expect("digest");
    assert_eq!(by_tag.digest, pushed.digest);
    assert_eq!(
        by_digest.manifest,
        Manifest::Image(image_manifest(b"layer"))
    );
    let Manifest::Image(m) = by_tag.manifest else {
        panic!()
    };
    assert_eq!(reopened.read_descriptor(&m.layers[0]).unwrap(), b"layer");
    assert!(reopened.get_manifest("v2").unwrap().is_none());

    // Retagging moves the tag: one entry per name.
    layout.write_blob(b"layer2").unwrap();
    let v1b = layout
        .put_manifest(&Manifest::Image(image_manifest(b"layer2")), Some("v1"))
        .unwrap();
    assert_eq!(
        layout.resolve("v1").unwrap().map(|d| d.digest),
        Some(v1b.digest)
    );
    assert_eq!(layout.index().unwrap().manifests.len(), 1);
}

#[test]
fn corrupted_layout_blob_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let digest = layout.write_blob(b"content").unwrap();
    std::fs::write(layout.blob_path(&digest), b"CONTENT").unwrap();
    assert!(matches!(
        layout.read_blob(&digest),
        Err(OciError::DigestMismatch { .. })
    ));

    layout.write_blob(CONFIG).unwrap();
    layout.write_blob(b"l").unwrap();
    let m = layout
        .put_manifest(&Manifest::Image(image_manifest(b"l")), Some("t"))
        .unwrap();
    let text = std::fs::read_to_string(layout.blob_path(&m.digest))
        .unwrap()
        .replace("layer.v1.tar", "layer.v1.taR");
    std::fs::write(layout.blob_path(&m.digest), text).unwrap();
    assert!(matches!(
        layout.get_manifest("t"),
        Err(OciError::DigestMismatch { .. })
    ));
    // A descriptor whose size lies is caught even when the digest would be checked later.
    let lying = Descriptor {
        size: 3,
        ..Descriptor::for_content(OCI_CONFIG, CONFIG)
    };
    let err = layout.read_descriptor(&lying).unwrap_err();
    assert!(matches!(err, OciError::SizeMismatch { .. }), "{err}");
}

#[test]
fn unknown_layout_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"2.0.0"}"#,
    )
    .unwrap();
    assert!(matches!(
        OciLayout::open(dir.path()),
        Err(OciError::InvalidLayout(_))
    ));
    assert!(matches!(
        OciLayout::open(dir.path().join("missing")),
        Err(OciError::Io { .. })
    ));
}

#[tokio::test]
async fn cosign_material_reads_from_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    layout.write_blob(CONFIG).unwrap();
    layout.write_blob(b"l").unwrap();
    let image = layout
        .put_manifest(&Manifest::Image(image_manifest(b"l")), Some("latest"))
        .unwrap();

    // A legacy .sig image, as `cosign save` would write it.
    let payload = SimpleSigning::new("reg.io/app", image.digest).to_json();
    layout.write_blob(&payload).unwrap();
    let annotations: Annotations =
        [(cosign::ANNOTATION_SIGNATURE.to_owned(), "c2ln".to_owned())].into();
    let layers = vec![
        Descriptor::for_content(SIMPLE_SIGNING_MEDIA_TYPE, &payload).with_annotations(annotations),
    ];
    let config = cosign::legacy_config(&layers);
    layout.write_blob(&config).unwrap();
    let sig = ImageManifest::new(Descriptor::for_content(OCI_CONFIG, &config), layers);
    layout
        .put_manifest(
            &Manifest::Image(sig),
            Some(&cosign::signature_tag(&image.digest)),
        )
        .unwrap();

    // A bundle referrer, found by scanning index.json for manifests with this subject.
    let bundle =
        br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{}}"#;
    let subject = Descriptor {
        annotations: None,
        ..image.clone()
    };
    let (referrer, _) = cosign::bundle_manifest(
        bundle,
        Some("https://slsa.dev/provenance/v1"),
        subject,
        "2026-01-01T00:00:00Z",
    )
    .unwrap();
    layout.write_blob(b"{}").unwrap();
    layout.write_blob(bundle).unwrap();
    layout
        .put_manifest(&Manifest::Image(referrer), None)
        .unwrap();
    // An unrelated artifact for another subject is not listed.
    let other = Descriptor::for_content(image.media_type.as_str(), b"other");
    layout.write_blob(b"x").unwrap();
    layout
        .put_manifest(
            &Manifest::Image(artifact(&other, Some("application/x"), OCI_CONFIG, "x")),
            None,
        )
        .unwrap();

    let sigs = cosign::read_signatures(&layout, &image.digest)
        .await
        .unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].payload, payload);
    let atts = cosign::read_attestations(&layout, &image.digest)
        .await
        .unwrap();
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0].payload, bundle);
    assert_eq!(
        layout
            .referrers(&image.digest, Some(""))
            .unwrap()
            .manifests
            .len(),
        1
    );
    assert!(
        layout
            .referrers(&Digest::of(b"nothing"), None)
            .unwrap()
            .manifests
            .is_empty()
    );
}
