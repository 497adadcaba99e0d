//! Shared helpers: a small image (config, one layer, manifest).
#![allow(dead_code)]

use immerse_oci::manifest::{OCI_CONFIG, OCI_LAYER_TAR};
use immerse_oci::{Descriptor, ImageManifest, Manifest, Repository};

pub const CONFIG: &[u8] =
    br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;

/// The manifest of a one-layer image whose layer is `layer`.
pub fn image_manifest(layer: &[u8]) -> ImageManifest {
    ImageManifest::new(
        Descriptor::for_content(OCI_CONFIG, CONFIG),
        vec![Descriptor::for_content(OCI_LAYER_TAR, layer)],
    )
}

/// Pushes config, layer and manifest (tagged `tag`); returns the manifest's descriptor.
pub async fn push_image(repo: &Repository<'_>, tag: &str, layer: &[u8]) -> Descriptor {
    repo.push_blob(CONFIG).await.expect("push config");
    repo.push_blob(layer).await.expect("push layer");
    repo.push_manifest(&Manifest::Image(image_manifest(layer)), Some(tag))
        .await
        .expect("push manifest")
}

/// An artifact manifest referring to `subject`.
pub fn artifact(
    subject: &Descriptor,
    artifact_type: Option<&str>,
    config_type: &str,
    note: &str,
) -> ImageManifest {
    let config = Descriptor::for_content(config_type, b"{}");
    let mut m = ImageManifest::new(
        config,
        vec![Descriptor::for_content("text/plain", note.as_bytes())],
    );
    m.artifact_type = artifact_type.map(str::to_owned);
    m.subject = Some(Descriptor {
        annotations: None,
        artifact_type: None,
        ..subject.clone()
    });
    m
}

pub async fn push_artifact(repo: &Repository<'_>, m: &ImageManifest, note: &str) -> Descriptor {
    repo.push_blob(b"{}").await.expect("push config");
    repo.push_blob(note.as_bytes()).await.expect("push layer");
    repo.push_manifest(&Manifest::Image(m.clone()), None)
        .await
        .expect("push artifact")
}
