//! Presentation over OpenID4VP 1.0 (SYSTEM.md s2, presentation steps 1-3): resolve and verify
//! the verifier's request, apply the privacy policy, hold it for the holder's consent, then
//! answer with SD-JWT presentations in an encrypted response, or answer nothing.
//!
//! Steps are plain methods of [`Presenter`], testable without HTTP: [`Presenter::resolve`]
//! makes a [`PendingRequest`], [`Presenter::approve`] or [`Presenter::deny`] ends it.
//!
//! Decisions (where OpenID4VP 1.0 and HAIP leave the wallet a choice):
//! - Verifier identity: the `x509_hash` and `openid_federation` Client Identifiers (OpenID4VP
//!   1.0 s5.9.3). Trust does not come from a CA but from the Key Registry, the wallet's one
//!   trust anchor (SYSTEM.md s1). For `x509_hash` the wallet's [`VerifierDirectory`] maps the
//!   Client Identifier to the verifier's registry entity (the hash names one certificate, so an
//!   operator enrolling a verifier records both). For `openid_federation` the identifier names
//!   the entity itself: the registry's signed entity statement stands in for the Trust Chain
//!   (the registry is the Trust Anchor and the only superior), and the request object must be
//!   signed by the registered key its `kid` names; an unknown, non-verifier or suspended entity
//!   is `invalid_client`, an unlisted `kid` `invalid_request_object`. Either way the request is
//!   accepted only when the entity is an active verifier and the signing key is one of its
//!   registered signing keys valid now. The response encryption key still comes from the
//!   request's `client_metadata`: it is fresh per request (HAIP s5), so no registry statement
//!   can carry it. The entity's display name and the purposes of its claim allowances are what
//!   the holder is shown; nothing the request object says about the verifier is.
//! - Privacy: a request for any claim beyond the entity's allowances is refused whole; claims
//!   that identify the holder across verifiers are flagged and warned about.
//! - Status: every candidate credential's status is checked before it is offered; only VALID
//!   credentials are offered (fail closed: a status list that cannot be had offers nothing).
//! - Deny sends nothing. OpenID4VP 1.0 s8.5 defines `access_denied`, but does not oblige the
//!   wallet to answer; an answer would tell the verifier that this holder was reached and
//!   declined, so the request is dropped and the verifier's session runs out.
//! - Responses: `direct_post.jwt` only, so a presentation never travels in clear (HAIP s5).
mod error;
mod matching;
mod policy;
mod request;
mod response;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use immerse_jose::PublicJwkSet;
use immerse_registry::RegistryError;
use immerse_registry::model::Role;
use immerse_status_list::Status;
use serde::Serialize;
use serde_json::{Map, Value};

pub use error::{FederationClientRefusal, PresentationError};
pub use matching::{CredentialMatch, RequestedClaim};

use request::{ClientIdPrefix, RequestSource, VerifiedRequest};
use response::ResponseTarget;

use crate::{StoredCredential, Wallet};

/// The most requests held for consent at once; older ones make room.
const MAX_PENDING: usize = 32;

/// Which registry entity stands behind each verifier Client Identifier.
#[derive(Debug, Clone, Default)]
pub struct VerifierDirectory {
    entities: HashMap<String, String>,
}

impl VerifierDirectory {
    /// Records that the verifier with Client Identifier `client_id` (`x509_hash:...`) is the
    /// registry entity `entity_id`. `openid_federation:` identifiers need no entry: they name
    /// their entity.
    pub fn with(mut self, client_id: impl Into<String>, entity_id: impl Into<String>) -> Self {
        self.entities.insert(client_id.into(), entity_id.into());
        self
    }

    fn entity(&self, client_id: &str) -> Option<&str> {
        self.entities.get(client_id).map(String::as_str)
    }
}

