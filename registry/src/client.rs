//! The registry client: how issuer, verifier, wallet and attestation learn which keys to trust.
//!
//! Everything rests on the registry's public key. [`TrustAnchor`] verifies, offline and without
//! I/O, an entity statement (signature, claims, and for every listed key the inclusion proof of
//! the log entry that added it), a historical key set, and the consistency of two checkpoints.
//! [`RegistryClient`] fetches those documents over HTTP, keeps the newest checkpoint it has seen
//! and demands that every later one extends it (RFC 9162 s2.1.4), and caches verified documents
//! with bounded staleness.
//!
//! Architecture Invariant: nothing reaches the cache or a caller unless it verified against the
//! pinned registry key; a document that fails verification is an error, never a reason to fall
//! back to the cache; no answer is older than `max_stale` (a cached document serves only while
//! the registry is unreachable, and a fetched one must be that recent, so that a replayed
//! document cannot outlast the bound either), and none is served past its own `exp`.
use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use immerse_jose::{Error as JoseError, PublicJwk, PublicJwkSet, jwt};
use serde::Deserialize;

use crate::log::Checkpoint;
use crate::model::{KeyInvalid, Retention, Role};
use crate::{Clock, RegistryError};

mod verify;

pub use verify::{HistoricalKeys, TrustAnchor, VerifiedEntity};
use verify::{check_extends, integrity};

/// Largest response body the client reads; a statement with hundreds of keys is far smaller.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long verified documents are reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// The oldest a document may be, by its `iat`, and still answer: a cached one while the
    /// registry is unreachable, or a freshly fetched one (default 1 h).
    pub max_stale: Duration,
    /// Age after which a cached document is fetched again (default 60 s).
    pub refresh_after: Duration,
    /// How long retired keys stay valid; must equal the registry's `retention`, which the
    /// registry does not publish (default 48 h, as the registry's default).
    pub retention: Retention,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            max_stale: Duration::from_secs(3600),
            refresh_after: Duration::from_secs(60),
            retention: Retention::default(),
        }
    }
}

/// The registry's base URL: http(s), no query or fragment, without a trailing slash.
fn checked_base_url(base_url: &str) -> Result<String, RegistryError> {
    let parsed = reqwest::Url::parse(base_url)
        .map_err(|err| RegistryError::InvalidRequest(format!("registry URL: {err}")))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(RegistryError::InvalidRequest(
            "registry URL must be http(s) without query or fragment".into(),
        ));
    }
    Ok(base_url.trim_end_matches('/').to_owned())
}

/// The registry's HTTP client settings: bounded connect and request time, no redirects.
fn http_client() -> Result<reqwest::Client, RegistryError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| RegistryError::Unavailable(format!("HTTP client: {err}")))
}

/// The registry's self-service writes, authorised by the entity's own signed proofs (no admin
/// token): registering a key countersigned by a current one, and retiring one of its keys.
#[derive(Debug, Clone)]
pub struct SelfService {
    base_url: String,
    http: reqwest::Client,
}

impl SelfService {
    pub fn new(base_url: &str) -> Result<Self, RegistryError> {
        Ok(Self {
            base_url: checked_base_url(base_url)?,
            http: http_client()?,
        })
    }

    /// `POST /v1/entities/{id}/keys`: a `key-registration+jwt` and its
    /// `key-countersignature+jwt`.
    pub async fn submit_key(
        &self,
        entity_id: &str,
        proof: &str,
        countersignature: &str,
    ) -> Result<(), RegistryError> {
        let path = format!("/v1/entities/{}/keys", path_segment(entity_id));
        self.post(
            &path,
            &serde_json::json!({"proof": proof, "countersignature": countersignature}),
        )
        .await
    }

    /// `POST /v1/entities/{id}/keys/{kid}/retire` with a `key-retirement+jwt`. A key that is
    /// already retired or revoked answers `InvalidTransition`.
    pub async fn retire_own_key(
        &self,
        entity_id: &str,
        kid: &str,
        proof: &str,
    ) -> Result<(), RegistryError> {
        let path = format!(
            "/v1/entities/{}/keys/{}/retire",
            path_segment(entity_id),
            path_segment(kid)
        );
        match self
            .post(&path, &serde_json::json!({ "proof": proof }))
            .await
        {
            Err(RegistryError::AlreadyExists(_)) => Err(RegistryError::InvalidTransition {
                kid: kid.to_owned(),
                status: "retired or revoked",
                action: "retired",
            }),
            other => other,
        }
    }

