//! cosign's storage schemes (sigstore/cosign `specs/SIGNATURE_SPEC.md`, `specs/BUNDLE_SPEC.md`,
//! `pkg/oci/static`, `pkg/types`):
//!
//! - legacy tags: `sha256-<hex>.sig` holds an image manifest whose layers are simple-signing
//!   payloads, the base64 signature and optional certificate, chain and Rekor bundle in layer
//!   annotations; `sha256-<hex>.att` the same with DSSE envelopes and a `predicateType`.
//!   Signing again appends a layer; earlier layers stay.
//! - OCI 1.1 referrers: one manifest per Sigstore bundle, `subject` = the image, `artifactType`
//!   the bundle media type, an empty config and one layer holding the bundle JSON.
//!
//! Signatures are opaque bytes here; `immerse-sigstore` verifies them.

mod payload;
mod read;

use serde_json::json;

pub use payload::{SIMPLE_SIGNING_TYPE, SimpleSigning};
pub use read::{Scheme, StoredSignature, read_attestations, read_bundles, read_signatures};

use crate::client::Repository;
use crate::digest::Digest;
use crate::error::{OciError, Result};
use crate::manifest::{
    ANNOTATION_CREATED, ANNOTATION_TITLE, Annotations, Descriptor, ImageManifest, Manifest,
    OCI_CONFIG, OCI_EMPTY_CONTENT,
};

pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const DSSE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
pub const BUNDLE_V01_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle+json;version=0.1";
pub const BUNDLE_V02_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle+json;version=0.2";
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// cosign's artifact type for signatures stored as referrers (`--registry-referrers-mode`).
pub const COSIGN_SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

pub const ANNOTATION_SIGNATURE: &str = "dev.cosignproject.cosign/signature";
pub const ANNOTATION_BUNDLE: &str = "dev.sigstore.cosign/bundle";
pub const ANNOTATION_CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
pub const ANNOTATION_CHAIN: &str = "dev.sigstore.cosign/chain";
pub const ANNOTATION_RFC3161_TIMESTAMP: &str = "dev.sigstore.cosign/rfc3161timestamp";
pub const ANNOTATION_PREDICATE_TYPE: &str = "predicateType";
pub const ANNOTATION_BUNDLE_CONTENT: &str = "dev.sigstore.bundle.content";
pub const ANNOTATION_BUNDLE_PREDICATE_TYPE: &str = "dev.sigstore.bundle.predicateType";

/// The legacy signature tag of `image`: `sha256-<hex>.sig`.
pub fn signature_tag(image: &Digest) -> String {
    format!("{}.sig", image.tag_form())
}

/// The legacy attestation tag of `image`: `sha256-<hex>.att`.
pub fn attestation_tag(image: &Digest) -> String {
    format!("{}.att", image.tag_form())
}

/// One cosign signature for the legacy `.sig` tag.
#[derive(Clone, Debug, Default)]
pub struct SignatureLayer {
    /// The simple-signing payload that was signed (checked to name the image).
    pub payload: Vec<u8>,
    /// The signature over `payload`, base64 as cosign stores it.
    pub signature_b64: String,
    /// cosign's Rekor bundle JSON (`SignedEntryTimestamp`, `Payload`).
    pub bundle: Option<String>,
    /// PEM signing certificate.
    pub certificate: Option<String>,
    /// PEM chain of the certificate.
    pub chain: Option<String>,
}

/// One cosign attestation (a DSSE envelope) for the legacy `.att` tag.
#[derive(Clone, Debug, Default)]
pub struct AttestationLayer {
    pub envelope: Vec<u8>,
    pub predicate_type: String,
    pub bundle: Option<String>,
    pub certificate: Option<String>,
    pub chain: Option<String>,
}

/// The annotations cosign puts on a legacy `.sig`/`.att` layer.
pub fn material_annotations(
    signature_b64: &str,
    bundle: &Option<String>,
    certificate: &Option<String>,
    chain: &Option<String>,
) -> Annotations {
    let mut a = Annotations::new();
    // cosign writes the signature annotation always, empty for attestations (the signature
    // lives in the envelope).
    a.insert(ANNOTATION_SIGNATURE.to_owned(), signature_b64.to_owned());
    for (key, value) in [
        (ANNOTATION_BUNDLE, bundle),
        (ANNOTATION_CERTIFICATE, certificate),
        (ANNOTATION_CHAIN, chain),
    ] {
        if let Some(v) = value {
            a.insert(key.to_owned(), v.clone());
        }
    }
    a
}

