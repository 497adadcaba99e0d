//! A client for the OCI distribution spec v1.1 API: transport, limits and authentication here,
//! per-repository operations in [`repository`].
//!
//! Transport rules: https everywhere, plain http only for loopback hosts (and only when asked);
//! redirects are followed (blob storage often redirects) but never to plain http off loopback,
//! and reqwest drops `Authorization` when a redirect changes host. Every body is read with a
//! limit, so an untrusted registry cannot exhaust memory.

mod auth;
mod referrers;
mod repository;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};

use auth::Authorization;
pub use auth::{Challenge, Credentials, parse_challenge};
pub use repository::{FetchedManifest, Repository};

use crate::error::{OciError, Result};
use crate::reference::{DOCKER_HUB_API_HOST, DOCKER_HUB_TOKEN_HOST, valid_host, valid_repository};

/// Default limit for one blob: 64 MiB (signatures, attestations and SBOMs are far smaller;
/// callers that pull image layers raise it).
pub const DEFAULT_MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_REDIRECTS: usize = 5;
/// How much of an error body we keep for the error message.
const MAX_ERROR_BODY: u64 = 4096;

/// Whether `host` (without port) is a loopback host that may be reached over plain http.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn url_allowed(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => url.host_str().is_some_and(is_loopback_host),
        _ => false,
    }
}

/// Builder for [`RegistryClient`].
#[derive(Debug)]
pub struct ClientBuilder {
    registry: String,
    credentials: Credentials,
    plain_http: bool,
    max_blob_bytes: u64,
    token_realm_hosts: Vec<String>,
}

impl ClientBuilder {
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Use http instead of https; refused by [`Self::build`] unless the host is loopback.
    pub fn plain_http(mut self, yes: bool) -> Self {
        self.plain_http = yes;
        self
    }

    pub fn max_blob_bytes(mut self, limit: u64) -> Self {
        self.max_blob_bytes = limit;
        self
    }

    /// A host besides the registry's own that may serve its Bearer tokens. The credentials go
    /// to the token realm, so a realm elsewhere is refused unless named here (Docker Hub's
    /// `auth.docker.io` is known).
    pub fn token_realm_host(mut self, host: impl Into<String>) -> Self {
        self.token_realm_hosts
            .push(host.into().to_ascii_lowercase());
        self
    }

    pub fn build(self) -> Result<RegistryClient> {
        if !valid_host(&self.registry) {
            return Err(OciError::InvalidUrl {
                url: self.registry,
                reason: "not a host[:port]",
            });
        }
        let scheme = if self.plain_http { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{}/", self.registry)).map_err(|_| {
            OciError::InvalidUrl {
                url: self.registry.clone(),
                reason: "not a host[:port]",
            }
        })?;
        if !url_allowed(&base) {
            return Err(OciError::PlainHttpNotLoopback(self.registry));
        }
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if !url_allowed(attempt.url()) {
                attempt.error("redirect to plain http off loopback")
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .redirect(policy)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("immerse-oci/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut token_realm_hosts = self.token_realm_hosts;
        if let Some(host) = base.host_str() {
            token_realm_hosts.push(host.to_ascii_lowercase());
            if host == DOCKER_HUB_API_HOST {
                token_realm_hosts.push(DOCKER_HUB_TOKEN_HOST.to_owned());
            }
        }
        Ok(RegistryClient {
            http,
            base,
            token_realm_hosts,
            registry: self.registry,
            credentials: self.credentials,
            tokens: Mutex::new(HashMap::new()),
            max_blob_bytes: self.max_blob_bytes,
        })
    }
}

/// A client for one registry. Cheap to share by reference; Bearer tokens are cached per scope.
pub struct RegistryClient {
    http: reqwest::Client,
    base: Url,
    /// Where Bearer tokens may be fetched: the registry's host and those configured.
    token_realm_hosts: Vec<String>,
    registry: String,
    credentials: Credentials,
    tokens: Mutex<HashMap<String, Authorization>>,
    max_blob_bytes: u64,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// What a request needs from the registry's authorization server.
#[derive(Clone, Copy)]
pub(crate) enum Access<'a> {
    Registry,
    Pull(&'a str),
    Push(&'a str),
}

impl Access<'_> {
    fn scope(&self) -> String {
        match self {
            Access::Registry => String::new(),
            Access::Pull(repo) => format!("repository:{repo}:pull"),
            Access::Push(repo) => format!("repository:{repo}:pull,push"),
        }
    }
}

impl RegistryClient {
    /// `registry` is `host[:port]`, as in an image reference.
    pub fn builder(registry: &str) -> ClientBuilder {
        ClientBuilder {
            registry: registry.to_owned(),
            credentials: Credentials::Anonymous,
            plain_http: false,
            max_blob_bytes: DEFAULT_MAX_BLOB_BYTES,
            token_realm_hosts: Vec::new(),
        }
    }

    /// The registry this client talks to (`host[:port]`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn max_blob_bytes(&self) -> u64 {
        self.max_blob_bytes
    }

    /// Operations on one repository (`name` per the distribution spec's name grammar).
    pub fn repository(&self, name: &str) -> Result<Repository<'_>> {
        if !valid_repository(name) {
            return Err(OciError::InvalidReference {
                reference: name.to_owned(),
                reason: "invalid repository name",
            });
        }
        Ok(Repository::new(self, name))
    }

