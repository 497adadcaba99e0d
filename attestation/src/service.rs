//! The attestation flow as plain functions: challenge, then evidence + identity in, Client
//! Attestation JWT out. The HTTP layer only adapts these.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use immerse_jose::{PublicJwk, Signer};
use immerse_store::{OneTimeValues, Store};
use serde::{Deserialize, Serialize};

use crate::identity::{IdentityPolicy, IdentityRefusal, ServiceAccountVerifier};
use crate::mint::{Attested, mint};
use crate::snp::{
    AttestationReport, CertChain, Product, SnpPolicy, SnpVerifier, expected_report_data, judge,
};
use crate::{AttestationError, Evidence, EvidenceVerifier, TeeClaims, evidence::SnpEvidence};

/// The purpose (and replay-cache scope) of this service's challenges.
const CHALLENGE_SCOPE: &str = "attestation-challenge";

/// Which TEE evidence the service demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TeeMode {
    SevSnp,
    /// Kubernetes identity only: never a default, and the JWT says `"tee": "none"`.
    None,
}

/// Attestation Service settings.
#[derive(Debug, Clone)]
pub struct AttesterConfig {
    /// `iss` of the JWTs and the audience wallets' service-account tokens must carry.
    pub attester_id: String,
    pub tee: TeeMode,
    pub jwt_lifetime: i64,
    pub challenge_lifetime: i64,
    pub allowed_namespaces: Vec<String>,
    /// `namespace/service-account` -> the wallet's OAuth `client_id`.
    pub client_ids: BTreeMap<String, String>,
    /// Product line of version 2 reports, which do not name it.
    pub default_product: Option<Product>,
}

impl AttesterConfig {
    pub fn new(attester_id: impl Into<String>) -> Self {
        Self {
            attester_id: attester_id.into(),
            tee: TeeMode::SevSnp,
            jwt_lifetime: 300,
            challenge_lifetime: 120,
            allowed_namespaces: vec!["cvm-wallets".into()],
            client_ids: BTreeMap::new(),
            default_product: None,
        }
    }
}

/// Why an attestation request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("the challenge is unknown, expired or already used")]
    InvalidChallenge,
    #[error("instance key refused: {0}")]
    InvalidInstanceKey(immerse_jose::Error),
    #[error("service account refused: {0}")]
    Identity(#[from] IdentityRefusal),
    #[error("no client_id is configured for {0}")]
    UnknownClient(String),
    #[error("evidence refused: {0}")]
    Evidence(#[from] AttestationError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// `POST /v1/attest` body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttestRequest {
    pub attestation_challenge: String,
    /// The Client Instance Key (public JWK).
    pub instance_key: serde_json::Value,
    /// The pod's projected service-account token, audience = this attester.
    pub service_account_token: String,
    #[serde(default)]
    pub evidence: Option<EvidenceRequest>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "type", rename_all = "kebab-case")]
