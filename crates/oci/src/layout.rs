//! OCI image layout on disk (image-spec image-layout.md): `oci-layout`, `index.json` and
//! content-addressed `blobs/sha256/<hex>`. Every read is verified against its digest, so a
//! layout edited on disk is detected. Blocking file I/O: layouts hold small files, and callers
//! in async code can move bulk work to `spawn_blocking`.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::client::FetchedManifest;
use crate::digest::Digest;
use crate::error::{OciError, Result};
use crate::manifest::{ANNOTATION_REF_NAME, Descriptor, ImageIndex, MAX_MANIFEST_BYTES, Manifest};
use crate::reference::valid_tag;

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_VERSION: &str = "1.0.0";
const INDEX_FILE: &str = "index.json";

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
    max_blob_bytes: u64,
}

impl OciLayout {
    /// Creates a layout in `root` (created if missing); an existing layout is opened instead.
    pub fn create(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        if root.join(LAYOUT_FILE).exists() {
            return Self::open(root);
        }
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(OciError::io(&blobs))?;
        let layout = OciLayout {
            root: root.to_owned(),
            max_blob_bytes: crate::client::DEFAULT_MAX_BLOB_BYTES,
        };
        layout.write_atomic(
            &root.join(LAYOUT_FILE),
            format!(r#"{{"imageLayoutVersion":"{LAYOUT_VERSION}"}}"#).as_bytes(),
        )?;
        layout.write_index(&ImageIndex::new(Vec::new()))?;
        Ok(layout)
    }

    /// Opens an existing layout, checking `oci-layout` names version 1.0.0.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct LayoutFile {
            image_layout_version: String,
        }
        let root = root.as_ref();
        let path = root.join(LAYOUT_FILE);
        let text = read_limited(&path, 4096)?;
        let file: LayoutFile =
            serde_json::from_slice(&text).map_err(OciError::json("oci-layout"))?;
        if file.image_layout_version != LAYOUT_VERSION {
            return Err(OciError::InvalidLayout(format!(
                "imageLayoutVersion {:?}",
                file.image_layout_version
            )));
        }
        Ok(OciLayout {
            root: root.to_owned(),
            max_blob_bytes: crate::client::DEFAULT_MAX_BLOB_BYTES,
        })
    }

    pub fn with_max_blob_bytes(mut self, limit: u64) -> Self {
        self.max_blob_bytes = limit;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with `digest` lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    /// The top-level `index.json`.
    pub fn index(&self) -> Result<ImageIndex> {
        let bytes = read_limited(&self.root.join(INDEX_FILE), MAX_MANIFEST_BYTES as u64)?;
        match Manifest::parse(&bytes, None)? {
            Manifest::Index(index) => Ok(index),
            Manifest::Image(_) => Err(OciError::InvalidLayout(
                "index.json is not an image index".into(),
            )),
        }
    }

    fn write_index(&self, index: &ImageIndex) -> Result<()> {
        self.write_atomic(&self.root.join(INDEX_FILE), &index.to_json())
    }

    /// Writes a blob (idempotent) and returns its digest.
    pub fn write_blob(&self, content: &[u8]) -> Result<Digest> {
        let digest = Digest::of(content);
        let path = self.blob_path(&digest);
        // An existing file is trusted only if it still hashes right; otherwise it is replaced.
        if !(path.exists() && self.read_blob(&digest).is_ok()) {
            self.write_atomic(&path, content)?;
        }
        Ok(digest)
    }

    /// Reads and verifies a blob by digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        if !path.exists() {
            return Err(OciError::NotFound(format!("blob {digest}")));
        }
        let bytes = read_limited(&path, self.max_blob_bytes)?;
        digest.verify(&bytes)?;
        Ok(bytes)
    }

    /// Reads a blob and checks it against the whole descriptor (size too).
    pub fn read_descriptor(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        if descriptor.size > self.max_blob_bytes {
            return Err(OciError::TooLarge {
                what: "blob",
                limit: self.max_blob_bytes,
            });
        }
        let bytes = self.read_blob(&descriptor.digest)?;
        descriptor.verify(&bytes)?;
        Ok(bytes)
    }

    /// Stores a manifest blob and lists it in `index.json`, named by `tag` when given (an
    /// entry with the same name is replaced, as a tag moves). Returns its descriptor.
    pub fn put_manifest(&self, manifest: &Manifest, tag: Option<&str>) -> Result<Descriptor> {
        let (bytes, media_type) = match manifest {
            Manifest::Image(m) => (m.to_json(), m.media_type().to_owned()),
            Manifest::Index(i) => (i.to_json(), i.media_type().to_owned()),
        };
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(OciError::TooLarge {
                what: "manifest",
                limit: MAX_MANIFEST_BYTES as u64,
            });
        }
        self.write_blob(&bytes)?;
        let mut descriptor = Descriptor::for_content(&media_type, &bytes);
        if let Manifest::Image(m) = manifest {
            descriptor.artifact_type = m.artifact_type.clone();
        }
        let mut index = self.index()?;
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(OciError::InvalidReference {
                    reference: tag.to_owned(),
                    reason: "invalid tag",
                });
            }
            index
                .manifests
                .retain(|d| d.annotation(ANNOTATION_REF_NAME) != Some(tag));
            let mut annotations = descriptor.annotations.clone().unwrap_or_default();
            annotations.insert(ANNOTATION_REF_NAME.to_owned(), tag.to_owned());
            descriptor.annotations = Some(annotations);
        } else if index
            .manifests
            .iter()
            .any(|d| d.digest == descriptor.digest && d.annotation(ANNOTATION_REF_NAME).is_none())
        {
            return Ok(descriptor);
        }
        index.manifests.push(descriptor.clone());
        self.write_index(&index)?;
        Ok(descriptor)
    }

    /// Resolves a tag (`org.opencontainers.image.ref.name`) or a `sha256:` digest to the
    /// descriptor in `index.json`; `None` when absent.
    pub fn resolve(&self, reference: &str) -> Result<Option<Descriptor>> {
        let index = self.index()?;
        if reference.contains(':') {
            let digest = Digest::parse(reference)?;
            Ok(index.manifests.into_iter().find(|d| d.digest == digest))
        } else {
            Ok(index
                .manifests
                .into_iter()
                .rev()
                .find(|d| d.annotation(ANNOTATION_REF_NAME) == Some(reference)))
        }
    }

    /// Reads a manifest by tag or digest, verified against its descriptor.
    pub fn get_manifest(&self, reference: &str) -> Result<Option<FetchedManifest>> {
        let descriptor = match self.resolve(reference)? {
            Some(d) => d,
            // A digest need not be listed in index.json: referenced manifests are blobs too.
            None if reference.contains(':') => {
                let digest = Digest::parse(reference)?;
                if !self.blob_path(&digest).exists() {
                    return Ok(None);
                }
                let bytes = self.read_manifest_blob(&digest)?;
                return FetchedManifest::from_bytes(bytes, None, Some(&digest)).map(Some);
            }
            None => return Ok(None),
        };
        if descriptor.size > MAX_MANIFEST_BYTES as u64 {
            return Err(OciError::TooLarge {
                what: "manifest",
                limit: MAX_MANIFEST_BYTES as u64,
            });
        }
        let bytes = self.read_manifest_blob(&descriptor.digest)?;
        descriptor.verify(&bytes)?;
        FetchedManifest::from_bytes(
            bytes,
            Some(&descriptor.media_type),
            Some(&descriptor.digest),
        )
        .map(Some)
    }

    fn read_manifest_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let bytes = read_limited(&self.blob_path(digest), MAX_MANIFEST_BYTES as u64)?;
        digest.verify(&bytes)?;
        Ok(bytes)
    }

    /// Manifests in `index.json` whose `subject` is `subject`, as a referrers index (the
    /// layout has no referrers API, so we compute what a registry would answer), plus any
    /// entries of a `sha256-<hex>` fallback index stored under that tag.
    pub fn referrers(&self, subject: &Digest, artifact_type: Option<&str>) -> Result<ImageIndex> {
        let mut found: Vec<Descriptor> = Vec::new();
        for entry in self.index()?.manifests {
            let Some(fetched) = self.get_manifest(&entry.digest.to_string())? else {
                continue;
            };
            let Manifest::Image(m) = &fetched.manifest else {
                continue;
            };
            if m.subject.as_ref().is_some_and(|s| s.digest == *subject)
                && !found.iter().any(|d| d.digest == fetched.digest)
            {
                let mut d = fetched.descriptor();
                d.artifact_type = Some(m.effective_artifact_type().to_owned());
                d.annotations = m.annotations.clone();
                found.push(d);
            }
        }
        if let Some(tagged) = self.get_manifest(&subject.tag_form())? {
            match tagged.manifest {
                Manifest::Index(index) => {
                    for d in index.manifests {
                        if !found.iter().any(|f| f.digest == d.digest) {
                            found.push(d);
                        }
                    }
                }
                Manifest::Image(_) => {
                    return Err(OciError::ReferrersTagNotIndex(subject.tag_form()));
                }
            }
        }
        Ok(ImageIndex::new(found).filter_artifact_type(artifact_type))
    }

    /// Writes through a temporary file and a rename, so readers never see half a file.
    fn write_atomic(&self, path: &Path, content: &[u8]) -> Result<()> {
        let dir = path.parent().unwrap_or(&self.root);
        // Unique per process and write, so concurrent writers never share a temporary file.
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let tmp = dir.join(format!(
            ".tmp-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
        ));
        let mut file = fs::File::create(&tmp).map_err(OciError::io(&tmp))?;
        file.write_all(content).map_err(OciError::io(&tmp))?;
        file.sync_all().map_err(OciError::io(&tmp))?;
        fs::rename(&tmp, path).map_err(OciError::io(path))
    }
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let file = fs::File::open(path).map_err(OciError::io(path))?;
    let mut bytes = Vec::new();
    // Read one byte past the limit to tell "exactly at the limit" from "over it".
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(OciError::io(path))?;
    if bytes.len() as u64 > limit {
        return Err(OciError::TooLarge {
            what: "file",
            limit,
        });
    }
    Ok(bytes)
}
