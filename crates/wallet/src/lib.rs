//! The IMMERSE Wallet (holder agent): obtains SD-JWT VCs from an Issuer over OpenID4VCI 1.0 as
//! an attested client, and presents them to Verifiers over OpenID4VP 1.0 with the holder's
//! consent.
//!
//! Keys (the Client Instance Key and one Holder Key per credential) live in process memory
//! only: nothing key-shaped is written to the database or disk, except under the opt-in sealed
//! persistence, encrypted to a key that only the same measured CVM can derive.
//!
//! Entry points: [`Wallet::new`], [`Wallet::accept_offer`] (issuance), [`Wallet::check_status`]
//! and [`Wallet::spawn_expiry_task`] (lifecycle).
#![forbid(unsafe_code)]

mod attest;
mod config;
mod credentials;
mod error;
pub mod http;
mod issuance;
mod presentation;

use std::sync::Arc;

use immerse_jose::SoftwareSigner;
use immerse_registry::client::RegistryClient;

pub use attest::{ProjectedServiceAccountToken, ServiceAccountTokenSource, TokenFuture};
pub use config::WalletConfig;
pub use credentials::{CredentialStore, StoredCredential};
pub use error::WalletError;
pub use immerse_net::Origins;
pub use immerse_status_list::Status;
pub use issuance::{CredentialOffer, Expected, TxCode};
pub use presentation::{
    CredentialMatch, FederationClientRefusal, PendingRequest, PresentationError,
    PresentationOutcome, Presenter, RequestedClaim, VerifierDirectory,
};

/// Reads "now" in unix seconds; injectable for tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// One wallet instance. Cloning is cheap and shares the instance: its configuration, its
/// credentials, its Client Instance Key and its HTTP client.
#[derive(Clone)]
pub struct Wallet {
    inner: Arc<Inner>,
}

struct Inner {
    config: WalletConfig,
    credentials: CredentialStore,
    /// The Client Instance Key: generated at start, attested by the Attestation Service, and
    /// never written anywhere (SYSTEM.md s1).
    instance_key: SoftwareSigner,
    http: reqwest::Client,
    clock: Clock,
}

impl Wallet {
    /// A wallet with a fresh Client Instance Key, an empty credential store and the system clock.
    pub fn new(config: WalletConfig) -> Result<Self, WalletError> {
        Self::with_clock(config, Arc::new(immerse_jose::jwt::now))
    }

    /// As [`Wallet::new`], reading "now" from `clock`.
    pub fn with_clock(config: WalletConfig, clock: Clock) -> Result<Self, WalletError> {
        // Every URL the wallet follows is one it chose to trust; a redirect is not, and a name
        // only reaches the addresses the outbound policy allows.
        let http = config
            .outbound
            .client_builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .build()
            .map_err(|err| WalletError::Internal(format!("HTTP client: {err}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                instance_key: SoftwareSigner::generate()?,
                credentials: CredentialStore::default(),
                config,
                http,
                clock,
            }),
        })
    }

    pub fn config(&self) -> &WalletConfig {
        &self.inner.config
    }

    /// The credentials held (shared by every clone of this wallet).
    pub fn credentials(&self) -> &CredentialStore {
        &self.inner.credentials
    }

    /// The registry client: the wallet's one trust anchor.
    pub fn registry(&self) -> &RegistryClient {
        &self.inner.config.registry
    }

    /// The wallet's HTTP client (no redirects followed, timeouts from the configuration, names
    /// resolved through the outbound policy).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Where the wallet connects for `url` (see [`Origins`]).
    pub fn locate(&self, url: &str) -> String {
        self.inner.config.origins.locate(url)
    }

    pub fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// The Client Instance Key's public half: what client attestations bind.
    pub fn instance_key(&self) -> &immerse_jose::PublicJwk {
        immerse_jose::Signer::public_jwk(&self.inner.instance_key)
    }
}
