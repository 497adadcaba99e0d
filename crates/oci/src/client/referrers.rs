//! The referrers API (distribution-spec v1.1, "Listing Referrers") and, for registries
//! without it, the referrers tag schema: an image index under the tag `sha256-<hex>` that
//! clients read and maintain themselves.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use tracing::{debug, warn};

use super::repository::{FetchedManifest, OCI_FILTERS_APPLIED, header};
use super::{Access, Repository, read_bounded, unexpected};
use crate::digest::Digest;
use crate::error::{OciError, Result};
use crate::manifest::{Descriptor, ImageIndex, MAX_MANIFEST_BYTES, Manifest, OCI_INDEX};

/// A bound on referrers pages, so a registry cannot keep us paging forever.
const MAX_REFERRERS_PAGES: usize = 16;

impl Repository<'_> {
    /// The referrers of `subject`: `GET /v2/<name>/referrers/<digest>`, and on 404 (no
    /// referrers API) the image index under the `sha256-<hex>` tag, or an empty index when
    /// that tag is absent. `artifact_type` filters; `None` or `Some("")` means all. The
    /// filter is applied here too when the registry did not (`OCI-Filters-Applied`).
    pub async fn referrers(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<ImageIndex> {
        let filter = artifact_type.filter(|t| !t.is_empty());
        let path = format!("v2/{}/referrers/{subject}", self.name);
        let resp = self
            .client
            .send(
                Method::GET,
                &path,
                Access::Pull(&self.name),
                |r| {
                    let r = r.header(ACCEPT, OCI_INDEX);
                    match filter {
                        Some(t) => r.query(&[("artifactType", t)]),
                        None => r,
                    }
                },
                "list referrers",
            )
            .await?;
        match resp.status() {
            StatusCode::OK => {
                let (mut index, mut next) = self.referrers_page(resp, filter).await?;
                let mut pages = 1;
                // distribution-spec v1.1: a registry MAY paginate with a `Link` header.
                while let Some(url) = next {
                    if pages >= MAX_REFERRERS_PAGES {
                        return Err(OciError::TooLarge {
                            what: "referrers list (pages)",
                            limit: MAX_REFERRERS_PAGES as u64,
                        });
                    }
                    let resp = self
                        .client
                        .send_url(
                            Method::GET,
                            url,
                            Access::Pull(&self.name),
                            |r| r.header(ACCEPT, OCI_INDEX),
                            "list referrers",
                        )
                        .await?;
                    if resp.status() != StatusCode::OK {
                        return Err(unexpected("list referrers", resp.status(), resp).await);
                    }
                    let (page, following) = self.referrers_page(resp, filter).await?;
                    index.manifests.extend(page.manifests);
                    next = following;
                    pages += 1;
                }
                Ok(index)
            }
            StatusCode::NOT_FOUND => {
                debug!(repository = %self.name, "no referrers API; reading the fallback tag");
                let tag = subject.tag_form();
                match self.try_get_manifest(&tag).await? {
                    None => Ok(ImageIndex::new(Vec::new())),
                    Some(FetchedManifest {
                        manifest: Manifest::Index(index),
                        ..
                    }) => Ok(index.filter_artifact_type(filter)),
                    Some(_) => {
                        warn!(repository = %self.name, %tag, "referrers tag holds an image manifest");
                        Err(OciError::ReferrersTagNotIndex(tag))
                    }
                }
            }
            status => Err(unexpected("list referrers", status, resp).await),
        }
    }

    /// One page of a referrers API answer, filtered unless the registry says it filtered,
    /// and the same-origin URL of the next page, if any.
    async fn referrers_page(
        &self,
        resp: reqwest::Response,
        filter: Option<&str>,
    ) -> Result<(ImageIndex, Option<reqwest::Url>)> {
        let applied = header(resp.headers(), OCI_FILTERS_APPLIED)
            .is_some_and(|h| h.split(',').any(|f| f.trim() == "artifactType"));
        let content_type = header(resp.headers(), CONTENT_TYPE.as_str()).map(str::to_owned);
        let next = header(resp.headers(), "Link")
            .and_then(next_link)
            .map(|link| self.client.same_origin(link))
            .transpose()?;
        let bytes = read_bounded(resp, MAX_MANIFEST_BYTES as u64, "referrers index").await?;
        let Manifest::Index(index) = Manifest::parse(&bytes, content_type.as_deref())? else {
            return Err(OciError::InvalidManifest(
                "referrers response is not an image index",
            ));
        };
        let index = if applied {
            index
        } else {
            index.filter_artifact_type(filter)
        };
        Ok((index, next))
    }

    /// distribution-spec v1.1, "Pushing Manifests with Subject", client steps 1-5.
    pub(super) async fn add_to_referrers_tag(
        &self,
        subject: &Digest,
        entry: Descriptor,
    ) -> Result<()> {
        let tag = subject.tag_form();
        let mut index = match self.try_get_manifest(&tag).await? {
            None => ImageIndex::new(Vec::new()),
            Some(FetchedManifest {
                manifest: Manifest::Index(index),
                ..
            }) => index,
            Some(_) => return Err(OciError::ReferrersTagNotIndex(tag)),
        };
        if index.manifests.iter().any(|d| d.digest == entry.digest) {
            return Ok(());
        }
        index.manifests.push(entry);
        let bytes = index.to_json();
        self.put_manifest(&tag, &bytes, OCI_INDEX).await?;
        debug!(repository = %self.name, %subject, "updated referrers fallback tag");
        Ok(())
    }
}

/// The target of `rel="next"` in a `Link` header (RFC 8288), e.g. `</v2/r/referrers/x?n=2>; rel="next"`.
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"))
            .then_some(target)
    })
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn link_header_next_is_found() {
        assert_eq!(
            next_link(r#"</v2/r/referrers/x?last=a>; rel="next""#),
            Some("/v2/r/referrers/x?last=a")
        );
        assert_eq!(next_link(r#"<a>; rel="prev", <b>; rel=next"#), Some("b"));
        assert_eq!(next_link(r#"<a>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
