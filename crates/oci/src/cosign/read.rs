//! Reading cosign material from both storage schemes, from a registry or an image layout.
//!
//! - signatures: `.sig` layers, referrers of type `application/vnd.dev.cosign.artifact.sig.v1+json`,
//!   and Sigstore bundle referrers holding a message signature;
//! - attestations: `.att` layers and Sigstore bundle referrers holding a DSSE envelope;
//! - bundles: every Sigstore bundle referrer.
//!
//! Every manifest and layer is digest-verified. A referrer whose manifest does not name the
//! image as its `subject` is skipped: the fallback index is writable by anyone who can push,
//! and an entry for something else is simply not a referrer of this image.

use tracing::warn;

use super::{
    ANNOTATION_BUNDLE_CONTENT, ANNOTATION_BUNDLE_PREDICATE_TYPE, COSIGN_SIGNATURE_ARTIFACT_TYPE,
    attestation_tag, signature_tag,
};
use crate::digest::Digest;
use crate::error::{OciError, Result};
use crate::manifest::{Annotations, Manifest};
use crate::source::ArtifactSource;

/// Which storage scheme a layer came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// A `sha256-<hex>.sig` or `.att` tag.
    LegacyTag(String),
    /// An OCI 1.1 referrer (found through the referrers API or its fallback tag).
    Referrer,
}

/// One stored signature, attestation or bundle: the layer's bytes (digest-verified), its media
/// type and annotations, and where it was found.
#[derive(Clone, Debug)]
pub struct StoredSignature {
    pub scheme: Scheme,
    /// The manifest holding the layer.
    pub manifest_digest: Digest,
    /// The layer's media type (simple-signing, DSSE, or a Sigstore bundle type).
    pub media_type: String,
    /// The layer's bytes.
    pub payload: Vec<u8>,
    /// The layer's annotations (cosign puts signature, certificate, chain, bundle here).
    pub annotations: Annotations,
    /// The manifest's annotations (bundle referrers put content kind and predicate type here).
    pub manifest_annotations: Annotations,
}

impl StoredSignature {
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).map(String::as_str)
    }
}

/// Bounds on what one image may make us read: layers per manifest and referrer manifests.
/// Each layer is already bounded by the source's blob limit; these bound the count, so an
/// untrusted registry cannot make us hold thousands of them at once.
pub const MAX_LAYERS_PER_MANIFEST: usize = 128;
pub const MAX_REFERRERS: usize = 256;

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Signature,
    Attestation,
    Any,
}

/// Signatures of `image` from the `.sig` tag and from referrers.
pub async fn read_signatures<S: ArtifactSource>(
    source: &S,
    image: &Digest,
) -> Result<Vec<StoredSignature>> {
    let mut out = read_legacy(source, &signature_tag(image)).await?;
    out.extend(read_referrers(source, image, Kind::Signature).await?);
    Ok(out)
}

/// Attestations of `image` from the `.att` tag and from bundle referrers.
pub async fn read_attestations<S: ArtifactSource>(
    source: &S,
    image: &Digest,
) -> Result<Vec<StoredSignature>> {
    let mut out = read_legacy(source, &attestation_tag(image)).await?;
    out.extend(read_referrers(source, image, Kind::Attestation).await?);
    Ok(out)
}

/// Every Sigstore bundle attached to `image` as a referrer.
pub async fn read_bundles<S: ArtifactSource>(
    source: &S,
    image: &Digest,
) -> Result<Vec<StoredSignature>> {
    read_referrers(source, image, Kind::Any).await
}

