//! The sandbox's Kubernetes stand-in: a service-account token issuer whose public key the
//! Attestation Service checks offline (`ServiceAccountVerifier::Issuer`), as it would check a
//! real cluster's `--service-account-issuer` keys.
use std::sync::Arc;

use immerse_attestation::identity::ClusterIssuer;
use immerse_jose::jws::SigningHeader;
use immerse_jose::{PublicJwkSet, Signer, SoftwareSigner, jwt};
use serde_json::json;

use crate::SandboxError;

/// `--service-account-issuer` of the sandbox cluster.
pub const CLUSTER_ISSUER: &str = "https://kubernetes.sandbox.immerse.test";
/// Where the wallet runs (SYSTEM.md s3: wallets live in `cvm-wallets`).
pub const WALLET_NAMESPACE: &str = "cvm-wallets";
pub const WALLET_SERVICE_ACCOUNT: &str = "wallet";
/// The OAuth `client_id` the Attestation Service names the wallet's account by.
pub const WALLET_CLIENT_ID: &str = "immerse-wallet";
/// Projected tokens default to one hour (`expirationSeconds: 3600`).
const TOKEN_LIFETIME: i64 = 3600;

/// Mints projected service-account tokens for the wallet's account, audience = the Attestation
/// Service. Cloning shares the key.
#[derive(Clone)]
pub struct ServiceAccountIssuer {
    key: Arc<SoftwareSigner>,
    audience: String,
}

impl ServiceAccountIssuer {
    pub(crate) fn generate(audience: &str) -> Result<Self, SandboxError> {
        Ok(Self {
            key: Arc::new(SoftwareSigner::generate()?),
            audience: audience.to_owned(),
        })
    }

    /// What the Attestation Service is configured with to check these tokens.
    pub(crate) fn cluster_issuer(&self) -> ClusterIssuer {
        ClusterIssuer::new(
            CLUSTER_ISSUER,
            PublicJwkSet {
                keys: vec![self.key.public_jwk().clone()],
            },
        )
    }

    /// A token for `cvm-wallets/wallet`, shaped as the API server's TokenRequest makes them.
    pub async fn token(&self) -> Result<String, SandboxError> {
        let now = jwt::now();
        let claims = json!({
            "iss": CLUSTER_ISSUER,
            "sub": format!("system:serviceaccount:{WALLET_NAMESPACE}:{WALLET_SERVICE_ACCOUNT}"),
            "aud": [self.audience],
            "iat": now, "nbf": now, "exp": now + TOKEN_LIFETIME,
            "kubernetes.io": {
                "namespace": WALLET_NAMESPACE,
                "serviceaccount": {"name": WALLET_SERVICE_ACCOUNT, "uid": "00000000-0000-4000-8000-000000000001"},
            },
        });
        Ok(jwt::sign(&*self.key, &SigningHeader::new("JWT"), &claims).await?)
    }
}
