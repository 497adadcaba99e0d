//! Token Status List for presented credentials: the issuer's status list token is fetched over
//! HTTP, verified with the issuer's keys from the registry, cached until its `ttl` (or `exp`),
//! and the verifier fails closed when no verified list can be had (Token Status List draft
//! s8.3, s13.7; OpenID4VP 1.0 s8.6).
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use immerse_jose::PublicJwkSet;
use immerse_net::{Origins, OutboundPolicy};
use immerse_status_list::{MEDIA_TYPE, Status, StatusReference, VerifiedStatusList, Verifier};

use crate::PresentationError;

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CACHED: usize = 1024;

/// Verified status lists by issuer entity and URI, with the time each must be refreshed: a list
/// verified with one issuer's keys answers for that issuer's credentials only.
pub(crate) struct StatusCache {
    http: reqwest::Client,
    origins: Origins,
    outbound: OutboundPolicy,
    lists: Mutex<HashMap<(String, String), (VerifiedStatusList, i64)>>,
    max_bytes: usize,
    default_ttl: u64,
}

impl StatusCache {
    pub fn new(
        max_bytes: usize,
        default_ttl: u64,
        origins: Origins,
        outbound: OutboundPolicy,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: outbound.client_builder().timeout(FETCH_TIMEOUT).build()?,
            origins,
            outbound,
            lists: Mutex::default(),
            max_bytes,
            default_ttl,
        })
    }

    /// The status at `reference` of a credential of `issuer`, whose keys are `issuer_keys`,
    /// refusing anything but VALID.
    pub async fn check(
        &self,
        reference: &StatusReference,
        issuer: &str,
        issuer_keys: &PublicJwkSet,
        now: i64,
    ) -> Result<(), PresentationError> {
        let key = (issuer.to_owned(), reference.uri.clone());
        let cached = self
            .lists
            .lock()
            .ok()
            .and_then(|lists| lists.get(&key).cloned())
            .filter(|(_, refresh_at)| now < *refresh_at);
        let list = match cached {
            Some((list, _)) => list,
            None => self.fetch(key, reference, issuer_keys, now).await?,
        };
        // Token Status List draft s8.3 step 6: an index out of range rejects the credential.
        let status = list
            .status(reference.idx)
            .map_err(|err| PresentationError::StatusUnavailable(err.to_string()))?;
        // Draft s7.1: only VALID is acceptable here; INVALID, SUSPENDED and application
        // specific values refuse the credential.
        match status {
            Status::Valid => Ok(()),
            Status::Invalid => Err(PresentationError::Status("invalid")),
            Status::Suspended => Err(PresentationError::Status("suspended")),
            _ => Err(PresentationError::Status("not_valid")),
        }
    }

    async fn fetch(
        &self,
        key: (String, String),
        reference: &StatusReference,
        issuer_keys: &PublicJwkSet,
        now: i64,
    ) -> Result<VerifiedStatusList, PresentationError> {
        let unavailable = |reason: String| PresentationError::StatusUnavailable(reason);
        // The reason stays in the operator's log: the wallet is told only that the status
        // could not be learnt, so the verifier is no port scanner for whoever writes the URI.
        let url = self
            .outbound
            .check(&self.origins.locate(&reference.uri))
            .map_err(|refusal| unavailable(format!("uri: {refusal}")))?;
        // Draft s8.1: ask for the JWT form.
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, MEDIA_TYPE)
            .send()
            .await
            .map_err(|err| unavailable(format!("fetch: {err}")))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("HTTP {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| unavailable(format!("read: {err}")))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(unavailable("status list token too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let token = String::from_utf8(body).map_err(|_| unavailable("not UTF-8".into()))?;
        // Draft s8.3 steps 3-5: signature by the issuer's registry key, typ, sub = uri, ttl.
        let list = Verifier::new(self.max_bytes)
            .at(now)
            .verify(token.trim(), &reference.uri, issuer_keys)
            .map_err(|err| unavailable(format!("verify: {err}")))?;
        let default_refresh =
            now.saturating_add(i64::try_from(self.default_ttl).unwrap_or(i64::MAX));
        let refresh_at = list.refresh_at(now).unwrap_or(default_refresh);
        if let Ok(mut lists) = self.lists.lock() {
            if lists.len() >= MAX_CACHED {
                lists.retain(|_, (_, refresh)| *refresh > now);
            }
            if lists.len() < MAX_CACHED {
                lists.insert(key, (list.clone(), refresh_at));
            }
        }
        Ok(list)
    }
}
