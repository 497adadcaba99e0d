//! Per-repository operations of the distribution spec v1.1: manifests, blobs and tags (the
//! referrers API and its fallback are in `referrers.rs`).

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};

use super::{Access, RegistryClient, read_bounded, unexpected};
use crate::digest::Digest;
use crate::error::{OciError, Result};
use crate::manifest::{ACCEPTED_MANIFEST_TYPES, Descriptor, MAX_MANIFEST_BYTES, Manifest};
use crate::reference::valid_tag;

/// distribution-spec v1.1, "Pushing Manifests with Subject": a registry that processed the
/// `subject` answers with this header; when it is absent the client maintains the fallback tag.
const OCI_SUBJECT: &str = "OCI-Subject";
/// distribution-spec v1.1, "Listing Referrers": the filters the registry applied.
pub(super) const OCI_FILTERS_APPLIED: &str = "OCI-Filters-Applied";
const DOCKER_CONTENT_DIGEST: &str = "Docker-Content-Digest";

/// A manifest pulled from a registry or layout, verified against its digest.
#[derive(Clone, Debug)]
pub struct FetchedManifest {
    pub digest: Digest,
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
}

impl FetchedManifest {
    /// Verifies `bytes` (against `expected` when the reference was a digest) and parses them.
    pub fn from_bytes(
        bytes: Vec<u8>,
        content_type: Option<&str>,
        expected: Option<&Digest>,
    ) -> Result<Self> {
        let digest = Digest::of(&bytes);
        if let Some(expected) = expected
            && *expected != digest
        {
            return Err(OciError::DigestMismatch {
                expected: *expected,
                actual: digest,
            });
        }
        let manifest = Manifest::parse(&bytes, content_type)?;
        Ok(FetchedManifest {
            digest,
            media_type: manifest.media_type().to_owned(),
            bytes,
            manifest,
        })
    }

    pub fn descriptor(&self) -> Descriptor {
        Descriptor::for_content(&self.media_type, &self.bytes)
    }
}

/// One repository of a registry. Obtain with [`RegistryClient::repository`].
#[derive(Debug, Clone)]
pub struct Repository<'c> {
    pub(super) client: &'c RegistryClient,
    pub(super) name: String,
}

/// A reference is a tag or a digest; which decides whether the content must hash to it.
enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    fn parse(s: &str) -> Result<Self> {
        if s.contains(':') {
            Ok(Reference::Digest(Digest::parse(s)?))
        } else if valid_tag(s) {
            Ok(Reference::Tag(s.to_owned()))
        } else {
            Err(OciError::InvalidReference {
                reference: s.to_owned(),
                reason: "neither a tag nor a digest",
            })
        }
    }

    fn digest(&self) -> Option<&Digest> {
        match self {
            Reference::Digest(d) => Some(d),
            Reference::Tag(_) => None,
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reference::Tag(t) => f.write_str(t),
            Reference::Digest(d) => write!(f, "{d}"),
        }
    }
}

pub(super) fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

