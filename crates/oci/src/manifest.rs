//! OCI image-spec v1.1 descriptors, image manifests and image indexes, plus the Docker v2
//! schema 2 equivalents, which share their JSON shape.
//!
//! Parsing is the one place untrusted manifest bytes become types: schemaVersion must be 2, the
//! kind (manifest or index) must be unambiguous (a body with both `layers` and `manifests` is
//! refused, the "mediaType confusion" that image-spec v1.0.2 closed by making `mediaType`
//! meaningful), and the body's `mediaType` must agree with the Content-Type it came with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{OciError, Result};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// image-spec manifest.md, "Guidance for an Empty Descriptor": the blob is `{}`.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const OCI_EMPTY_CONTENT: &[u8] = b"{}";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Annotation naming a manifest in an OCI image layout's `index.json` (image-spec
/// annotations.md); we store tags there.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// Every manifest media type we pull, for the `Accept` header.
pub const ACCEPTED_MANIFEST_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// A manifest or index body may be at most 4 MiB: the distribution spec says registries
/// SHOULD accept manifests up to 4 MiB and clients should not push larger ones.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

pub type Annotations = BTreeMap<String, String>;

/// image-spec descriptor.md.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor for `content` of `media_type`.
    pub fn for_content(media_type: &str, content: &[u8]) -> Self {
        Descriptor {
            media_type: media_type.to_owned(),
            digest: Digest::of(content),
            size: content.len() as u64,
            urls: None,
            annotations: None,
            data: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// The empty descriptor (`application/vnd.oci.empty.v1+json`, `{}`).
    pub fn empty() -> Self {
        Descriptor::for_content(OCI_EMPTY, OCI_EMPTY_CONTENT)
    }

    pub fn with_annotations(mut self, annotations: Annotations) -> Self {
        self.annotations = (!annotations.is_empty()).then_some(annotations);
        self
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// Checks `content` against both the size and the digest of this descriptor.
    pub fn verify(&self, content: &[u8]) -> Result<()> {
        if content.len() as u64 != self.size {
            return Err(OciError::SizeMismatch {
                digest: self.digest,
                expected: self.size,
                actual: content.len() as u64,
            });
        }
        self.digest.verify(content)
    }
}

/// image-spec image-index.md, `platform`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// image-spec manifest.md (also Docker v2 schema 2, which has no `subject`/`artifactType`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
}

impl ImageManifest {
    /// A new OCI image manifest.
    pub fn new(config: Descriptor, layers: Vec<Descriptor>) -> Self {
        ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_owned()),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: None,
        }
    }

    pub fn media_type(&self) -> &str {
        self.media_type.as_deref().unwrap_or(OCI_MANIFEST)
    }

    /// The artifact type as the referrers API reports it: `artifactType`, else the config's
    /// media type (distribution-spec v1.1, "Listing Referrers").
    pub fn effective_artifact_type(&self) -> &str {
        match self.artifact_type.as_deref() {
            Some(t) if !t.is_empty() => t,
            _ => &self.config.media_type,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// image-spec image-index.md (also the Docker manifest list).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
}

impl ImageIndex {
    pub fn new(manifests: Vec<Descriptor>) -> Self {
        ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_owned()),
            artifact_type: None,
            manifests,
            subject: None,
            annotations: None,
        }
    }

    pub fn media_type(&self) -> &str {
        self.media_type.as_deref().unwrap_or(OCI_INDEX)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Only the entries whose `artifactType` is `artifact_type`; `None` or an empty filter
    /// keeps all (distribution-spec v1.1: the filter is optional).
    pub fn filter_artifact_type(mut self, artifact_type: Option<&str>) -> Self {
        if let Some(wanted) = artifact_type.filter(|t| !t.is_empty()) {
            self.manifests
                .retain(|d| d.artifact_type.as_deref() == Some(wanted));
        }
        self
    }
}

/// A parsed manifest of either kind.
// Manifests are handled one at a time, never stored in bulk, so the variant size gap is not
// worth a Box in every pattern.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Manifest {
    Image(ImageManifest),
    Index(ImageIndex),
}

impl Manifest {
    pub fn media_type(&self) -> &str {
        match self {
            Manifest::Image(m) => m.media_type(),
            Manifest::Index(i) => i.media_type(),
        }
    }

    pub fn subject(&self) -> Option<&Descriptor> {
        match self {
            Manifest::Image(m) => m.subject.as_ref(),
            Manifest::Index(i) => i.subject.as_ref(),
        }
    }

    pub fn annotations(&self) -> Option<&Annotations> {
        match self {
            Manifest::Image(m) => m.annotations.as_ref(),
            Manifest::Index(i) => i.annotations.as_ref(),
        }
    }

