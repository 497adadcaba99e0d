//! The registry client against Debian's docker-registry 2.8 (no referrers API, so the
//! referrers tag-schema fallback is what these tests exercise).
#![cfg(feature = "test-registry")]

mod common;

use common::{artifact, image_manifest, push_artifact, push_image};
use immerse_oci::manifest::{MAX_MANIFEST_BYTES, OCI_MANIFEST};
use immerse_oci::testing::TestRegistry;
use immerse_oci::{Digest, Manifest, OciError};

#[tokio::test]
async fn pushed_image_pulls_back_digest_verified() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/app").unwrap();
    let layer = b"layer bytes".repeat(100);
    let pushed = push_image(&repo, "v1", &layer).await;

    let head = repo.head_manifest("v1").await.unwrap().expect("tag exists");
    assert_eq!(head.digest, pushed.digest);
    assert_eq!(head.media_type, OCI_MANIFEST);
    assert_eq!(head.size, pushed.size);

    for reference in ["v1".to_owned(), pushed.digest.to_string()] {
        let fetched = repo.get_manifest(&reference).await.unwrap();
        assert_eq!(fetched.digest, pushed.digest);
        assert_eq!(fetched.manifest, Manifest::Image(image_manifest(&layer)));
    }
    let Manifest::Image(m) = repo.get_manifest("v1").await.unwrap().manifest else {
        panic!("not an image")
    };
    assert_eq!(repo.get_blob(&m.layers[0]).await.unwrap(), layer);
    assert_eq!(repo.get_blob(&m.config).await.unwrap(), common::CONFIG);
    assert!(repo.blob_exists(&m.layers[0].digest).await.unwrap());
    assert!(!repo.blob_exists(&Digest::of(b"absent")).await.unwrap());

    push_image(&repo, "v2", &layer).await;
    let mut tags = repo.tags().await.unwrap();
    tags.sort();
    assert_eq!(tags, ["v1", "v2"]);

    assert!(repo.try_get_manifest("nope").await.unwrap().is_none());
    assert!(matches!(
        repo.get_manifest("nope").await,
        Err(OciError::NotFound(_))
    ));
    assert!(repo.head_manifest("nope").await.unwrap().is_none());

    repo.delete_manifest(&pushed.digest).await.unwrap();
    assert!(
        repo.try_get_manifest(&pushed.digest.to_string())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn subject_manifests_are_found_through_the_referrers_fallback() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/referred").unwrap();
    let image = push_image(&repo, "latest", b"image layer").await;

    assert!(
        repo.referrers(&image.digest, None)
            .await
            .unwrap()
            .manifests
            .is_empty(),
        "no referrers yet"
    );

    let a = artifact(
        &image,
        Some("application/vnd.example.a"),
        "application/vnd.oci.empty.v1+json",
        "a",
    );
    let b = artifact(&image, None, "application/vnd.example.b.config", "b");
    let a_desc = push_artifact(&repo, &a, "a").await;
    let b_desc = push_artifact(&repo, &b, "b").await;
    // Pushing again must not create a duplicate entry.
    push_artifact(&repo, &a, "a").await;

    let all = repo.referrers(&image.digest, None).await.unwrap();
    assert_eq!(all.manifests.len(), 2);
    let empty_filter = repo.referrers(&image.digest, Some("")).await.unwrap();
    assert_eq!(empty_filter, all, "an empty artifactType filter means all");

    let only_a = repo
        .referrers(&image.digest, Some("application/vnd.example.a"))
        .await
        .unwrap();
    assert_eq!(only_a.manifests.len(), 1);
    assert_eq!(only_a.manifests[0].digest, a_desc.digest);
    // Without artifactType the config media type stands in (distribution-spec v1.1).
    let only_b = repo
        .referrers(&image.digest, Some("application/vnd.example.b.config"))
        .await
        .unwrap();
    assert_eq!(only_b.manifests.len(), 1);
    assert_eq!(only_b.manifests[0].digest, b_desc.digest);
    assert!(
        repo.referrers(&image.digest, Some("application/none"))
            .await
            .unwrap()
            .manifests
            .is_empty()
    );

    let tags = repo.tags().await.unwrap();
    assert!(
        tags.contains(&image.digest.tag_form()),
        "fallback tag {tags:?}"
    );
}

#[tokio::test]
async fn corrupted_blob_in_registry_storage_is_detected() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/corrupt").unwrap();
    let layer = b"original layer content".to_vec();
    push_image(&repo, "v1", &layer).await;
    let Manifest::Image(m) = repo.get_manifest("v1").await.unwrap().manifest else {
        panic!()
    };

    // Same length, different bytes: only the digest can tell.
    let path = registry.blob_data_path(&m.layers[0].digest);
    std::fs::write(&path, b"tampered layer content").unwrap();
    assert!(matches!(
        repo.get_blob(&m.layers[0]).await,
        Err(OciError::DigestMismatch { .. })
    ));
}

#[tokio::test]
async fn corrupted_manifest_in_registry_storage_is_detected() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/corrupt-manifest").unwrap();
    let mut m = image_manifest(b"l");
    m.annotations = Some([("note".to_owned(), "aaaa".to_owned())].into());
    repo.push_blob(common::CONFIG).await.unwrap();
    repo.push_blob(b"l").await.unwrap();
    let pushed = repo
        .push_manifest(&Manifest::Image(m.clone()), Some("v1"))
        .await
        .unwrap();

    let path = registry.blob_data_path(&pushed.digest);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("aaaa", "aaab");
    std::fs::write(&path, text).unwrap();
    for reference in [pushed.digest.to_string(), "v1".to_owned()] {
        let err = repo.get_manifest(&reference).await.unwrap_err();
        assert!(
            matches!(err, OciError::DigestMismatch { .. }),
            "{reference}: {err}"
        );
    }
}

#[tokio::test]
async fn oversize_manifest_is_refused_before_sending() {
    let Some(registry) = TestRegistry::start().await else {
        return;
    };
    let client = registry.client();
    let repo = client.repository("demo/big").unwrap();
    let mut m = image_manifest(b"l");
    m.annotations = Some([("pad".to_owned(), "x".repeat(MAX_MANIFEST_BYTES))].into());
    let err = repo
        .push_manifest(&Manifest::Image(m), Some("big"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OciError::TooLarge {
                what: "manifest",
                ..
            }
        ),
        "{err}"
    );
}