impl<'c> Repository<'c> {
    pub(super) fn new(client: &'c RegistryClient, name: &str) -> Self {
        Repository {
            client,
            name: name.to_owned(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn client(&self) -> &'c RegistryClient {
        self.client
    }

    fn manifest_path(&self, reference: &Reference) -> String {
        format!("v2/{}/manifests/{reference}", self.name)
    }

    /// `HEAD /v2/<name>/manifests/<reference>`: the descriptor of the manifest, `None` if absent.
    /// When the registry omits the digest header, the manifest is fetched and hashed instead.
    pub async fn head_manifest(&self, reference: &str) -> Result<Option<Descriptor>> {
        let reference = Reference::parse(reference)?;
        let accept = ACCEPTED_MANIFEST_TYPES.join(", ");
        let resp = self
            .client
            .send(
                Method::HEAD,
                &self.manifest_path(&reference),
                Access::Pull(&self.name),
                |r| r.header(ACCEPT, &accept),
                "head manifest",
            )
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            status => return Err(unexpected("head manifest", status, resp).await),
        }
        let headers = resp.headers();
        let digest = header(headers, DOCKER_CONTENT_DIGEST).and_then(|d| Digest::parse(d).ok());
        let media_type = header(headers, CONTENT_TYPE.as_str()).map(str::to_owned);
        // Not `content_length()`: for HEAD that is the (empty) body's length, not the header.
        let size = header(headers, "Content-Length").and_then(|l| l.parse::<u64>().ok());
        match (digest, media_type, size) {
            (Some(digest), Some(media_type), Some(size))
                if reference.digest().is_none_or(|d| *d == digest)
                    && ACCEPTED_MANIFEST_TYPES.contains(&media_type.as_str()) =>
            {
                let mut descriptor = Descriptor::for_content(&media_type, b"");
                descriptor.digest = digest;
                descriptor.size = size;
                Ok(Some(descriptor))
            }
            _ => Ok(self
                .try_get_manifest(&reference.to_string())
                .await?
                .map(|m| m.descriptor())),
        }
    }

    /// `GET /v2/<name>/manifests/<reference>`, digest-verified; [`OciError::NotFound`] if absent.
    pub async fn get_manifest(&self, reference: &str) -> Result<FetchedManifest> {
        self.try_get_manifest(reference)
            .await?
            .ok_or_else(|| OciError::NotFound(format!("manifest {}:{reference}", self.name)))
    }

    /// Like [`Self::get_manifest`], `None` on 404.
    pub async fn try_get_manifest(&self, reference: &str) -> Result<Option<FetchedManifest>> {
        let reference = Reference::parse(reference)?;
        let accept = ACCEPTED_MANIFEST_TYPES.join(", ");
        let resp = self
            .client
            .send(
                Method::GET,
                &self.manifest_path(&reference),
                Access::Pull(&self.name),
                |r| r.header(ACCEPT, &accept),
                "get manifest",
            )
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            status => return Err(unexpected("get manifest", status, resp).await),
        }
        let content_type = header(resp.headers(), CONTENT_TYPE.as_str()).map(str::to_owned);
        let claimed =
            header(resp.headers(), DOCKER_CONTENT_DIGEST).and_then(|d| Digest::parse(d).ok());
        let bytes = read_bounded(resp, MAX_MANIFEST_BYTES as u64, "manifest").await?;
        let fetched =
            FetchedManifest::from_bytes(bytes, content_type.as_deref(), reference.digest())?;
        // For a tag the registry's own digest claim is the only cross-check we have.
        if let Some(claimed) = claimed
            && claimed != fetched.digest
        {
            return Err(OciError::DigestMismatch {
                expected: claimed,
                actual: fetched.digest,
            });
        }
        Ok(Some(fetched))
    }