/// A verified request waiting for the holder's consent: what the consent page shows.
#[derive(Debug, Clone, Serialize)]
pub struct PendingRequest {
    /// Local identifier of this pending request (random), used to approve or deny it.
    pub id: String,
    /// The full Client Identifier (`x509_hash:...` or `openid_federation:...`).
    pub client_id: String,
    /// The verifier's registry entity.
    pub verifier_id: String,
    /// The verifier's registered display name.
    pub verifier_name: String,
    /// The purposes the verifier registered for the claims it asks, in order, once each.
    pub purposes: Vec<String>,
    /// One held credential per answered credential query, with its requested claims.
    pub credentials: Vec<CredentialMatch>,
    /// Warnings for the holder (correlating identifiers).
    pub warnings: Vec<String>,
    /// The request object's `exp`: after it the request cannot be answered.
    pub expires_at: i64,
}

/// What approving did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PresentationOutcome {
    /// Where the verifier asks the holder's browser to go next (same-device flows, s8.2).
    pub redirect_uri: Option<String>,
}

struct Pending {
    view: PendingRequest,
    request: VerifiedRequest,
}

/// The presentation side of a [`Wallet`]: its directory of verifiers and the requests that
/// wait for the holder.
pub struct Presenter {
    wallet: Wallet,
    verifiers: VerifierDirectory,
    pending: Mutex<Vec<Pending>>,
}

impl Presenter {
    pub fn new(wallet: Wallet, verifiers: VerifierDirectory) -> Self {
        Self {
            wallet,
            verifiers,
            pending: Mutex::new(Vec::new()),
        }
    }

    pub fn wallet(&self) -> &Wallet {
        &self.wallet
    }

    /// Resolves the authorization request at `uri`, verifies it and the verifier, applies the
    /// privacy policy and matches it against the credentials held; the result waits for the
    /// holder's [`Presenter::approve`] or [`Presenter::deny`].
    pub async fn resolve(&self, uri: &str) -> Result<PendingRequest, PresentationError> {
        let authorization = request::parse_uri(uri)?;
        let (token, wallet_nonce) = match &authorization.source {
            RequestSource::Reference { uri, post } => {
                request::fetch_request_object(&self.wallet, uri, *post).await?
            }
            RequestSource::Value(token) => (token.clone(), None),
        };
        let now = self.wallet.now();
        let federation_keys = match ClientIdPrefix::parse(&authorization.client_id)? {
            ClientIdPrefix::OpenIdFederation(entity_id) => {
                Some(self.federation_keys(entity_id, now).await?)
            }
            ClientIdPrefix::X509Hash(_) => None,
        };
        let verified = request::verify_request_object(
            &token,
            &authorization.client_id,
            federation_keys.as_ref(),
            wallet_nonce.as_deref(),
            now,
            self.wallet.config().skew_seconds,
        )?;
        let view = self.consent_view(&verified, now).await?;
        tracing::debug!(verifier = %view.verifier_id, id = %view.id, "presentation request pending");
        let mut pending = self.lock_pending();
        pending.retain(|entry| entry.view.expires_at > now);
        if pending.len() >= MAX_PENDING {
            pending.remove(0);
        }
        pending.push(Pending {
            view: view.clone(),
            request: verified,
        });
        Ok(view)
    }

    /// OpenID4VP 1.0 s5.9.3 `openid_federation`: the entity's statement, verified against the
    /// registry's root key by [`RegistryClient::entity`](immerse_registry::client::RegistryClient::entity),
    /// must show an active verifier; its signing keys valid now are the ones a request object
    /// may be signed with. Registry outages stay `registry_unavailable`, never a refusal of the
    /// verifier.
    async fn federation_keys(
        &self,
        entity_id: &str,
        now: i64,
    ) -> Result<PublicJwkSet, PresentationError> {
        let refused = |reason| PresentationError::FederationClient {
            entity: entity_id.to_owned(),
            reason,
        };
        let entity = match self
            .wallet
            .registry()
            .entity(entity_id, Role::Verifier)
            .await
        {
            Ok(entity) => entity,
            Err(RegistryError::NotFound(_)) => {
                return Err(refused(FederationClientRefusal::UnknownEntity));
            }
            Err(RegistryError::WrongRole { .. }) => {
                return Err(refused(FederationClientRefusal::NotAVerifier));
            }
            Err(RegistryError::EntitySuspended(_)) => {
                return Err(refused(FederationClientRefusal::Suspended));
            }
            Err(error) => return Err(error.into()),
        };
        Ok(entity.verification_keys(now, self.wallet.registry().options().retention))
    }