/// Appends a signature to `image`'s `.sig` manifest, creating it when absent. Pushing the same
/// layer (same payload and annotations) twice leaves the manifest as it is.
pub async fn push_signature(
    repo: &Repository<'_>,
    image: &Digest,
    layer: SignatureLayer,
) -> Result<Descriptor> {
    let payload = SimpleSigning::parse(&layer.payload)?;
    if payload.manifest_digest != *image {
        return Err(OciError::InvalidPayload(format!(
            "payload signs {}, not the image {image}",
            payload.manifest_digest
        )));
    }
    let annotations = material_annotations(
        &layer.signature_b64,
        &layer.bundle,
        &layer.certificate,
        &layer.chain,
    );
    append_legacy(
        repo,
        &signature_tag(image),
        SIMPLE_SIGNING_MEDIA_TYPE,
        &layer.payload,
        annotations,
    )
    .await
}

/// Appends an attestation to `image`'s `.att` manifest, creating it when absent.
pub async fn push_attestation(
    repo: &Repository<'_>,
    image: &Digest,
    layer: AttestationLayer,
) -> Result<Descriptor> {
    if layer.predicate_type.is_empty() {
        return Err(OciError::InvalidPayload(
            "attestation without predicateType".into(),
        ));
    }
    let mut annotations = material_annotations("", &layer.bundle, &layer.certificate, &layer.chain);
    annotations.insert(
        ANNOTATION_PREDICATE_TYPE.to_owned(),
        layer.predicate_type.clone(),
    );
    append_legacy(
        repo,
        &attestation_tag(image),
        DSSE_MEDIA_TYPE,
        &layer.envelope,
        annotations,
    )
    .await
}

async fn append_legacy(
    repo: &Repository<'_>,
    tag: &str,
    media_type: &str,
    content: &[u8],
    annotations: Annotations,
) -> Result<Descriptor> {
    let mut layers = match repo.try_get_manifest(tag).await? {
        None => Vec::new(),
        Some(existing) => match &existing.manifest {
            Manifest::Image(m) => {
                let new = Descriptor::for_content(media_type, content)
                    .with_annotations(annotations.clone());
                if m.layers.contains(&new) {
                    return Ok(existing.descriptor());
                }
                m.layers.clone()
            }
            Manifest::Index(_) => {
                return Err(OciError::InvalidManifest("cosign tag holds an index"));
            }
        },
    };
    repo.push_blob(content).await?;
    layers.push(Descriptor::for_content(media_type, content).with_annotations(annotations));
    let config = legacy_config(&layers);
    repo.push_blob(&config).await?;
    let manifest = ImageManifest::new(Descriptor::for_content(OCI_CONFIG, &config), layers);
    repo.push_manifest(&Manifest::Image(manifest), Some(tag))
        .await
}