async fn read_legacy<S: ArtifactSource>(source: &S, tag: &str) -> Result<Vec<StoredSignature>> {
    let Some(fetched) = source.manifest(tag).await? else {
        return Ok(Vec::new());
    };
    let Manifest::Image(manifest) = fetched.manifest else {
        return Err(OciError::InvalidManifest("cosign tag holds an index"));
    };
    check_layer_count(manifest.layers.len())?;
    let mut out = Vec::with_capacity(manifest.layers.len());
    for layer in &manifest.layers {
        out.push(StoredSignature {
            scheme: Scheme::LegacyTag(tag.to_owned()),
            manifest_digest: fetched.digest,
            media_type: layer.media_type.clone(),
            payload: source.blob(layer).await?,
            annotations: layer.annotations.clone().unwrap_or_default(),
            manifest_annotations: manifest.annotations.clone().unwrap_or_default(),
        });
    }
    Ok(out)
}

fn check_layer_count(count: usize) -> Result<()> {
    if count > MAX_LAYERS_PER_MANIFEST {
        return Err(OciError::TooLarge {
            what: "layers of a cosign manifest (count)",
            limit: MAX_LAYERS_PER_MANIFEST as u64,
        });
    }
    Ok(())
}

fn is_bundle_type(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.dev.sigstore.bundle")
}

async fn read_referrers<S: ArtifactSource>(
    source: &S,
    image: &Digest,
    kind: Kind,
) -> Result<Vec<StoredSignature>> {
    let index = source.referrers(image, None).await?;
    if index.manifests.len() > MAX_REFERRERS {
        return Err(OciError::TooLarge {
            what: "referrers of one image (count)",
            limit: MAX_REFERRERS as u64,
        });
    }
    let mut out = Vec::new();
    for entry in index.manifests {
        let listed_type = entry.artifact_type.as_deref().unwrap_or("");
        let wanted = is_bundle_type(listed_type)
            || (kind == Kind::Signature && listed_type == COSIGN_SIGNATURE_ARTIFACT_TYPE);
        if !wanted {
            continue;
        }
        let Some(fetched) = source.manifest(&entry.digest.to_string()).await? else {
            warn!(referrer = %entry.digest, "listed referrer is missing");
            continue;
        };
        let Manifest::Image(manifest) = fetched.manifest else {
            continue;
        };
        if manifest.subject.as_ref().map(|s| s.digest) != Some(*image) {
            warn!(referrer = %entry.digest, %image, "listed referrer names another subject; skipped");
            continue;
        }
        // Classify by the manifest itself, not the index entry the fallback tag holds.
        let artifact_type = manifest.effective_artifact_type().to_owned();
        let manifest_annotations = manifest.annotations.clone().unwrap_or_default();
        check_layer_count(manifest.layers.len())?;
        for layer in &manifest.layers {
            let payload = source.blob(layer).await?;
            let keep = if is_bundle_type(&artifact_type) {
                let dsse = bundle_is_dsse(&payload, &manifest_annotations);
                match kind {
                    Kind::Any => true,
                    Kind::Attestation => dsse,
                    Kind::Signature => !dsse,
                }
            } else {
                kind == Kind::Signature && artifact_type == COSIGN_SIGNATURE_ARTIFACT_TYPE
            };
            if keep {
                out.push(StoredSignature {
                    scheme: Scheme::Referrer,
                    manifest_digest: fetched.digest,
                    media_type: layer.media_type.clone(),
                    payload,
                    annotations: layer.annotations.clone().unwrap_or_default(),
                    manifest_annotations: manifest_annotations.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// Whether a bundle carries a DSSE envelope (an attestation) rather than a message signature:
/// the bundle's own top level decides; the annotations only when it is not JSON we can read.
fn bundle_is_dsse(bundle: &[u8], manifest_annotations: &Annotations) -> bool {
    match serde_json::from_slice::<serde_json::Value>(bundle) {
        Ok(serde_json::Value::Object(o)) => o.contains_key("dsseEnvelope"),
        _ => {
            manifest_annotations
                .get(ANNOTATION_BUNDLE_CONTENT)
                .map(String::as_str)
                == Some("dsse-envelope")
                || manifest_annotations.contains_key(ANNOTATION_BUNDLE_PREDICATE_TYPE)
        }
    }
}