    /// Parses manifest bytes. `content_type` is the media type the bytes came with (HTTP
    /// Content-Type or descriptor `mediaType`), if any.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(OciError::TooLarge {
                what: "manifest",
                limit: MAX_MANIFEST_BYTES as u64,
            });
        }
        let raw: RawManifest = serde_json::from_slice(bytes).map_err(OciError::json("manifest"))?;
        if raw.schema_version != 2 {
            return Err(OciError::InvalidManifest("schemaVersion must be 2"));
        }
        // An HTTP Content-Type may carry parameters; only the essence is a media type.
        let header = content_type
            .map(|c| c.split(';').next().unwrap_or("").trim())
            .filter(|c| !c.is_empty() && ACCEPTED_MANIFEST_TYPES.contains(c));
        let media_type = match (&raw.media_type, header) {
            (Some(body), Some(header)) if body != header => {
                return Err(OciError::MediaTypeMismatch {
                    body: body.clone(),
                    header: header.to_owned(),
                });
            }
            (Some(body), _) => body.clone(),
            (None, Some(header)) => header.to_owned(),
            // Neither says: the fields decide, as the image spec allows mediaType to be absent.
            (None, None) => match (&raw.layers, &raw.manifests) {
                (Some(_), None) => OCI_MANIFEST.to_owned(),
                (None, Some(_)) => OCI_INDEX.to_owned(),
                _ => return Err(OciError::InvalidManifest("cannot tell manifest from index")),
            },
        };
        match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                if raw.manifests.is_some() {
                    return Err(OciError::InvalidManifest(
                        "image manifest with a `manifests` field",
                    ));
                }
                let config = raw
                    .config
                    .ok_or(OciError::InvalidManifest("image manifest without config"))?;
                let layers = raw
                    .layers
                    .ok_or(OciError::InvalidManifest("image manifest without layers"))?;
                if media_type == DOCKER_MANIFEST
                    && (raw.subject.is_some() || raw.artifact_type.is_some())
                {
                    return Err(OciError::InvalidManifest(
                        "docker manifest with OCI 1.1 fields",
                    ));
                }
                // image-spec manifest.md: artifactType MUST be set when config is the empty
                // descriptor, but older tools omit it, so we only check that it is a media type.
                if raw.artifact_type.as_deref() == Some("") {
                    return Err(OciError::InvalidManifest("empty artifactType"));
                }
                // The kind we decided on is recorded, so a Docker manifest without a
                // `mediaType` member is not later reported as OCI.
                Ok(Manifest::Image(ImageManifest {
                    schema_version: 2,
                    media_type: Some(media_type),
                    artifact_type: raw.artifact_type,
                    config,
                    layers,
                    subject: raw.subject,
                    annotations: raw.annotations,
                }))
            }
            OCI_INDEX | DOCKER_MANIFEST_LIST => {
                if raw.layers.is_some() || raw.config.is_some() {
                    return Err(OciError::InvalidManifest("index with `layers` or `config`"));
                }
                let manifests = raw
                    .manifests
                    .ok_or(OciError::InvalidManifest("index without manifests"))?;
                Ok(Manifest::Index(ImageIndex {
                    schema_version: 2,
                    media_type: Some(media_type),
                    artifact_type: raw.artifact_type,
                    manifests,
                    subject: raw.subject,
                    annotations: raw.annotations,
                }))
            }
            other => Err(OciError::UnsupportedMediaType(other.to_owned())),
        }
    }
}

/// The union of both shapes, so that the kind is decided by us and not by serde's guessing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    subject: Option<Descriptor>,
    #[serde(default)]
    annotations: Option<Annotations>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_json() -> String {
        let d = Descriptor::for_content(OCI_CONFIG, b"{}");
        serde_json::to_string(&ImageManifest::new(d.clone(), vec![d])).unwrap()
    }

    #[test]
    fn manifest_round_trips() {
        let json = manifest_json();
        let Manifest::Image(m) = Manifest::parse(json.as_bytes(), Some(OCI_MANIFEST)).unwrap()
        else {
            panic!("not an image manifest")
        };
        assert_eq!(m.to_json(), json.as_bytes());
    }

    #[test]
    fn ambiguous_or_mislabelled_manifests_are_refused() {
        let json = manifest_json();
        assert!(matches!(
            Manifest::parse(json.as_bytes(), Some(OCI_INDEX)),
            Err(OciError::MediaTypeMismatch { .. })
        ));
        let both = json.replacen("\"layers\"", "\"manifests\":[],\"layers\"", 1);
        assert!(matches!(
            Manifest::parse(both.as_bytes(), None),
            Err(OciError::InvalidManifest(_))
        ));
        let v1 = json.replacen("\"schemaVersion\":2", "\"schemaVersion\":1", 1);
        assert!(matches!(
            Manifest::parse(v1.as_bytes(), None),
            Err(OciError::InvalidManifest(_))
        ));
        let bad_digest = json.replacen("sha256:", "sha256:0", 1);
        assert!(matches!(
            Manifest::parse(bad_digest.as_bytes(), None),
            Err(OciError::InvalidJson { .. })
        ));
        let unknown = json.replacen(OCI_MANIFEST, "application/x-unknown", 1);
        assert!(matches!(
            Manifest::parse(unknown.as_bytes(), None),
            Err(OciError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn index_without_media_type_is_recognised_by_its_fields() {
        let idx = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            Manifest::parse(idx.as_bytes(), None),
            Ok(Manifest::Index(_))
        ));
    }

    #[test]
    fn empty_artifact_type_filter_keeps_everything() {
        let mut a = Descriptor::for_content(OCI_MANIFEST, b"a");
        a.artifact_type = Some("x".into());
        let b = Descriptor::for_content(OCI_MANIFEST, b"b");
        let idx = ImageIndex::new(vec![a, b]);
        assert_eq!(
            idx.clone().filter_artifact_type(Some("")).manifests.len(),
            2
        );
        assert_eq!(idx.clone().filter_artifact_type(None).manifests.len(), 2);
        assert_eq!(idx.filter_artifact_type(Some("x")).manifests.len(), 1);
    }
}