    /// `PUT /v2/<name>/manifests/<reference>` of exact bytes. Returns the digest and whether the
    /// registry processed a `subject` (the `OCI-Subject` header). Prefer [`Self::push_manifest`].
    pub async fn put_manifest(
        &self,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<(Digest, bool)> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(OciError::TooLarge {
                what: "manifest",
                limit: MAX_MANIFEST_BYTES as u64,
            });
        }
        let reference = Reference::parse(reference)?;
        let digest = Digest::of(bytes);
        if let Some(expected) = reference.digest()
            && *expected != digest
        {
            return Err(OciError::DigestMismatch {
                expected: *expected,
                actual: digest,
            });
        }
        let resp = self
            .client
            .send(
                Method::PUT,
                &self.manifest_path(&reference),
                Access::Push(&self.name),
                |r| r.header(CONTENT_TYPE, media_type).body(bytes.to_vec()),
                "put manifest",
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(unexpected("put manifest", resp.status(), resp).await);
        }
        let subject_processed = resp.headers().contains_key(OCI_SUBJECT);
        Ok((digest, subject_processed))
    }

    /// Pushes a manifest by `tag`, or by its digest when `tag` is `None`. When it has a
    /// `subject` and the registry did not answer `OCI-Subject`, the referrers fallback tag is
    /// updated as distribution-spec v1.1 requires of clients. That read-modify-write is not
    /// atomic: two writers racing on one subject can lose an entry (the spec offers no lock;
    /// registries with the referrers API do not have this problem).
    pub async fn push_manifest(
        &self,
        manifest: &Manifest,
        tag: Option<&str>,
    ) -> Result<Descriptor> {
        let (bytes, media_type) = match manifest {
            Manifest::Image(m) => (m.to_json(), m.media_type().to_owned()),
            Manifest::Index(i) => (i.to_json(), i.media_type().to_owned()),
        };
        let digest = Digest::of(&bytes);
        let reference = tag.map_or_else(|| digest.to_string(), str::to_owned);
        let (_, subject_processed) = self.put_manifest(&reference, &bytes, &media_type).await?;
        let mut descriptor = Descriptor::for_content(&media_type, &bytes);
        if let Some(subject) = manifest.subject()
            && !subject_processed
        {
            let mut entry = descriptor.clone();
            entry.artifact_type = match manifest {
                Manifest::Image(m) => Some(m.effective_artifact_type().to_owned()),
                Manifest::Index(i) => i.artifact_type.clone(),
            };
            entry.annotations = manifest.annotations().cloned();
            self.add_to_referrers_tag(&subject.digest, entry).await?;
        }
        descriptor.artifact_type = None;
        Ok(descriptor)
    }

    /// `DELETE /v2/<name>/manifests/<digest>`.
    pub async fn delete_manifest(&self, digest: &Digest) -> Result<()> {
        let path = self.manifest_path(&Reference::Digest(*digest));
        let resp = self
            .client
            .send(
                Method::DELETE,
                &path,
                Access::Push(&self.name),
                |r| r,
                "delete manifest",
            )
            .await?;
        match resp.status() {
            StatusCode::ACCEPTED | StatusCode::OK => Ok(()),
            StatusCode::NOT_FOUND => Err(OciError::NotFound(format!(
                "manifest {}@{digest}",
                self.name
            ))),
            status => Err(unexpected("delete manifest", status, resp).await),
        }
    }

    /// `HEAD /v2/<name>/blobs/<digest>`.
    pub async fn blob_exists(&self, digest: &Digest) -> Result<bool> {
        let path = format!("v2/{}/blobs/{digest}", self.name);
        let resp = self
            .client
            .send(
                Method::HEAD,
                &path,
                Access::Pull(&self.name),
                |r| r,
                "head blob",
            )
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(unexpected("head blob", status, resp).await),
        }
    }

    /// `GET /v2/<name>/blobs/<digest>`: at most the descriptor's size (and the client's blob
    /// limit) is read, then size and digest are verified.
    pub async fn get_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        let limit = self.client.max_blob_bytes();
        if descriptor.size > limit {
            return Err(OciError::TooLarge {
                what: "blob",
                limit,
            });
        }
        let path = format!("v2/{}/blobs/{}", self.name, descriptor.digest);
        let resp = self
            .client
            .send(
                Method::GET,
                &path,
                Access::Pull(&self.name),
                |r| r,
                "get blob",
            )
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                return Err(OciError::NotFound(format!(
                    "blob {}@{}",
                    self.name, descriptor.digest
                )));
            }
            status => return Err(unexpected("get blob", status, resp).await),
        }
        let bytes = match read_bounded(resp, descriptor.size, "blob").await {
            // More bytes than the descriptor says is a size mismatch, not a limit problem.
            Err(OciError::TooLarge { .. }) => {
                return Err(OciError::SizeMismatch {
                    digest: descriptor.digest,
                    expected: descriptor.size,
                    actual: descriptor.size + 1,
                });
            }
            other => other?,
        };
        descriptor.verify(&bytes)?;
        Ok(bytes)
    }

    /// Uploads a blob monolithically (`POST` then `PUT ?digest=`), skipped when it exists.
    pub async fn push_blob(&self, content: &[u8]) -> Result<Digest> {
        let digest = Digest::of(content);
        if self.blob_exists(&digest).await? {
            return Ok(digest);
        }
        let path = format!("v2/{}/blobs/uploads/", self.name);
        let resp = self
            .client
            .send(
                Method::POST,
                &path,
                Access::Push(&self.name),
                |r| r,
                "start upload",
            )
            .await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(unexpected("start upload", resp.status(), resp).await);
        }
        let location = header(resp.headers(), "Location").ok_or(OciError::BadHeader {
            operation: "start upload",
            header: "Location",
        })?;
        let mut url = self.client.same_origin(location)?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let resp = self
            .client
            .send_url(
                Method::PUT,
                url,
                Access::Push(&self.name),
                |r| {
                    r.header(CONTENT_TYPE, "application/octet-stream")
                        .body(content.to_vec())
                },
                "finish upload",
            )
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(unexpected("finish upload", resp.status(), resp).await);
        }
        Ok(digest)
    }

    /// `GET /v2/<name>/tags/list` (the first page; registries without `n` return all).
    pub async fn tags(&self) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let path = format!("v2/{}/tags/list", self.name);
        let resp = self
            .client
            .send(
                Method::GET,
                &path,
                Access::Pull(&self.name),
                |r| r,
                "list tags",
            )
            .await?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(Vec::new()),
            status => return Err(unexpected("list tags", status, resp).await),
        }
        let bytes = read_bounded(resp, MAX_MANIFEST_BYTES as u64, "tag list").await?;
        let list: TagList = serde_json::from_slice(&bytes).map_err(OciError::json("tag list"))?;
        Ok(list.tags.unwrap_or_default())
    }
}