    /// `GET /v2/`: Ok when the registry implements the distribution API (200, or 401 when it
    /// wants authentication and then grants it).
    pub async fn ping(&self) -> Result<()> {
        let resp = self
            .send(Method::GET, "v2/", Access::Registry, |r| r, "ping")
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(()),
            status => Err(unexpected("ping", status, resp).await),
        }
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url> {
        self.base.join(path).map_err(|_| OciError::InvalidUrl {
            url: path.to_owned(),
            reason: "cannot join to registry URL",
        })
    }

    /// Resolves an upload `Location` (relative or absolute) and refuses one on another origin,
    /// to which we would otherwise send our credentials.
    pub(crate) fn same_origin(&self, location: &str) -> Result<Url> {
        let url = self.base.join(location).map_err(|_| OciError::InvalidUrl {
            url: location.to_owned(),
            reason: "unparseable Location",
        })?;
        if url.origin() != self.base.origin() {
            return Err(OciError::InvalidUrl {
                url: location.to_owned(),
                reason: "Location on another origin",
            });
        }
        Ok(url)
    }

    /// Sends a request, answering one authentication challenge if the registry makes it.
    /// `customize` adds headers and body; it is applied again for the retry.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        access: Access<'_>,
        customize: impl Fn(RequestBuilder) -> RequestBuilder,
        operation: &'static str,
    ) -> Result<Response> {
        let url = self.url(path)?;
        self.send_url(method, url, access, customize, operation)
            .await
    }

    pub(crate) async fn send_url(
        &self,
        method: Method,
        url: Url,
        access: Access<'_>,
        customize: impl Fn(RequestBuilder) -> RequestBuilder,
        operation: &'static str,
    ) -> Result<Response> {
        let scope = access.scope();
        let build = || customize(self.http.request(method.clone(), url.clone()));
        let cached = self.cached(&scope);
        let mut req = build();
        if let Some(auth) = &cached {
            req = auth.apply(req);
        }
        let resp = req.send().await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let header = resp
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .ok_or(OciError::BadHeader {
                operation,
                header: "WWW-Authenticate",
            })?;
        let challenge = parse_challenge(header).ok_or(OciError::BadHeader {
            operation,
            header: "WWW-Authenticate",
        })?;
        let auth = match challenge {
            Challenge::Basic => match &self.credentials {
                Credentials::Basic { username, password } => Authorization::Basic {
                    username: username.clone(),
                    password: password.clone(),
                },
                Credentials::Anonymous => {
                    return Err(OciError::Auth(format!(
                        "{operation}: registry requires Basic credentials"
                    )));
                }
            },
            Challenge::Bearer {
                realm,
                service,
                scope: challenge_scope,
            } => {
                let realm = Url::parse(&realm).map_err(|_| OciError::InvalidUrl {
                    url: realm.clone(),
                    reason: "unparseable token realm",
                })?;
                if !url_allowed(&realm) {
                    return Err(OciError::InvalidUrl {
                        url: realm.to_string(),
                        reason: "token realm over plain http off loopback",
                    });
                }
                let realm_host = realm.host_str().unwrap_or_default().to_ascii_lowercase();
                if !self.token_realm_hosts.contains(&realm_host) {
                    return Err(OciError::InvalidUrl {
                        url: realm.to_string(),
                        reason: "token realm not on the registry's host or a configured one",
                    });
                }
                // Ask for what the registry said it needs; our own scope when it did not say.
                let wanted = challenge_scope.unwrap_or_else(|| scope.clone());
                auth::fetch_token(
                    &self.http,
                    realm,
                    service.as_deref(),
                    &wanted,
                    &self.credentials,
                )
                .await?
            }
        };
        let resp = auth.apply(build()).send().await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(OciError::Auth(format!(
                "{operation}: registry refused our credentials"
            )));
        }
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.insert(scope, auth);
        }
        Ok(resp)
    }

    fn cached(&self, scope: &str) -> Option<Authorization> {
        let tokens = self.tokens.lock().ok()?;
        tokens.get(scope).filter(|a| a.is_fresh()).cloned()
    }
}

/// Reads a body of at most `limit` bytes, checking Content-Length first and the bytes as
/// they arrive (a registry may lie about, or omit, the length).
pub(crate) async fn read_bounded(
    mut resp: Response,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>> {
    if resp.content_length().is_some_and(|len| len > limit) {
        return Err(OciError::TooLarge { what, limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(OciError::TooLarge { what, limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error for a status the spec does not allow, with a bounded excerpt of the body.
pub(crate) async fn unexpected(
    operation: &'static str,
    status: StatusCode,
    resp: Response,
) -> OciError {
    let body = read_bounded(resp, MAX_ERROR_BODY, "error body")
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    OciError::UnexpectedStatus {
        operation,
        status: status.as_u16(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback() {
        assert!(
            RegistryClient::builder("127.0.0.1:5000")
                .plain_http(true)
                .build()
                .is_ok()
        );
        assert!(
            RegistryClient::builder("[::1]:5000")
                .plain_http(true)
                .build()
                .is_ok()
        );
        assert!(
            RegistryClient::builder("localhost:5000")
                .plain_http(true)
                .build()
                .is_ok()
        );
        assert!(matches!(
            RegistryClient::builder("registry.example:5000")
                .plain_http(true)
                .build(),
            Err(OciError::PlainHttpNotLoopback(_))
        ));
        assert!(RegistryClient::builder("registry.example").build().is_ok());
        assert!(RegistryClient::builder("bad host").build().is_err());
    }
}