pub enum EvidenceRequest {
    SevSnp {
        /// base64 (standard or URL-safe) of the 1184-byte report.
        report: String,
        /// base64 of the VCEK/VLEK certificate (DER); the service's cache otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        vcek: Option<String>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Challenge {
    pub attestation_challenge: String,
    pub expires_at: i64,
}

/// The source of "now", injectable so that certificate expiry and lifetimes can be tested.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The Attestation Service.
#[derive(Clone)]
pub struct Attester {
    /// Stateless until spent: a challenge request writes nothing.
    challenges: OneTimeValues,
    signer: Arc<dyn Signer>,
    config: Arc<AttesterConfig>,
    verifier: Arc<SnpVerifier>,
    chains: Arc<HashMap<Product, CertChain>>,
    /// Required when the service demands SEV-SNP evidence.
    policy: Option<Arc<SnpPolicy>>,
    accounts: ServiceAccountVerifier,
    clock: Clock,
}

impl Attester {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Store,
        signer: Arc<dyn Signer>,
        config: AttesterConfig,
        verifier: SnpVerifier,
        chains: HashMap<Product, CertChain>,
        policy: Option<SnpPolicy>,
        accounts: ServiceAccountVerifier,
        clock: Clock,
    ) -> Self {
        Self {
            challenges: store.one_time_values(CHALLENGE_SCOPE),
            signer,
            config: Arc::new(config),
            verifier: Arc::new(verifier),
            chains: Arc::new(chains),
            policy: policy.map(Arc::new),
            accounts,
            clock,
        }
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The A-Key's public half, for the JWKS endpoint and the registry.
    pub fn public_key(&self) -> &PublicJwk {
        self.signer.public_jwk()
    }

    /// A fresh challenge, accepted once until it expires; issuing it writes nothing.
    pub async fn challenge(&self) -> Result<Challenge, AttestError> {
        let expires_at = self.now() + self.config.challenge_lifetime;
        let attestation_challenge = self
            .challenges
            .issue(expires_at)
            .await
            .map_err(|err| AttestError::Internal(err.to_string()))?;
        Ok(Challenge {
            attestation_challenge,
            expires_at,
        })
    }

    /// Checks the challenge (consumed here, whatever follows), the instance key, the service
    /// account and the evidence, judges the claims, and mints the Client Attestation JWT.
    pub async fn attest(&self, request: AttestRequest) -> Result<String, AttestError> {
        let now = self.now();
        let fresh = self
            .challenges
            .spend(&request.attestation_challenge, now)
            .await
            .map_err(|err| AttestError::Internal(err.to_string()))?;
        if !fresh {
            return Err(AttestError::InvalidChallenge);
        }
        let instance_key =
            PublicJwk::try_from(request.instance_key).map_err(AttestError::InvalidInstanceKey)?;
        let identity_policy = IdentityPolicy {
            allowed_namespaces: self.config.allowed_namespaces.clone(),
            audience: self.config.attester_id.clone(),
        };
        let identity = self
            .accounts
            .verify(&request.service_account_token, &identity_policy, now)
            .await?;
        let account = format!("{}/{}", identity.namespace, identity.service_account);
        let client_id = self
            .config
            .client_ids
            .get(&account)
            .ok_or_else(|| AttestError::UnknownClient(account.clone()))?;
        let report_data = expected_report_data(&request.attestation_challenge, &instance_key);
        let claims = match (self.config.tee, request.evidence) {
            (TeeMode::None, None) => None,
            (TeeMode::None, Some(_)) => {
                return Err(AttestError::InvalidRequest(
                    "this attester is configured with tee = none".into(),
                ));
            }
            (TeeMode::SevSnp, None) => {
                return Err(AttestError::InvalidRequest(
                    "SEV-SNP evidence is required".into(),
                ));
            }
            (TeeMode::SevSnp, Some(EvidenceRequest::SevSnp { report, vcek })) => {
                Some(self.verify_snp(&report, vcek.as_deref(), &report_data, now)?)
            }
        };
        let attested = Attested {
            client_id,
            instance_key: &instance_key,
            identity: &identity,
            tee: claims.as_ref(),
        };
        mint(
            &*self.signer,
            &self.config.attester_id,
            &attested,
            now,
            self.config.jwt_lifetime,
        )
        .await
        .map_err(|err| AttestError::Internal(err.to_string()))
    }

    fn verify_snp(
        &self,
        report: &str,
        vcek: Option<&str>,
        report_data: &[u8; 64],
        now: i64,
    ) -> Result<crate::Claims, AttestError> {
        let report = decode_base64(report, "report")?;
        let vcek = vcek.map(|vcek| decode_base64(vcek, "vcek")).transpose()?;
        let parsed = AttestationReport::parse(&report).map_err(AttestationError::from)?;
        let product = parsed
            .product
            .or(self.config.default_product)
            .ok_or_else(|| {
                AttestError::InvalidRequest("the report does not name its product line".into())
            })?;
        let chain = self.chains.get(&product).ok_or_else(|| {
            AttestError::InvalidRequest(format!("no certificate chain configured for {product}"))
        })?;
        let evidence = Evidence::SevSnp(SnpEvidence {
            report,
            vcek,
            chain: chain.clone(),
            product: Some(product),
        });
        let claims = self.verifier.verify(&evidence, report_data, now)?;
        let TeeClaims::SevSnp(detail) = &claims.detail;
        let policy = self
            .policy
            .as_deref()
            .ok_or_else(|| AttestError::Internal("no SEV-SNP policy is configured".into()))?;
        judge(policy, detail, report_data).map_err(AttestationError::from)?;
        Ok(claims)
    }
}

/// Standard or URL-safe base64, padded or not: wallets and hosts differ.
fn decode_base64(text: &str, what: &str) -> Result<Vec<u8>, AttestError> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let trimmed = text.trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(trimmed.replace('+', "-").replace('/', "_"))
        .or_else(|_| STANDARD.decode(text))
        .map_err(|_| AttestError::InvalidRequest(format!("{what} is not base64")))
}