    /// The registry's word on the verifier, the privacy policy, and the matching credentials.
    async fn consent_view(
        &self,
        request: &VerifiedRequest,
        now: i64,
    ) -> Result<PendingRequest, PresentationError> {
        let entity_id = match &request.entity_id {
            Some(entity_id) => entity_id.as_str(),
            None => self
                .verifiers
                .entity(&request.client_id)
                .ok_or_else(|| PresentationError::UnknownVerifier(request.client_id.clone()))?,
        };
        let not_registered = |reason: &str| PresentationError::VerifierNotRegistered {
            entity: entity_id.to_owned(),
            reason: reason.to_owned(),
        };
        let entity = match self
            .wallet
            .registry()
            .entity(entity_id, Role::Verifier)
            .await
        {
            Ok(entity) => entity,
            Err(RegistryError::WrongRole { .. }) => {
                return Err(not_registered("the entity is not a verifier"));
            }
            Err(RegistryError::EntitySuspended(_)) => {
                return Err(not_registered("the entity is suspended"));
            }
            Err(error) => return Err(error.into()),
        };
        let retention = self.wallet.registry().options().retention;
        let thumbprint = request.signing_key.thumbprint_b64();
        if entity
            .verification_keys(now, retention)
            .find(&thumbprint)
            .is_none()
        {
            return Err(not_registered(
                "the request's signing key is not a registered signing key",
            ));
        }
        let allowances = entity.allowances();
        policy::check_allowed(entity_id, allowances, &request.dcql_query)?;

        let held = self.wallet.credentials().valid_at(now);
        let mut candidates: HashMap<&str, &StoredCredential> = HashMap::new();
        let mut refused = Vec::new();
        for query in &request.dcql_query.credentials {
            for credential in held.iter().filter(|held| matching::answers(query, held)) {
                // Token Status List draft s8.3, through the wallet's one status check: only
                // VALID is offered, and no answer offers nothing (fail closed).
                match self.wallet.check_status(credential).await {
                    Ok(Status::Valid) => {
                        candidates.insert(query.id.as_str(), credential);
                        break;
                    }
                    Ok(other) => refused.push(format!("{}: status is {other:?}", credential.id)),
                    Err(error) => refused.push(format!("{}: {error}", credential.id)),
                }
            }
        }
        let answerable: HashSet<&str> = candidates.keys().copied().collect();
        let answered = matching::queries_to_answer(&request.dcql_query, &answerable).map_err(
            |error| match (error, refused.is_empty()) {
                (PresentationError::NoMatchingCredential(reason), false) => {
                    PresentationError::NoMatchingCredential(format!(
                        "{reason} (not offered: {})",
                        refused.join("; ")
                    ))
                }
                (error, _) => error,
            },
        )?;
        let credentials: Vec<CredentialMatch> = answered
            .iter()
            .filter_map(|id| {
                let query = request.dcql_query.credential(id)?;
                let credential = candidates.get(id.as_str())?;
                Some(matching::credential_match(query, credential, allowances))
            })
            .collect::<Result<_, _>>()?;
        let mut purposes: Vec<String> = Vec::new();
        let mut warnings = Vec::new();
        for claim in credentials.iter().flat_map(|matched| &matched.claims) {
            if !claim.purpose.is_empty() && !purposes.contains(&claim.purpose) {
                purposes.push(claim.purpose.clone());
            }
            if claim.correlating {
                warnings.push(format!(
                    "{} is a unique identifier: verifiers that receive it can link your \
                     presentations together",
                    claim.path
                ));
            }
        }
        Ok(PendingRequest {
            id: immerse_jose::base64url::random(16)?,
            client_id: request.client_id.clone(),
            verifier_id: entity_id.to_owned(),
            verifier_name: entity.display_name().unwrap_or(entity_id).to_owned(),
            purposes,
            credentials,
            warnings,
            expires_at: request.expires_at,
        })
    }