/// The config cosign writes for `.sig`/`.att` images (go-containerregistry's empty image with
/// the layers appended): no platform, a zero creation time, one history entry and one diff_id
/// per layer (the layers are uncompressed, so diff_id = digest).
pub fn legacy_config(layers: &[Descriptor]) -> Vec<u8> {
    const ZERO_TIME: &str = "0001-01-01T00:00:00Z";
    let config = json!({
        "architecture": "",
        "created": ZERO_TIME,
        "history": layers.iter().map(|_| json!({"created": ZERO_TIME})).collect::<Vec<_>>(),
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>()},
        "config": {},
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

/// Attaches a Sigstore bundle to `image` as an OCI 1.1 referrer (cosign `BUNDLE_SPEC.md`),
/// updating the referrers fallback tag when the registry has no referrers API.
/// `predicate_type` is set for attestations. Returns the referrer manifest's descriptor.
pub async fn push_bundle_referrer(
    repo: &Repository<'_>,
    image: &Digest,
    bundle_json: &[u8],
    predicate_type: Option<&str>,
) -> Result<Descriptor> {
    let subject = repo
        .head_manifest(&image.to_string())
        .await?
        .ok_or_else(|| OciError::NotFound(format!("image {}@{image}", repo.name())))?;
    let (manifest, _) = bundle_manifest(bundle_json, predicate_type, subject, &rfc3339_now())?;
    repo.push_blob(OCI_EMPTY_CONTENT).await?;
    repo.push_blob(bundle_json).await?;
    repo.push_manifest(&Manifest::Image(manifest), None).await
}

/// The referrer manifest for a bundle. Pure, so a layout writer can use it too; the second
/// value is the bundle's media type.
pub fn bundle_manifest(
    bundle_json: &[u8],
    predicate_type: Option<&str>,
    subject: Descriptor,
    created: &str,
) -> Result<(ImageManifest, String)> {
    // Only the top level is looked at: which media type, which content kind.
    let value: serde_json::Value =
        serde_json::from_slice(bundle_json).map_err(OciError::json("sigstore bundle"))?;
    let object = value.as_object().ok_or(OciError::InvalidPayload(
        "bundle is not a JSON object".into(),
    ))?;
    let media_type = match object.get("mediaType").and_then(|m| m.as_str()) {
        Some(m @ (BUNDLE_V01_MEDIA_TYPE | BUNDLE_V02_MEDIA_TYPE | BUNDLE_V03_MEDIA_TYPE)) => {
            m.to_owned()
        }
        None => BUNDLE_V03_MEDIA_TYPE.to_owned(),
        Some(other) => return Err(OciError::UnsupportedMediaType(other.to_owned())),
    };
    let content = if object.contains_key("dsseEnvelope") {
        "dsse-envelope"
    } else if object.contains_key("messageSignature") {
        "message-signature"
    } else {
        return Err(OciError::InvalidPayload(
            "bundle has neither dsseEnvelope nor messageSignature".into(),
        ));
    };
    let layer_digest = Digest::of(bundle_json);
    let mut layer_annotations = Annotations::new();
    layer_annotations.insert(
        ANNOTATION_TITLE.to_owned(),
        format!("{}.sigstore.json", layer_digest.tag_form()),
    );
    let layer =
        Descriptor::for_content(&media_type, bundle_json).with_annotations(layer_annotations);
    let mut annotations = Annotations::new();
    annotations.insert(ANNOTATION_BUNDLE_CONTENT.to_owned(), content.to_owned());
    if let Some(p) = predicate_type.filter(|p| !p.is_empty()) {
        annotations.insert(ANNOTATION_BUNDLE_PREDICATE_TYPE.to_owned(), p.to_owned());
    }
    annotations.insert(ANNOTATION_CREATED.to_owned(), created.to_owned());
    let subject = Descriptor {
        annotations: None,
        artifact_type: None,
        platform: None,
        urls: None,
        data: None,
        ..subject
    };
    let mut manifest = ImageManifest::new(Descriptor::empty(), vec![layer]);
    manifest.artifact_type = Some(media_type.clone());
    manifest.subject = Some(subject);
    manifest.annotations = Some(annotations);
    Ok((manifest, media_type))
}

/// Now as RFC 3339 UTC (`org.opencontainers.image.created`), without a date library.
/// Now as RFC 3339 UTC to the second, as cosign stamps `org.opencontainers.image.created`.
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs)
        .ok()
        .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_tags_follow_cosign() {
        let d = Digest::of(b"x");
        assert_eq!(signature_tag(&d), format!("sha256-{}.sig", d.hex()));
        assert_eq!(attestation_tag(&d), format!("sha256-{}.att", d.hex()));
    }

    #[test]
    fn bundle_manifest_has_the_bundle_spec_shape() {
        let subject = Descriptor::for_content(crate::manifest::OCI_MANIFEST, b"image");
        let bundle =
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{}}"#;
        let (m, mt) = bundle_manifest(
            bundle,
            Some("https://slsa.dev/provenance/v1"),
            subject.clone(),
            "2026-01-01T00:00:00Z",
        )
        .unwrap();
        assert_eq!(mt, BUNDLE_V03_MEDIA_TYPE);
        assert_eq!(m.artifact_type.as_deref(), Some(BUNDLE_V03_MEDIA_TYPE));
        assert_eq!(m.config, Descriptor::empty());
        assert_eq!(m.subject.as_ref().map(|s| s.digest), Some(subject.digest));
        assert_eq!(m.layers.len(), 1);
        let a = m.annotations.unwrap();
        assert_eq!(a[ANNOTATION_BUNDLE_CONTENT], "dsse-envelope");
        assert_eq!(
            a[ANNOTATION_BUNDLE_PREDICATE_TYPE],
            "https://slsa.dev/provenance/v1"
        );
        assert!(
            bundle_manifest(
                br#"{"mediaType":"text/plain","dsseEnvelope":{}}"#,
                None,
                subject.clone(),
                "t"
            )
            .is_err()
        );
        assert!(bundle_manifest(br#"{"verificationMaterial":{}}"#, None, subject, "t").is_err());
    }

    #[test]
    fn rfc3339_now_is_well_formed() {
        let now = rfc3339_now();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'));
    }
}