    /// Transport failures and 5xx are `Unavailable`; 409 is `AlreadyExists`; any other refusal
    /// is `InvalidRequest` carrying the registry's answer.
    async fn post(&self, path: &str, body: &serde_json::Value) -> Result<(), RegistryError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(body)
            .send()
            .await
            .map_err(|err| RegistryError::Unavailable(format!("POST {path}: {err}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let answer = response.text().await.unwrap_or_default();
        let detail = format!("POST {path}: HTTP {status}: {answer}");
        Err(if status.is_server_error() {
            RegistryError::Unavailable(detail)
        } else if status == reqwest::StatusCode::CONFLICT {
            RegistryError::AlreadyExists(detail)
        } else {
            RegistryError::InvalidRequest(detail)
        })
    }
}

/// Percent-encodes every byte but the unreserved ones (RFC 3986 s2.3), so that an entity id (an
/// https URL) travels as one path segment.
fn path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// Why a fetch produced no verified document.
enum FetchError {
    /// The registry could not be reached or answered 5xx, 408 or 429: the cache may answer.
    Unreachable(String),
    /// The registry answered, and the answer is refused: an error, never a fallback.
    Refused(RegistryError),
}

impl From<RegistryError> for FetchError {
    fn from(err: RegistryError) -> Self {
        Self::Refused(err)
    }
}

impl FetchError {
    fn into_error(self) -> RegistryError {
        match self {
            Self::Unreachable(reason) => RegistryError::Unavailable(reason),
            Self::Refused(err) => err,
        }
    }
}

/// How a verified checkpoint relates to the newest one seen.
enum Seen {
    /// It is the newest, or extends it.
    Current,
    /// Its tree is smaller than the newest seen.
    Older { newest: u64 },
}

/// What the cache needs of a verified document.
trait Document: Clone {
    fn issued_at(&self) -> i64;
    fn expires_at(&self) -> i64;
}

impl Document for VerifiedEntity {
    fn issued_at(&self) -> i64 {
        VerifiedEntity::issued_at(self)
    }
    fn expires_at(&self) -> i64 {
        VerifiedEntity::expires_at(self)
    }
}

impl Document for HistoricalKeys {
    fn issued_at(&self) -> i64 {
        HistoricalKeys::issued_at(self)
    }
    fn expires_at(&self) -> i64 {
        HistoricalKeys::expires_at(self)
    }
}

#[derive(Clone)]
struct Cached<T> {
    value: T,
    fetched_at: i64,
}

type Cache<T> = Mutex<HashMap<String, Cached<T>>>;

#[derive(Deserialize)]
struct ConsistencyBody {
    from: u64,
    to: u64,
    proof: Vec<String>,
}

/// Fetches, verifies and caches what the registry publishes. Cloning is cheap and shares the
/// cache and the newest checkpoint.
#[derive(Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    base_url: String,
    anchor: TrustAnchor,
    options: ClientOptions,
    clock: Clock,
    http: reqwest::Client,
    statements: Cache<VerifiedEntity>,
    historical: Cache<HistoricalKeys>,
    /// The newest verified checkpoint; every later one must extend it.
    newest: tokio::sync::Mutex<Option<Checkpoint>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("base_url", &self.inner.base_url)
            .field("registry_id", &self.inner.anchor.registry_id())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client of the registry at `base_url` (http or https, no query), trusting only
    /// `registry_key` for documents issued by `registry_id`.
    pub fn new(
        base_url: impl Into<String>,
        registry_id: impl Into<String>,
        registry_key: PublicJwk,
        options: ClientOptions,
    ) -> Result<Self, RegistryError> {
        Self::with_clock(
            base_url,
            registry_id,
            registry_key,
            options,
            Arc::new(jwt::now),
        )
    }

    /// As [`RegistryClient::new`], reading "now" from `clock`.
    pub fn with_clock(
        base_url: impl Into<String>,
        registry_id: impl Into<String>,
        registry_key: PublicJwk,
        options: ClientOptions,
        clock: Clock,
    ) -> Result<Self, RegistryError> {
        let base_url = checked_base_url(&base_url.into())?;
        let http = http_client()?;
        Ok(Self {
            inner: Arc::new(Inner {
                base_url,
                anchor: TrustAnchor::new(registry_id, registry_key),
                options,
                clock,
                http,
                statements: Mutex::default(),
                historical: Mutex::default(),
                newest: tokio::sync::Mutex::new(None),
            }),
        })
    }

    pub fn anchor(&self) -> &TrustAnchor {
        &self.inner.anchor
    }

    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// The entity's verified statement, provided the entity is active in `role`: from the cache
    /// while younger than `refresh_after`, else fetched and verified (with its checkpoint
    /// checked against the newest seen); while the registry is unreachable the cached one
    /// serves for up to `max_stale`. An entity of another role is `WrongRole`, a suspended one
    /// `EntitySuspended`: every use of a registry key names the role that use requires.
    pub async fn entity(
        &self,
        entity_id: &str,
        role: Role,
    ) -> Result<VerifiedEntity, RegistryError> {
        let entity = self.statement(entity_id).await?;
        entity.require_role(role)?;
        Ok(entity)
    }

    async fn statement(&self, entity_id: &str) -> Result<VerifiedEntity, RegistryError> {
        self.cached_or_fetch(
            &self.inner.statements,
            entity_id,
            self.fetch_statement(entity_id),
        )
        .await
    }

    /// The signing keys valid now of the active `role` entity `entity_id`, for JWS
    /// verification (a `PublicJwkSet` is a `KeySource`).
    pub async fn verification_keys(
        &self,
        entity_id: &str,
        role: Role,
    ) -> Result<PublicJwkSet, RegistryError> {
        let entity = self.entity(entity_id, role).await?;
        Ok(entity.verification_keys(self.now(), self.inner.options.retention))
    }

    /// The verified historical key set of `entity_id`, provided its statement names `role`
    /// (`WrongRole` otherwise); cached as [`RegistryClient::entity`] is. A suspended entity's
    /// set answers, and its keys are invalid by the validity rule.
    pub async fn historical_keys(
        &self,
        entity_id: &str,
        role: Role,
    ) -> Result<HistoricalKeys, RegistryError> {
        self.statement(entity_id).await?.require_role_only(role)?;
        self.cached_or_fetch(
            &self.inner.historical,
            entity_id,
            self.fetch_historical(entity_id),
        )
        .await
    }

    /// Was key `kid` of the `role` entity `entity_id` valid at `at`? `Ok(Ok(jwk))` gives the
    /// published key; `Ok(Err(reason))` the precise reason it was not valid; `Err` that no
    /// trustworthy answer could be had, that the entity has another role (`WrongRole`), or,
    /// `NotFound`, that the entity never had the key.
    pub async fn key_valid_at(
        &self,
        entity_id: &str,
        role: Role,
        kid: &str,
        at: i64,
    ) -> Result<Result<PublicJwk, KeyInvalid>, RegistryError> {
        self.historical_keys(entity_id, role).await?.key_valid_at(
            kid,
            at,
            self.inner.options.retention,
        )
    }

    /// Fetches the newest checkpoint and checks that it extends the newest one seen.
    pub async fn checkpoint(&self) -> Result<Checkpoint, RegistryError> {
        let signed = self
            .get_text("/v1/log/checkpoint")
            .await
            .map_err(FetchError::into_error)?;
        self.observe_checkpoint(&signed).await
    }

    /// Verifies a signed checkpoint learnt elsewhere (from a peer, in a receipt) and checks it
    /// against the newest one seen: a smaller tree, or one that is not consistent, is refused
    /// with `Integrity`; a larger consistent one becomes the newest.
    pub async fn observe_checkpoint(&self, signed: &str) -> Result<Checkpoint, RegistryError> {
        let checkpoint = self.inner.anchor.verify_checkpoint(signed, self.now())?;
        match self
            .observe(&checkpoint)
            .await
            .map_err(FetchError::into_error)?
        {
            Seen::Current => Ok(checkpoint),
            Seen::Older { newest } => Err(older(&checkpoint, newest)),
        }
    }

    /// The newest verified checkpoint this client has seen.
    pub async fn newest_checkpoint(&self) -> Option<Checkpoint> {
        self.inner.newest.lock().await.clone()
    }

    /// The cache policy: fetch again `refresh_after` after the last fetch; answer from the
    /// cache only while the registry is unreachable and the document is at most `max_stale` old
    /// by its `iat`. A fetched document older than that counts as no answer, so that a replayed
    /// one cannot outlast the bound either; one older than the cached one is a rollback.
    async fn cached_or_fetch<T: Document>(
        &self,
        cache: &Cache<T>,
        entity_id: &str,
        fetch: impl Future<Output = Result<T, FetchError>>,
    ) -> Result<T, RegistryError> {
        let max_stale = seconds(self.inner.options.max_stale);
        let now = self.now();
        let cached = lock(cache).get(entity_id).cloned();
        if let Some(entry) = &cached
            && age(entry, now) < seconds(self.inner.options.refresh_after)
            && staleness(&entry.value, now) <= max_stale
            && now < entry.value.expires_at()
        {
            return Ok(entry.value.clone());
        }
        let fetched = match fetch.await {
            Ok(value) if staleness(&value, now) > max_stale => {
                Err(FetchError::Unreachable(format!(
                    "the registry answered with a document issued at {}, older than max_stale",
                    value.issued_at()
                )))
            }
            other => other,
        };
        match fetched {
            Ok(value) => {
                if let Some(entry) = &cached
                    && value.issued_at() < entry.value.issued_at()
                {
                    return Err(integrity(format!(
                        "rollback: a document issued at {} is older than the cached one of {}",
                        value.issued_at(),
                        entry.value.issued_at()
                    )));
                }
                let mut cache = lock(cache);
                // A concurrent fetch may have stored a newer one meanwhile; keep the newest.
                let newer_cached = cache
                    .get(entity_id)
                    .is_some_and(|entry| entry.value.issued_at() > value.issued_at());
                if !newer_cached {
                    let entry = Cached {
                        value: value.clone(),
                        fetched_at: now,
                    };
                    cache.insert(entity_id.to_owned(), entry);
                }
                Ok(value)
            }
            Err(FetchError::Unreachable(reason)) => {
                let now = self.now();
                let usable = |entry: &Cached<T>| {
                    staleness(&entry.value, now) <= max_stale && now < entry.value.expires_at()
                };
                match cached.filter(usable) {
                    Some(entry) => {
                        let staleness = staleness(&entry.value, now);
                        tracing::warn!(entity_id, %reason, staleness,
                            "registry unreachable; serving a cached document");
                        Ok(entry.value)
                    }
                    None => Err(RegistryError::Unavailable(reason)),
                }
            }
            Err(FetchError::Refused(err)) => Err(err),
        }
    }

    async fn fetch_statement(&self, entity_id: &str) -> Result<VerifiedEntity, FetchError> {
        let path = format!("/v1/entities/{}/statement", path_segment(entity_id));
        let mut retried = false;
        loop {
            let token = self.get_text(&path).await?;
            let entity = self
                .inner
                .anchor
                .verify_statement(&token, entity_id, self.now())?;
            let Some(checkpoint) = entity.checkpoint() else {
                return Ok(entity);
            };
            match self.observe(checkpoint).await? {
                Seen::Current => return Ok(entity),
                // A response signed just before a concurrent one that we saw first; asking
                // again settles it. A registry that keeps answering with an old tree is
                // rolling back.
                Seen::Older { .. } if !retried => retried = true,
                Seen::Older { newest } => return Err(older(checkpoint, newest).into()),
            }
        }
    }

    async fn fetch_historical(&self, entity_id: &str) -> Result<HistoricalKeys, FetchError> {
        let path = format!("/v1/entities/{}/historical-keys", path_segment(entity_id));
        let token = self.get_text(&path).await?;
        Ok(self
            .inner
            .anchor
            .verify_historical_keys(&token, entity_id, self.now())?)
    }

    /// Compares a verified checkpoint with the newest seen and, when it extends it, records it.
    /// The lock is held across the consistency fetch so that two growths are checked in order.
    async fn observe(&self, checkpoint: &Checkpoint) -> Result<Seen, FetchError> {
        let mut newest = self.inner.newest.lock().await;
        let Some(seen) = newest.as_ref() else {
            *newest = Some(checkpoint.clone());
            return Ok(Seen::Current);
        };
        if checkpoint.tree_size < seen.tree_size {
            return Ok(Seen::Older {
                newest: seen.tree_size,
            });
        }
        let proof = if checkpoint.tree_size == seen.tree_size {
            Vec::new()
        } else {
            self.fetch_consistency(seen.tree_size, checkpoint.tree_size)
                .await?
        };
        check_extends(seen, checkpoint, &proof)?;
        if checkpoint.tree_size > seen.tree_size {
            *newest = Some(checkpoint.clone());
        }
        Ok(Seen::Current)
    }

    async fn fetch_consistency(&self, from: u64, to: u64) -> Result<Vec<String>, FetchError> {
        let path = format!("/v1/log/consistency?from={from}&to={to}");
        let body = self.get(&path).await.map_err(|err| match err {
            // The registry signed a tree it cannot prove: evidence of a fork, not a hiccup.
            FetchError::Refused(err) => FetchError::Refused(integrity(format!(
                "no consistency proof from tree size {from} to {to}: {err}"
            ))),
            unreachable => unreachable,
        })?;
        let body: ConsistencyBody = serde_json::from_slice(&body).map_err(|err| {
            integrity(format!(
                "consistency proof {from} to {to} is malformed: {err}"
            ))
        })?;
        if (body.from, body.to) != (from, to) {
            return Err(integrity(format!(
                "asked for a consistency proof from {from} to {to}, got {} to {}",
                body.from, body.to
            ))
            .into());
        }
        Ok(body.proof)
    }

    async fn get_text(&self, path: &str) -> Result<String, FetchError> {
        let body = self.get(path).await?;
        let text = String::from_utf8(body).map_err(|_| {
            RegistryError::InvalidProof(JoseError::MalformedJws("the document is not UTF-8"))
        })?;
        Ok(text.trim().to_owned())
    }

    /// GETs `path` and reads at most [`MAX_DOCUMENT_BYTES`]. Transport failures, 5xx, 408 and
    /// 429 are `Unreachable`; 404 is `NotFound`; any other non-success status is refused.
    async fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        use reqwest::StatusCode;
        let url = format!("{}{path}", self.inner.base_url);
        let unreachable =
            |err: reqwest::Error| FetchError::Unreachable(format!("GET {path}: {err}"));
        let mut response = self
            .inner
            .http
            .get(&url)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if status.is_server_error()
            || status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
        {
            return Err(FetchError::Unreachable(format!(
                "GET {path}: HTTP {status}"
            )));
        }
        if status == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound(format!("GET {path}")).into());
        }
        if !status.is_success() {
            return Err(RegistryError::InvalidRequest(format!("GET {path}: HTTP {status}")).into());
        }
        let too_large = || {
            FetchError::Refused(RegistryError::InvalidRequest(format!(
                "GET {path}: the response exceeds {MAX_DOCUMENT_BYTES} bytes"
            )))
        };
        if response
            .content_length()
            .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn older(checkpoint: &Checkpoint, newest: u64) -> RegistryError {
    integrity(format!(
        "log rollback: a checkpoint of tree size {} is older than size {newest} already seen",
        checkpoint.tree_size
    ))
}

