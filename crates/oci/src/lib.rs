//! OCI distribution and image-layout support for IMMERSE: typed manifests and digests, a
//! registry client (distribution spec v1.1, including the referrers API and its tag-schema
//! fallback), OCI image layouts on disk, and cosign's storage schemes for signatures,
//! attestations and Sigstore bundles.
//!
//! Everything fetched is verified against its digest and read with a size limit before it is
//! parsed. This crate moves signatures as opaque bytes; verifying them is `immerse-sigstore`'s.
#![forbid(unsafe_code)]

pub mod client;
pub mod cosign;
pub mod digest;
pub mod error;
pub mod layout;
pub mod manifest;
pub mod reference;
pub mod source;
#[cfg(feature = "test-registry")]
pub mod testing;

pub use client::{Credentials, FetchedManifest, RegistryClient, Repository};
pub use digest::Digest;
pub use error::{OciError, Result};
pub use layout::OciLayout;
pub use manifest::{Descriptor, ImageIndex, ImageManifest, Manifest};
pub use reference::ImageRef;
pub use source::ArtifactSource;
