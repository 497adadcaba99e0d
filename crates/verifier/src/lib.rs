//! The IMMERSE Verifier: OpenID4VP 1.0 with DCQL queries, signed request objects (`x509_hash`
//! or `openid_federation` client identifier), encrypted `direct_post.jwt` responses (HAIP s5)
//! and full SD-JWT VC validation against the Key Registry and the issuer's Token Status List.
//!
//! Protocol steps are plain methods of [`Verifier`] over typed input, testable without HTTP:
//! [`Verifier::create_request`], [`Verifier::request_object`], [`Verifier::handle_response`],
//! [`Verifier::verify_presentation`], [`Verifier::result`]. [`http::router`] only adapts them.
//!
//! Decisions (OpenID4VP 1.0 and HAIP leave them to the verifier):
//! - Issuer keys: the key named by the issuer JWT's `kid` must be valid for its `iss` at the
//!   credential's `iat` *and* now, by the registry's one validity rule (`key_valid_at`): a key
//!   revoked for any reason, or retired longer than the retention, verifies nothing.
//! - Nonce and state are recorded in the store's replay cache when the request is made and
//!   spent with `take_once` when it is answered; completion is one conditional UPDATE. Both hold
//!   across restarts and replicas. The per-request decryption key lives in process memory only
//!   (SYSTEM.md s1): an encrypted response must reach the replica that created the request.
//! - Status is required by default and fails closed; only VALID passes.
//! - `openid_federation` (OpenID4VP 1.0 s5.9.3): the Key Registry is the Trust Anchor and its
//!   signed entity statement about the verifier is the whole Trust Chain; it carries the
//!   verifier's keys and the claims it may ask for. The request object still carries
//!   `client_metadata`, because the response encryption key is fresh per request (HAIP s5) and
//!   no statement could list it; the registry vouches for everything else.
//! - Every response, accepted or refused, ends its session: a refused presentation is not
//!   retried on the same nonce. Responses that fail before the state matches end nothing.
#![forbid(unsafe_code)]

mod config;
pub mod dcql;
mod error;
pub mod http;
mod page;
mod presentation;
mod request;
mod response;
mod status;
mod transaction_data;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use immerse_jose::jwe::DecryptionKey;
use immerse_registry::client::RegistryClient;
use immerse_store::Store;

pub use config::{
    ClientIdPrefix, ClientIdentity, Config, ConfigFile, OPENID_FEDERATION_PREFIX, ResponseMode,
    X509_HASH_PREFIX, token_hash,
};
pub use error::{PresentationError, VerifierError};
pub use page::{COOKIE as PAGE_COOKIE, PageLink};
pub use presentation::Binding;
pub use request::{
    CreatedRequest, NewRequest, REQUEST_OBJECT_TYP, RequestUriFetch, SELF_ISSUED_AUDIENCE,
};
pub use response::{RequestResult, ResponseAccepted, WalletResponse};
pub use transaction_data::{SHA_256, TransactionData, TransactionDataMismatch};

/// Reads "now" in unix seconds; injectable for tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The verifier service: configuration, identity, storage, the registry client, and the
/// per-request decryption keys, which live in memory only (SYSTEM.md s1).
pub struct Verifier {
    config: Config,
    identity: ClientIdentity,
    store: Store,
    registry: RegistryClient,
    keys: EphemeralKeys,
    pages: page::PageSessions,
    status: status::StatusCache,
    clock: Clock,
}

impl Verifier {
    pub fn new(
        config: Config,
        identity: ClientIdentity,
        store: Store,
        registry: RegistryClient,
    ) -> Result<Self, VerifierError> {
        Self::with_clock(
            config,
            identity,
            store,
            registry,
            Arc::new(presentation::system_now),
        )
    }

    pub fn with_clock(
        config: Config,
        identity: ClientIdentity,
        store: Store,
        registry: RegistryClient,
        clock: Clock,
    ) -> Result<Self, VerifierError> {
        let status = status::StatusCache::new(
            config.status_max_bytes,
            config.status_default_ttl,
            config.origins.clone(),
            config.outbound,
        )
        .map_err(|err| VerifierError::Config(format!("HTTP client: {err}")))?;
        Ok(Self {
            config,
            identity,
            store,
            registry,
            keys: EphemeralKeys::default(),
            pages: page::PageSessions::default(),
            status,
            clock,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The full Client Identifier (`x509_hash:...` or `openid_federation:...`).
    pub fn client_id(&self) -> &str {
        self.identity.client_id()
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// For an `openid_federation` identity: does the registry list the request-signing key for
    /// the verifier's entity, valid now, and is the entity an active verifier? A misconfigured
    /// verifier is then found at start rather than by every wallet refusing it. `Ok(Err(why))`
    /// is the registry's verified "no"; `Err` that no verified answer could be had. Always
    /// `Ok(Ok(()))` for `x509_hash`.
    pub async fn check_registration(
        &self,
    ) -> Result<Result<(), String>, immerse_registry::RegistryError> {
        use immerse_registry::RegistryError;
        use immerse_registry::model::Role;
        let Some(entity_id) = self.identity.entity_id() else {
            return Ok(Ok(()));
        };
        let entity = match self.registry.entity(entity_id, Role::Verifier).await {
            Ok(entity) => entity,
            Err(err @ (RegistryError::WrongRole { .. } | RegistryError::EntitySuspended(_))) => {
                return Ok(Err(format!(
                    "registry entity {entity_id} is not an active verifier: {err}"
                )));
            }
            Err(err) => return Err(err),
        };
        let kid = self.identity.signer().kid();
        let keys = entity.verification_keys(self.now(), self.registry.options().retention);
        if keys.find(kid).is_none() {
            return Ok(Err(format!(
                "the registry lists no signing key {kid} valid now for {entity_id}"
            )));
        }
        Ok(Ok(()))
    }
}

/// Per-request ECDH-ES keys by session id, dropped when answered or expired.
#[derive(Default)]
struct EphemeralKeys {
    keys: Mutex<HashMap<String, (Arc<DecryptionKey>, i64)>>,
}

impl EphemeralKeys {
    fn insert(&self, id: &str, key: DecryptionKey, expires_at: i64) {
        if let Ok(mut keys) = self.keys.lock() {
            let now = presentation::system_now();
            keys.retain(|_, (_, expires)| *expires > now);
            keys.insert(id.to_owned(), (Arc::new(key), expires_at));
        }
    }

    fn get(&self, id: &str) -> Option<Arc<DecryptionKey>> {
        self.keys
            .lock()
            .ok()
            .and_then(|keys| keys.get(id).map(|(key, _)| key.clone()))
    }

    fn remove(&self, id: &str) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.remove(id);
        }
    }
}
