//! What a wallet instance is configured with: its trust anchor, where it gets attested and
//! with what, and transport limits.
use std::sync::Arc;
use std::time::Duration;

use immerse_attestation::provider::EvidenceProvider;
use immerse_registry::client::RegistryClient;

use immerse_net::{Origins, OutboundPolicy};

use crate::attest::ServiceAccountTokenSource;

/// Largest response body the wallet reads from an issuer or attester (SYSTEM.md s5 caps what
/// services accept; the wallet caps what it accepts the same way).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct WalletConfig {
    /// The Key Registry, trusted through its root key only: issuer metadata, credentials and
    /// status lists verify against keys it publishes.
    pub registry: RegistryClient,
    /// The Attestation Service's base URL (`http://attester.cvm-security.svc:5000` in cluster).
    pub attestation_url: String,
    /// The pod's Kubernetes service-account token, audience = the Attestation Service.
    pub service_account: Arc<dyn ServiceAccountTokenSource>,
    /// SEV-SNP evidence: `/dev/sev-guest` in a CVM, the simulated guest in development.
    pub evidence: Arc<dyn EvidenceProvider>,
    /// Allowed clock difference with issuers, seconds (SYSTEM.md s5).
    pub skew_seconds: i64,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_response_bytes: usize,
    pub origins: Origins,
    /// Where the wallet's fetches may go (every URL it is handed comes from outside).
    pub outbound: OutboundPolicy,
}

impl WalletConfig {
    /// Production defaults around the parts only the deployment knows.
    pub fn new(
        registry: RegistryClient,
        attestation_url: impl Into<String>,
        service_account: Arc<dyn ServiceAccountTokenSource>,
        evidence: Arc<dyn EvidenceProvider>,
    ) -> Self {
        Self {
            registry,
            attestation_url: attestation_url.into().trim_end_matches('/').to_owned(),
            service_account,
            evidence,
            skew_seconds: immerse_jose::jwt::DEFAULT_SKEW_SECONDS,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            origins: Origins::default(),
            outbound: OutboundPolicy::default(),
        }
    }
}
