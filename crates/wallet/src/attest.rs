//! The wallet's side of client attestation (SYSTEM.md s2, issuance step 3): a challenge from
//! the Attestation Service, SEV-SNP evidence whose report_data binds that challenge and the
//! Client Instance Key, and the pod's service-account token, in exchange for a
//! client-attestation JWT whose `cnf.jwk` is the Client Instance Key.
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use immerse_attestation::snp::expected_report_data;
use immerse_jose::{Signer, base64url};
use serde_json::{Value, json};

use crate::{Wallet, WalletError};

/// `typ` of the JWT the Attestation Service mints (attestation-based client auth draft s4).
const CLIENT_ATTESTATION_TYP: &str = "oauth-client-attestation+jwt";

pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>>;

/// Where the pod's service-account token comes from.
pub trait ServiceAccountTokenSource: Send + Sync {
    fn token(&self) -> TokenFuture<'_>;
}

/// A projected service-account token file (`serviceAccountToken` volume source), read on
/// every use because the kubelet rotates it.
#[derive(Debug, Clone)]
pub struct ProjectedServiceAccountToken(pub PathBuf);

impl ServiceAccountTokenSource for ProjectedServiceAccountToken {
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(async move {
            tokio::fs::read_to_string(&self.0)
                .await
                .map(|token| token.trim().to_owned())
                .map_err(|err| format!("{}: {err}", self.0.display()))
        })
    }
}

/// Any async closure returning a token (a sandbox's cluster issuer, a test).
impl<F, Fut> ServiceAccountTokenSource for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<String, String>> + Send + 'static,
{
    fn token(&self) -> TokenFuture<'_> {
        Box::pin(self())
    }
}

impl Wallet {
    /// A fresh client attestation for the Client Instance Key.
    pub(crate) async fn client_attestation(&self) -> Result<String, WalletError> {
        let config = self.config();
        let base = &config.attestation_url;
        let challenge = self
            .post_json(&format!("{base}/v1/challenge"), &json!({}))
            .await
            .map_err(attestation_refused)?;
        let challenge = challenge
            .get("attestation_challenge")
            .and_then(Value::as_str)
            .ok_or_else(|| WalletError::Attestation {
                error: "invalid_response".into(),
                description: "no attestation_challenge".into(),
            })?
            .to_owned();
        // SYSTEM.md s6: report_data = SHA-512(challenge || SHA-256 thumbprint of the CI-Key).
        let report_data = expected_report_data(&challenge, self.instance_key());
        let provider = config.evidence.clone();
        // The device ioctl blocks; keep it off the async workers.
        let evidence = tokio::task::spawn_blocking(move || provider.evidence(&report_data))
            .await
            .map_err(|err| WalletError::Internal(err.to_string()))?
            .map_err(|err| WalletError::Evidence(err.to_string()))?;
        let service_account_token = config
            .service_account
            .token()
            .await
            .map_err(WalletError::ServiceAccountToken)?;
        let body = json!({
            "attestation_challenge": challenge,
            "instance_key": self.instance_key(),
            "service_account_token": service_account_token,
            "evidence": evidence,
        });
        let url = format!("{base}/v1/attest");
        let request = self.http().post(self.locate(&url)).json(&body);
        let attestation = self
            .exchange(&url, request)
            .await?
            .success()
            .and_then(|fetched| fetched.text())
            .map_err(attestation_refused)?;
        self.check_attestation_binding(attestation.trim())?;
        Ok(attestation.trim().to_owned())
    }

    /// The attestation must bind our Client Instance Key: one minted for another key would only
    /// fail later, at the issuer, with a less useful error. Its signature is the issuer's to
    /// check against the registry.
    fn check_attestation_binding(&self, attestation: &str) -> Result<(), WalletError> {
        let refused = |description: &str| WalletError::Attestation {
            error: "invalid_response".into(),
            description: description.into(),
        };
        let (header, claims) =
            peek_jwt(attestation).ok_or_else(|| refused("the attestation is not a JWT"))?;
        if header.get("typ").and_then(Value::as_str) != Some(CLIENT_ATTESTATION_TYP) {
            return Err(refused("the attestation has the wrong typ"));
        }
        let cnf = claims
            .get("cnf")
            .and_then(|cnf| cnf.get("jwk"))
            .cloned()
            .and_then(|jwk| immerse_jose::PublicJwk::try_from(jwk).ok())
            .ok_or_else(|| refused("the attestation has no cnf.jwk"))?;
        if cnf.thumbprint() != self.inner.instance_key.public_jwk().thumbprint() {
            return Err(refused("the attestation binds another key"));
        }
        Ok(())
    }
}

fn attestation_refused(err: WalletError) -> WalletError {
    match err {
        WalletError::Refused {
            error, description, ..
        } => WalletError::Attestation { error, description },
        other => other,
    }
}

/// Header and claims of a compact JWT, unverified: for reading what a signature check will
/// then cover, or what another party checks.
pub(crate) fn peek_jwt(
    token: &str,
) -> Option<(
    serde_json::Map<String, Value>,
    serde_json::Map<String, Value>,
)> {
    let mut parts = token.split('.');
    let (header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let decode = |part: &str| -> Option<serde_json::Map<String, Value>> {
        serde_json::from_slice(&base64url::decode(part, "jwt").ok()?).ok()
    };
    Some((decode(header)?, decode(payload)?))
}
