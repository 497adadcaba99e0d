//! Starts the Key Registry, Attestation Service, Issuer and Verifier on loopback ports with
//! SQLite in a temporary directory, enrols each entity, and hands back their URLs and admin
//! credentials: what `immerse demo` runs and what the end-to-end tests drive a wallet against.
//!
//! Every service is the production one behind its production router; only the environment is
//! simulated: SEV-SNP evidence comes from a simulated AMD platform whose root the Attestation
//! Service is explicitly configured to trust, Kubernetes is a service-account token issuer
//! whose key the Attestation Service checks offline, and the verifier's certificate comes from
//! a sandbox CA. Every key another party must trust is enrolled through the registry's admin
//! API, so each service checks the others exactly as in production.
//!
//! Restarts ([`Sandbox::restart`]) keep the port and the database. Keys follow SYSTEM.md s1:
//! keys that stand for a long-lived identity and would live in a PKCS#11 token (the registry
//! root, the verifier's certified request-signing key, a PKCS#11 A-Key) are kept, as the token
//! would keep them; keys that live in process memory (the issuer's signing and
//! request-encryption keys, a software A-Key, the verifier's per-request keys) are lost, and a
//! new signing key is enrolled before first use while the old one is retired.
#![forbid(unsafe_code)]

mod cluster;
mod enrol;
mod pki;
mod server;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use immerse_attestation::identity::ServiceAccountVerifier;
use immerse_attestation::provider::{EvidenceProvider, SimulatedSevGuest};
use immerse_attestation::snp::simulated::{ReportFields, SimulatedAmd, Validity};
use immerse_attestation::snp::{Product, SnpPolicy, SnpVerifier, TcbVersion};
use immerse_attestation::{Attester, AttesterConfig};
use immerse_issuer::{AdminToken, CredentialConfiguration, Issuer, SCOPE_OFFERS, SCOPE_STATUS};
use immerse_jose::pkcs11::{Pkcs11Config, Pkcs11Signer};
use immerse_jose::{Signer, SoftwareSigner, base64url};
use immerse_net::Origins;
use immerse_registry::Registry;
use immerse_registry::auth::{Scope, create_admin_token};
use immerse_registry::client::{ClientOptions, RegistryClient};
use immerse_registry::model::{Allowances, AllowedClaim, Role};
use immerse_store::Store;
use immerse_verifier::{ClientIdentity, Verifier};

pub use cluster::{
    CLUSTER_ISSUER, ServiceAccountIssuer, WALLET_CLIENT_ID, WALLET_NAMESPACE,
    WALLET_SERVICE_ACCOUNT,
};
pub use immerse_issuer::CreatedOffer;

use enrol::RegistryAdmin;
use server::Server;

/// Entity identifiers (registry entity ids are https URLs). The issuer's is also its
/// Credential Issuer Identifier; it is served on loopback behind it (see [`Sandbox::routes`]).
pub const REGISTRY_ID: &str = "https://registry.sandbox.immerse.test";
pub const ATTESTER_ID: &str = "https://attester.sandbox.immerse.test";
pub const ISSUER_ID: &str = "https://issuer.sandbox.immerse.test";
pub const VERIFIER_ID: &str = "https://verifier.sandbox.immerse.test";

/// The one credential the sandbox issuer offers.
pub const CONFIGURATION_ID: &str = "employee_sd_jwt";
pub const VCT: &str = "https://issuer.sandbox.immerse.test/vct/employee";
pub const CLAIMS: [&str; 6] = [
    "given_name",
    "family_name",
    "email",
    "employee_id",
    "department",
    "birthdate",
];
/// The verifier may ask for these (and nothing else): the privacy policy wallets enforce.
pub const VERIFIER_ALLOWED_CLAIMS: [&str; 4] = ["given_name", "family_name", "email", "department"];

/// Launch measurement of the simulated wallet CVM: the only one the attester's policy admits.
pub const WALLET_MEASUREMENT: [u8; 48] = [0x5E; 48];