fn lock<T>(cache: &Cache<T>) -> std::sync::MutexGuard<'_, HashMap<String, Cached<T>>> {
    // A panic while holding the lock cannot leave a half-written entry (one insert), so a
    // poisoned cache is still sound.
    cache
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Time since the entry was fetched.
fn age<T>(entry: &Cached<T>, now: i64) -> i64 {
    now.saturating_sub(entry.fetched_at)
}

/// Time since the document was issued.
fn staleness(document: &impl Document, now: i64) -> i64 {
    now.saturating_sub(document.issued_at())
}

fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_ids_travel_as_one_path_segment() {
        let cases = [
            ("https://issuer.example", "https%3A%2F%2Fissuer.example"),
            (
                "https://x.example/a b/%7e?q#f",
                "https%3A%2F%2Fx.example%2Fa%20b%2F%257e%3Fq%23f",
            ),
            ("A-z0._~", "A-z0._~"),
            ("é", "%C3%A9"),
        ];
        for (id, expected) in cases {
            assert_eq!(path_segment(id), expected, "{id}");
        }
    }

    #[test]
    fn base_url_must_be_http_without_query() {
        let key = immerse_jose::SoftwareSigner::generate()
            .map(|signer| immerse_jose::Signer::public_jwk(&signer).clone())
            .expect("key");
        for url in [
            "ftp://registry.example",
            "https://r.example/?a=1",
            "not a url",
        ] {
            let refused =
                RegistryClient::new(url, "https://r", key.clone(), ClientOptions::default());
            assert!(
                matches!(refused, Err(RegistryError::InvalidRequest(_))),
                "{url}"
            );
        }
    }
}