    /// The requests waiting for the holder, oldest first.
    pub fn pending(&self) -> Vec<PendingRequest> {
        let now = self.wallet.now();
        let mut pending = self.lock_pending();
        pending.retain(|entry| entry.view.expires_at > now);
        pending.iter().map(|entry| entry.view.clone()).collect()
    }

    /// The holder consents: discloses every required claim and the optional ones named in
    /// `chosen` (by [`RequestedClaim::key`]), posts the encrypted response and ends the request.
    /// A choice that names an unknown claim or satisfies no claim set leaves it pending.
    pub async fn approve(
        &self,
        id: &str,
        chosen: &[String],
    ) -> Result<PresentationOutcome, PresentationError> {
        let now = self.wallet.now();
        let (view, request) = {
            let mut pending = self.lock_pending();
            let index = pending
                .iter()
                .position(|entry| entry.view.id == id)
                .ok_or_else(|| PresentationError::UnknownPendingRequest(id.to_owned()))?;
            let entry = &pending[index];
            let optional: HashSet<&str> = entry
                .view
                .credentials
                .iter()
                .flat_map(|matched| &matched.claims)
                .filter(|claim| !claim.required)
                .map(|claim| claim.key.as_str())
                .collect();
            if let Some(unknown) = chosen.iter().find(|key| !optional.contains(key.as_str())) {
                return Err(PresentationError::UnknownClaim(unknown.clone()));
            }
            let chosen: HashSet<&str> = chosen.iter().map(String::as_str).collect();
            for matched in &entry.view.credentials {
                matched.selection(&chosen)?;
            }
            let entry = pending.remove(index);
            (entry.view, entry.request)
        };
        if view.expires_at <= now {
            return Err(PresentationError::RequestExpired);
        }
        let chosen: HashSet<&str> = chosen.iter().map(String::as_str).collect();
        let mut vp_token = Map::new();
        for matched in &view.credentials {
            // Expired or removed since the request came: never presented.
            let credential = self
                .wallet
                .credentials()
                .get(&matched.credential_id)
                .filter(|credential| credential.expires_at.is_none_or(|exp| exp > now))
                .ok_or_else(|| {
                    PresentationError::CredentialNoLongerValid(matched.credential_id.clone())
                })?;
            let selection: Vec<_> = matched
                .selection(&chosen)?
                .iter()
                .map(|claim| response::claim_path(&claim.segments))
                .collect();
            let presentation = response::presentation(
                &credential,
                &selection,
                &request.client_id,
                &request.nonce,
                now,
            )
            .await?;
            // OpenID4VP 1.0 s8.1: keyed by credential query id, an array of presentations.
            vp_token.insert(
                matched.query_id.clone(),
                Value::Array(vec![Value::String(presentation)]),
            );
        }
        let target = ResponseTarget {
            response_uri: &request.response_uri,
            state: request.state.as_deref(),
            recipient: &request.recipient,
            enc: request.enc,
        };
        let redirect_uri = response::post_response(&self.wallet, &target, vp_token).await?;
        tracing::info!(verifier = %view.verifier_id, "presentation sent");
        Ok(PresentationOutcome { redirect_uri })
    }

    /// The holder declines: the request is dropped and nothing is sent (see the module
    /// documentation for why not `access_denied`).
    pub fn deny(&self, id: &str) -> Result<(), PresentationError> {
        let mut pending = self.lock_pending();
        let index = pending
            .iter()
            .position(|entry| entry.view.id == id)
            .ok_or_else(|| PresentationError::UnknownPendingRequest(id.to_owned()))?;
        pending.remove(index);
        Ok(())
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        // A panic while holding the lock leaves a list that is still consistent.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
