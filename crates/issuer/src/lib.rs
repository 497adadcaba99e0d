//! IMMERSE Issuer: OpenID4VCI 1.0 with the pre-authorized code flow and the authorization code
//! flow (PAR, PKCE S256), attestation-based client authentication, DPoP-bound access tokens,
//! SD-JWT VC credentials, encrypted requests and responses, and Token Status Lists.
//!
//! Each protocol step is a plain async function on [`Issuer`] over typed input (testable
//! without HTTP); [`http::router`] only adapts them. Everything single-use (codes, nonces,
//! `jti`s, challenges) is decided by one atomic statement in the store, so it holds across
//! restarts and replicas.
#![forbid(unsafe_code)]

mod authorization;
mod client_auth;
mod config;
mod credential;
mod deferred;
mod dpop;
mod error;
pub mod http;
mod keys;
mod metadata;
mod notification;
mod offer;
mod proof;
mod status;
mod token;
mod type_metadata;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

pub use authorization::{
    AUTHORIZATION_CODE_GRANT, AuthorizationRequest, PushedAuthorization, PushedAuthorizationRequest,
};
pub use client_auth::{ATTESTATION_POP_TYP, ATTESTATION_TYP, AttestedClient};
pub use config::{
    AdminToken, CertificateChain, Config, ConfigError, CredentialConfiguration, SCOPE_OFFERS,
    SCOPE_STATUS,
};
pub use credential::{CredentialRequest, CredentialResponse, ResponseBody};
pub use dpop::DPOP_TYP;
pub use error::IssuerError;
pub use keys::{KeyFactory, KeyFuture, KeyRotation, Rotated, SoftwareKeys};
pub use metadata::{AS_METADATA_TYP, METADATA_TYP};
pub use notification::NOTIFICATION_EVENTS;
pub use offer::{CreatedOffer, NewOffer, OfferGrant, PRE_AUTHORIZED_GRANT};
pub use proof::PROOF_TYP;
pub use status::CredentialStatus;
pub use token::{TokenHeaders, TokenRequest, TokenResponse};
pub use type_metadata::{TYPE_METADATA_PREFIX, TypeMetadataDocument};

use immerse_jose::Signer;
use immerse_jose::jwe::DecryptionKey;
use immerse_registry::client::RegistryClient;
use immerse_status_list::IndexAllocator;
use immerse_store::{OneTimeValues, Store};

/// The issuer service: configuration, store, signing key, the registry it learns attester
/// keys from, and the key credential requests may be encrypted to.
#[derive(Clone)]
pub struct Issuer {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Store,
    /// The current signing key; rotation swaps it under the write lock, so every signature is
    /// made whole with one key or the other.
    signer: RwLock<Arc<dyn Signer>>,
    registry: RegistryClient,
    /// Served type metadata per credential configuration id, bytes fixed at start.
    type_metadata: HashMap<String, TypeMetadataDocument>,
    /// Set once by [`Issuer::enable_key_rotation`].
    rotation: OnceLock<keys::RotationSetup>,
    rotation_state: tokio::sync::Mutex<keys::RotationState>,
    request_key: DecryptionKey,
    /// The unauthenticated endpoints' values: stateless until spent (no row per request).
    c_nonces: OneTimeValues,
    dpop_nonces: OneTimeValues,
    attestation_challenges: OneTimeValues,
    /// The list new credentials go into and its in-process index allocator. Replicas share no
    /// allocator; the store's primary key on (list, index) refuses a double allocation.
    allocator: Mutex<(String, IndexAllocator)>,
    clock: Box<dyn Fn() -> i64 + Send + Sync>,
}

impl Issuer {
    /// An issuer reading the system clock.
    pub fn new(
        config: Config,
        store: Store,
        signer: Arc<dyn Signer>,
        registry: RegistryClient,
    ) -> Result<Self, IssuerError> {
        Self::with_clock(config, store, signer, registry, immerse_jose::jwt::now)
    }

    /// An issuer with an injected clock (unix seconds), for tests.
    pub fn with_clock(
        config: Config,
        store: Store,
        signer: Arc<dyn Signer>,
        registry: RegistryClient,
        clock: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Result<Self, IssuerError> {
        let now = clock();
        // A chain that does not certify this key, or is outside its validity, is refused
        // before anything is served.
        if let Some(chain) = &config.x5c_chain {
            chain.check(signer.public_jwk(), now)?;
        }
        let type_metadata = type_metadata::documents(&config)?;
        let request_key = DecryptionKey::generate(immerse_jose::Curve::P256)?;
        let allocator = IndexAllocator::new(config.status_list_capacity)?;
        Ok(Self {
            inner: Arc::new(Inner {
                allocator: Mutex::new((immerse_jose::base64url::random(12)?, allocator)),
                config,
                c_nonces: store.one_time_values(credential::C_NONCE_SCOPE),
                dpop_nonces: store.one_time_values(dpop::NONCE_SCOPE),
                attestation_challenges: store.one_time_values(client_auth::CHALLENGE_SCOPE),
                store,
                signer: RwLock::new(signer),
                registry,
                type_metadata,
                rotation: OnceLock::new(),
                rotation_state: tokio::sync::Mutex::new(keys::RotationState::new(now)),
                request_key,
                clock: Box::new(clock),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// The key new credentials, status list tokens and signed metadata are signed with now.
    pub fn signer(&self) -> Arc<dyn Signer> {
        match self.inner.signer.read() {
            Ok(guard) => guard.clone(),
            // A panic while holding the lock cannot leave a half-written Arc behind.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Hex of SHA-256: how secrets (codes, tx_codes, tokens) are stored and compared.
pub(crate) fn secret_hash(secret: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The outcome of a `take_once`: a value too long or empty for the store was never issued by
/// us, so it is "not taken"; a database failure stays an error.
pub(crate) fn taken(result: Result<bool, immerse_store::StoreError>) -> Result<bool, IssuerError> {
    match result {
        Ok(taken) => Ok(taken),
        Err(immerse_store::StoreError::Empty(_) | immerse_store::StoreError::TooLong { .. }) => {
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}