const CREDENTIAL_LIFETIME: i64 = 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("store: {0}")]
    Store(#[from] immerse_store::StoreError),
    #[error("key: {0}")]
    Jose(#[from] immerse_jose::Error),
    #[error("certificate: {0}")]
    Certificate(#[from] openssl::error::ErrorStack),
    #[error("registry: {0}")]
    Registry(#[from] immerse_registry::RegistryError),
    #[error("issuer: {0}")]
    Issuer(#[from] immerse_issuer::IssuerError),
    #[error("verifier: {0}")]
    Verifier(#[from] immerse_verifier::VerifierError),
    #[error("simulated SEV-SNP: {0}")]
    Snp(String),
    #[error("setup: {0}")]
    Setup(String),
}

/// What to start with; the default is a temporary directory and a software A-Key.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Where the SQLite files go; a temporary directory removed on drop when `None`.
    pub dir: Option<PathBuf>,
    /// The A-Key in a PKCS#11 token (SoftHSM2); a software key, with a warning, when `None`.
    pub pkcs11_a_key: Option<Pkcs11Config>,
}

/// One of the four services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    Registry,
    Attestation,
    Issuer,
    Verifier,
}

impl Service {
    pub const ALL: [Self; 4] = [
        Self::Registry,
        Self::Attestation,
        Self::Issuer,
        Self::Verifier,
    ];

    fn database(self) -> &'static str {
        match self {
            Self::Registry => "registry.db",
            Self::Attestation => "attestation.db",
            Self::Issuer => "issuer.db",
            Self::Verifier => "verifier.db",
        }
    }
}

enum Dir {
    Temporary(tempfile::TempDir),
    Given(PathBuf),
}

/// The simulated SEV-SNP platform the wallet's CVM runs on.
struct Platform {
    amd: SimulatedAmd,
    guest: Arc<SimulatedSevGuest>,
}

/// A running sandbox. Dropping it leaves the services' tasks to end with the runtime; call
/// [`Sandbox::shutdown`] to stop them first.
pub struct Sandbox {
    dir: Dir,
    http: reqwest::Client,
    registry_root: Arc<SoftwareSigner>,
    registry_admin_token: String,
    issuer_admin_token: String,
    verifier_api_token: String,
    a_key: AKey,
    issuer_key: Arc<dyn Signer>,
    verifier_key: Arc<SoftwareSigner>,
    verifier_chain: Vec<Vec<u8>>,
    platform: Platform,
    cluster: ServiceAccountIssuer,
    servers: HashMap<Service, Server>,
    stores: HashMap<Service, Store>,
}

enum AKey {
    Software(Arc<SoftwareSigner>),
    Pkcs11(Arc<Pkcs11Signer>),
}

impl AKey {
    fn signer(&self) -> Arc<dyn Signer> {
        match self {
            Self::Software(key) => key.clone(),
            Self::Pkcs11(key) => key.clone(),
        }
    }
}

impl Sandbox {
    /// Starts every service with the defaults of [`SandboxOptions`].
    pub async fn start() -> Result<Self, SandboxError> {
        Self::start_with(SandboxOptions::default()).await
    }

    pub async fn start_with(options: SandboxOptions) -> Result<Self, SandboxError> {
        let dir = match options.dir {
            Some(path) => {
                std::fs::create_dir_all(&path)?;
                Dir::Given(path)
            }
            None => Dir::Temporary(tempfile::tempdir()?),
        };
        let a_key = match options.pkcs11_a_key {
            Some(config) => AKey::Pkcs11(Arc::new(
                tokio::task::spawn_blocking(move || Pkcs11Signer::open_or_generate(&config))
                    .await
                    .map_err(|err| SandboxError::Setup(err.to_string()))??,
            )),
            None => {
                tracing::warn!(
                    "the sandbox A-Key is a software key in process memory; production keeps it \
                     in a PKCS#11 token"
                );
                AKey::Software(Arc::new(SoftwareSigner::generate()?))
            }
        };
        let platform = simulated_platform().await?;
        let verifier_key = Arc::new(SoftwareSigner::generate()?);
        let verifier_chain = pki::certificate_chain(verifier_key.public_jwk(), "verifier")?;
        let mut sandbox = Self {
            dir,
            http: reqwest::Client::new(),
            registry_root: Arc::new(SoftwareSigner::generate()?),
            registry_admin_token: String::new(),
            issuer_admin_token: format!("iss_{}", base64url::random(32)?),
            verifier_api_token: format!("rp_{}", base64url::random(32)?),
            a_key,
            issuer_key: Arc::new(SoftwareSigner::generate()?),
            verifier_key,
            verifier_chain,
            platform,
            cluster: ServiceAccountIssuer::generate(ATTESTER_ID)?,
            servers: HashMap::new(),
            stores: HashMap::new(),
        };
        for service in Service::ALL {
            let (server, listener) = Server::bind().await?;
            sandbox.servers.insert(service, server);
            sandbox.launch(service, listener).await?;
        }
        sandbox.enrol().await?;
        tracing::info!(
            registry = %sandbox.url(Service::Registry),
            attestation = %sandbox.url(Service::Attestation),
            issuer = %sandbox.url(Service::Issuer),
            verifier = %sandbox.url(Service::Verifier),
            "sandbox started"
        );
        Ok(sandbox)
    }

    /// Where `service` listens (`http://127.0.0.1:PORT`), the same across restarts.
    pub fn url(&self, service: Service) -> String {
        self.servers
            .get(&service)
            .map(Server::url)
            .unwrap_or_default()
    }

    /// The directory holding the SQLite files.
    pub fn dir(&self) -> &Path {
        match &self.dir {
            Dir::Temporary(dir) => dir.path(),
            Dir::Given(path) => path,
        }
    }

    /// Where clients connect for the sandbox's public identifiers (the issuer's identifier is
    /// an https URL; it listens on loopback).
    pub fn origins(&self) -> Origins {
        Origins::default().route(ISSUER_ID, self.url(Service::Issuer))
    }

    /// The registry's root key: the one trust anchor every client is configured with.
    pub fn registry_root(&self) -> &immerse_jose::PublicJwk {
        self.registry_root.public_jwk()
    }

    /// A fresh client of the sandbox registry. It refetches on every use: services restart
    /// and re-enrol keys mid-flow here, far faster than a production cache expires.
    pub fn registry_client(&self) -> Result<RegistryClient, SandboxError> {
        Ok(RegistryClient::new(
            self.url(Service::Registry),
            REGISTRY_ID,
            self.registry_root.public_jwk().clone(),
            client_options(),
        )?)
    }

    /// Bearer token of the registry's admin API (scope `registry:admin`).
    pub fn registry_admin_token(&self) -> &str {
        &self.registry_admin_token
    }

    /// Bearer token of the issuer's admin API (scopes `issuer:offers`, `issuer:status`).
    pub fn issuer_admin_token(&self) -> &str {
        &self.issuer_admin_token
    }

    /// Bearer token of the verifier's relying-party API.
    pub fn verifier_api_token(&self) -> &str {
        &self.verifier_api_token
    }

    /// The verifier's Client Identifier (`x509_hash:...`).
    pub fn verifier_client_id(&self) -> Result<String, SandboxError> {
        Ok(self.verifier_identity()?.client_id().to_owned())
    }

    /// The wallet CVM's evidence: a simulated SEV-SNP guest with [`WALLET_MEASUREMENT`].
    pub fn evidence_provider(&self) -> Arc<dyn EvidenceProvider> {
        self.platform.guest.clone()
    }

    /// Reports of a CVM launched with another measurement, on the same platform: what the
    /// attester's policy must refuse.
    pub fn evidence_provider_measuring(
        &self,
        measurement: [u8; 48],
    ) -> Result<Arc<dyn EvidenceProvider>, SandboxError> {
        let mut template = wallet_report_template();
        template.measurement = measurement;
        Ok(Arc::new(
            SimulatedSevGuest::new(&self.platform.amd, template, Validity::LONG)
                .map_err(|err| SandboxError::Snp(err.to_string()))?,
        ))
    }

    /// The wallet pod's service-account tokens (audience = the Attestation Service).
    pub fn service_accounts(&self) -> ServiceAccountIssuer {
        self.cluster.clone()
    }

    /// Whether the A-Key is a software key (the demo says so).
    pub fn a_key_is_software(&self) -> bool {
        matches!(self.a_key, AKey::Software(_))
    }

    pub fn is_running(&self, service: Service) -> bool {
        self.servers.get(&service).is_some_and(Server::is_running)
    }

    /// Stops `service`: in-flight requests finish, the port closes, the database is closed.
    pub async fn stop(&mut self, service: Service) {
        if let Some(server) = self.servers.get_mut(&service) {
            server.stop().await;
        }
        if let Some(store) = self.stores.remove(&service) {
            store.close().await;
        }
    }

    /// Starts `service` again on its port over its database. State in the database survives;
    /// keys held in process memory do not (see the crate documentation).
    pub async fn restart(&mut self, service: Service) -> Result<(), SandboxError> {
        self.stop(service).await;
        let listener = match self.servers.get(&service) {
            Some(server) => server.rebind().await?,
            None => return Err(SandboxError::Setup(format!("{service:?} never started"))),
        };
        match service {
            Service::Issuer => {
                let old = self.issuer_key.public_jwk().kid().map(str::to_owned);
                self.issuer_key = Arc::new(SoftwareSigner::generate()?);
                // Enrolled before first use; the old key stays valid for what it signed.
                self.admin()
                    .add_signing_key(ISSUER_ID, self.issuer_key.public_jwk())
                    .await?;
                if let Some(kid) = old {
                    self.admin().retire_key(ISSUER_ID, &kid).await?;
                }
            }
            Service::Attestation => {
                if let AKey::Software(old) = &self.a_key {
                    let old = old.public_jwk().kid().map(str::to_owned);
                    let new = Arc::new(SoftwareSigner::generate()?);
                    self.admin()
                        .add_signing_key(ATTESTER_ID, new.public_jwk())
                        .await?;
                    if let Some(kid) = old {
                        self.admin().retire_key(ATTESTER_ID, &kid).await?;
                    }
                    self.a_key = AKey::Software(new);
                }
            }
            Service::Registry | Service::Verifier => {}
        }
        self.launch(service, listener).await
    }

    /// Creates an offer of the sandbox credential for `claims` through the issuer's admin API,
    /// as the back office would: with a 6-digit tx_code when asked, by reference when asked.
    pub async fn create_offer(
        &self,
        claims: serde_json::Value,
        tx_code: bool,
        by_reference: bool,
    ) -> Result<CreatedOffer, SandboxError> {
        let mut body = serde_json::json!({
            "credential_configuration_ids": [CONFIGURATION_ID],
            "claims": claims,
            "by_reference": by_reference,
        });
        if tx_code {
            body["tx_code_length"] = 6.into();
        }
        let response = self.issuer_admin(&["admin", "offers"], &body).await?;
        response
            .json()
            .await
            .map_err(|err| SandboxError::Setup(format!("issuer offer: {err}")))
    }

    /// Sets the status (`valid`, `revoked`, `suspended`) of every credential issued under
    /// `offer_id`, through the issuer's admin API.
    pub async fn set_credential_status(
        &self,
        offer_id: &str,
        status: &str,
    ) -> Result<(), SandboxError> {
        self.issuer_admin(
            &["admin", "offers", offer_id, "status"],
            &serde_json::json!({"status": status}),
        )
        .await
        .map(drop)
    }

    async fn issuer_admin(
        &self,
        segments: &[&str],
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, SandboxError> {
        let mut url = reqwest::Url::parse(&self.url(Service::Issuer))
            .map_err(|err| SandboxError::Setup(err.to_string()))?;
        url.path_segments_mut()
            .map_err(|()| SandboxError::Setup("issuer URL cannot take a path".into()))?
            .extend(segments);
        let response = self
            .http
            .post(url.clone())
            .bearer_auth(&self.issuer_admin_token)
            .json(body)
            .send()
            .await
            .map_err(|err| SandboxError::Setup(format!("{url}: {err}")))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Err(SandboxError::Setup(format!(
            "issuer refused {url} ({status}): {text}"
        )))
    }

    /// Stops every service and closes every database.
    pub async fn shutdown(mut self) {
        for service in Service::ALL {
            self.stop(service).await;
        }
    }

    async fn launch(
        &mut self,
        service: Service,
        listener: tokio::net::TcpListener,
    ) -> Result<(), SandboxError> {
        let path = self.dir().join(service.database());
        let store = Store::connect(&format!("sqlite://{}", path.display())).await?;
        let router = match service {
            Service::Registry => {
                if self.registry_admin_token.is_empty() {
                    self.registry_admin_token = create_admin_token(
                        &store,
                        &[Scope::Admin],
                        "sandbox operator",
                        None,
                        immerse_jose::jwt::now(),
                    )
                    .await?;
                }
                let registry = Registry::new(
                    store.clone(),
                    self.registry_root.clone(),
                    immerse_registry::Config::new(REGISTRY_ID),
                );
                immerse_registry::http::router(registry)
            }
            Service::Attestation => {
                let mut config = AttesterConfig::new(ATTESTER_ID);
                config.allowed_namespaces = vec![WALLET_NAMESPACE.into()];
                config.client_ids = BTreeMap::from([(
                    format!("{WALLET_NAMESPACE}/{WALLET_SERVICE_ACCOUNT}"),
                    WALLET_CLIENT_ID.to_owned(),
                )]);
                let policy = SnpPolicy::from_toml(&format!(
                    "reference_measurements = [\"{}\"]",
                    hex::encode(WALLET_MEASUREMENT)
                ))
                .map_err(|err| SandboxError::Snp(err.to_string()))?;
                let attester = Attester::new(
                    store.clone(),
                    self.a_key.signer(),
                    config,
                    // The simulated platform's root, named explicitly: never AMD's pinned roots.
                    SnpVerifier::new(self.platform.amd.trust_anchors()),
                    HashMap::from([(PRODUCT, self.platform.amd.chain())]),
                    Some(policy),
                    ServiceAccountVerifier::Issuer(self.cluster.cluster_issuer()),
                    Arc::new(immerse_jose::jwt::now),
                );
                immerse_attestation::http::router(attester)
            }
            Service::Issuer => {
                let issuer = Issuer::new(
                    self.issuer_config(),
                    store.clone(),
                    self.issuer_key.clone(),
                    self.registry_client()?,
                )?;
                immerse_issuer::http::router(issuer)
            }
            Service::Verifier => {
                let mut config = immerse_verifier::Config::new(self.url(Service::Verifier))
                    .with_api_token(&self.verifier_api_token);
                config.origins = self.origins();
                let verifier = Verifier::new(
                    config,
                    self.verifier_identity()?,
                    store.clone(),
                    self.registry_client()?,
                )?;
                immerse_verifier::http::router(Arc::new(verifier))
            }
        };
        self.stores.insert(service, store);
        if let Some(server) = self.servers.get_mut(&service) {
            server.serve(listener, router);
        }
        Ok(())
    }

    fn issuer_config(&self) -> immerse_issuer::Config {
        let mut config = immerse_issuer::Config::new(ISSUER_ID);
        config.configurations.push(CredentialConfiguration {
            id: CONFIGURATION_ID.into(),
            vct: VCT.into(),
            scope: "employee".into(),
            claims: CLAIMS.iter().map(|&claim| claim.to_owned()).collect(),
            lifetime_seconds: CREDENTIAL_LIFETIME,
            display_name: "Employee credential".into(),
            selectively_disclosable: None,
        });
        config.trusted_attesters.push(ATTESTER_ID.into());
        // Attestation draft s8: the PoP must carry a challenge from our challenge endpoint.
        config.require_attestation_challenge = true;
        config.admin_tokens.push(AdminToken {
            sha256_hex: hex::encode(openssl::sha::sha256(self.issuer_admin_token.as_bytes())),
            scopes: vec![SCOPE_OFFERS.into(), SCOPE_STATUS.into()],
        });
        config
    }

    fn verifier_identity(&self) -> Result<ClientIdentity, SandboxError> {
        Ok(ClientIdentity::x509_hash(
            self.verifier_key.clone(),
            self.verifier_chain.clone(),
        )?)
    }

    fn admin(&self) -> RegistryAdmin<'_> {
        RegistryAdmin {
            http: &self.http,
            base: self.url(Service::Registry),
            token: &self.registry_admin_token,
        }
    }

    /// Enrols the attester, the issuer and the verifier with their roles, allowances and keys.
    async fn enrol(&self) -> Result<(), SandboxError> {
        let admin = self.admin();
        admin
            .create_entity(
                ATTESTER_ID,
                Role::Attester,
                "IMMERSE sandbox Attestation Service",
                &Allowances::default(),
            )
            .await?;
        admin
            .add_signing_key(ATTESTER_ID, self.a_key.signer().public_jwk())
            .await?;
        let issuer_allowances = Allowances {
            credential_types: vec![VCT.into()],
            claims: Vec::new(),
        };
        admin
            .create_entity(
                ISSUER_ID,
                Role::Issuer,
                "IMMERSE sandbox Issuer",
                &issuer_allowances,
            )
            .await?;
        admin
            .add_signing_key(ISSUER_ID, self.issuer_key.public_jwk())
            .await?;
        let verifier_allowances = Allowances {
            credential_types: Vec::new(),
            claims: VERIFIER_ALLOWED_CLAIMS
                .iter()
                .map(|&claim| AllowedClaim {
                    path: vec![claim.to_owned()],
                    purpose: "Staff access to the sandbox relying party".into(),
                })
                .collect(),
        };
        admin
            .create_entity(
                VERIFIER_ID,
                Role::Verifier,
                "IMMERSE sandbox Verifier",
                &verifier_allowances,
            )
            .await?;
        admin
            .add_signing_key(VERIFIER_ID, self.verifier_key.public_jwk())
            .await
    }
}

const PRODUCT: Product = Product::Milan;

fn client_options() -> ClientOptions {
    ClientOptions {
        refresh_after: Duration::ZERO,
        ..ClientOptions::default()
    }
}

fn wallet_report_template() -> ReportFields {
    let mut template = ReportFields::new(PRODUCT, TcbVersion::new(PRODUCT, 3, 0, 8, 115, 0));
    template.measurement = WALLET_MEASUREMENT;
    template.chip_id = [0xC1; 64];
    template
}

/// A simulated AMD platform (RSA-2048 ARK/ASK: generation dominates start-up time, and the
/// chain checks are the same as for AMD's 4096-bit roots) and the wallet's guest on it.
async fn simulated_platform() -> Result<Platform, SandboxError> {
    tokio::task::spawn_blocking(|| {
        let amd = SimulatedAmd::generate(PRODUCT, 2048)
            .map_err(|err| SandboxError::Snp(err.to_string()))?;
        let guest = SimulatedSevGuest::new(&amd, wallet_report_template(), Validity::LONG)
            .map_err(|err| SandboxError::Snp(err.to_string()))?;
        Ok(Platform {
            amd,
            guest: Arc::new(guest),
        })
    })
    .await
    .map_err(|err| SandboxError::Setup(err.to_string()))?
}
