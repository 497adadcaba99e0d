//! Where signatures are read from: a registry repository or an OCI image layout. Both answer
//! the same three questions, so the cosign readers are written once.

use std::future::Future;

use crate::client::{FetchedManifest, Repository};
use crate::digest::Digest;
use crate::error::Result;
use crate::layout::OciLayout;
use crate::manifest::{Descriptor, ImageIndex};

/// Read access to manifests, blobs and referrers, every answer digest-verified.
pub trait ArtifactSource {
    /// A manifest by tag or digest; `None` when absent.
    fn manifest(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<FetchedManifest>>> + Send;
    /// A blob, verified against the descriptor's size and digest.
    fn blob(&self, descriptor: &Descriptor) -> impl Future<Output = Result<Vec<u8>>> + Send;
    /// The referrers of `subject` (an empty or absent filter means all).
    fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> impl Future<Output = Result<ImageIndex>> + Send;
}

impl ArtifactSource for Repository<'_> {
    async fn manifest(&self, reference: &str) -> Result<Option<FetchedManifest>> {
        self.try_get_manifest(reference).await
    }

    async fn blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        self.get_blob(descriptor).await
    }

    async fn referrers(&self, subject: &Digest, artifact_type: Option<&str>) -> Result<ImageIndex> {
        Repository::referrers(self, subject, artifact_type).await
    }
}

impl ArtifactSource for OciLayout {
    async fn manifest(&self, reference: &str) -> Result<Option<FetchedManifest>> {
        self.get_manifest(reference)
    }

    async fn blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        self.read_descriptor(descriptor)
    }

    async fn referrers(&self, subject: &Digest, artifact_type: Option<&str>) -> Result<ImageIndex> {
        OciLayout::referrers(self, subject, artifact_type)
    }
}
