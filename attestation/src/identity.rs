//! The pod's Kubernetes identity: a service-account token checked through the TokenReview API,
//! or offline against the cluster's service-account issuer.
//!
//! Online, the attester asks the API server (TokenReview, `authentication.k8s.io/v1`) whether
//! the token is authentic and for whom, with its own audience, and then decides here:
//! authenticated, a service account (`system:serviceaccount:<ns>:<sa>`), in an allowed
//! namespace, and issued for this attester's audience. Offline, for clusters that publish their
//! issuer's JWKS (`/openid/v1/jwks`), the token's signature and claims are checked here and the
//! same judgement follows; what offline checking cannot see is a deleted pod or service account,
//! so it accepts only tokens that expire soon.
use immerse_jose::{Algorithm, PublicJwkSet, jwt};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus};
use kube::api::PostParams;
use serde::Serialize;

/// The service account a verified token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KubernetesIdentity {
    pub namespace: String,
    pub service_account: String,
}

/// Why a service-account token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityRefusal {
    #[error("the API server did not authenticate the token")]
    Unauthenticated,
    #[error("the token is not for audience {0:?}")]
    WrongAudience(String),
    #[error("{0:?} is not a service account")]
    NotAServiceAccount(String),
    #[error("namespace {0:?} is not allowed")]
    NamespaceNotAllowed(String),
    #[error("TokenReview failed: {0}")]
    ReviewFailed(String),
    #[error("the token is not a valid service-account token of this cluster: {0}")]
    InvalidToken(String),
    #[error("the token lives {0} s, longer than offline checking accepts")]
    LifetimeTooLong(i64),
}

/// Who may be attested.
#[derive(Debug, Clone)]
pub struct IdentityPolicy {
    /// Namespaces whose service accounts may be attested (default: `cvm-wallets`).
    pub allowed_namespaces: Vec<String>,
    /// The audience the wallet's projected token must carry: this attester's identifier.
    pub audience: String,
}

impl IdentityPolicy {
    pub fn new(audience: impl Into<String>) -> Self {
        Self {
            allowed_namespaces: vec!["cvm-wallets".into()],
            audience: audience.into(),
        }
    }
}

/// How service-account tokens are checked.
#[derive(Clone)]
pub enum ServiceAccountVerifier {
    /// Ask the API server (the default in a cluster).
    TokenReview(TokenReviewer),
    /// Check offline against the cluster's issuer and its published keys.
    Issuer(ClusterIssuer),
}

impl ServiceAccountVerifier {
    /// Checks `token` for `policy` at `now` (seconds since the epoch; TokenReview uses the API
    /// server's clock).
    pub async fn verify(
        &self,
        token: &str,
        policy: &IdentityPolicy,
        now: i64,
    ) -> Result<KubernetesIdentity, IdentityRefusal> {
        match self {
            Self::TokenReview(reviewer) => reviewer.review(token, policy).await,
            Self::Issuer(issuer) => issuer.verify(token, policy, now),
        }
    }
}

/// A cluster's service-account token issuer: its `iss` (`--service-account-issuer`) and the
/// keys it publishes.
#[derive(Debug, Clone)]
pub struct ClusterIssuer {
    issuer: String,
    keys: PublicJwkSet,
    max_lifetime: i64,
}

impl ClusterIssuer {
    /// Projected tokens default to one hour (`expirationSeconds: 3600`); anything longer lived
    /// than this cannot be checked offline with confidence that its pod still exists.
    pub const DEFAULT_MAX_LIFETIME: i64 = 3600;

    /// Kubernetes signs with RS256 by default and ES256 when its key is an EC key.
    const ALGORITHMS: &[Algorithm] = &[Algorithm::Rs256, Algorithm::Es256];

    pub fn new(issuer: impl Into<String>, keys: PublicJwkSet) -> Self {
        Self {
            issuer: issuer.into(),
            keys,
            max_lifetime: Self::DEFAULT_MAX_LIFETIME,
        }
    }

    /// `keys_json` is the issuer's JWKS document as the API server serves it.
    pub fn from_jwks_json(
        issuer: impl Into<String>,
        keys_json: &str,
    ) -> Result<Self, IdentityRefusal> {
        let keys = PublicJwkSet::from_json(keys_json)
            .map_err(|err| IdentityRefusal::InvalidToken(format!("issuer JWKS: {err}")))?;
        Ok(Self::new(issuer, keys))
    }

    pub fn with_max_lifetime(mut self, seconds: i64) -> Self {
        self.max_lifetime = seconds;
        self
    }

    /// Verifies the token's signature, `iss`, `aud`, `exp`, `nbf` and `iat`, then judges the
    /// service account as TokenReview answers are judged.
    pub fn verify(
        &self,
        token: &str,
        policy: &IdentityPolicy,
        now: i64,
    ) -> Result<KubernetesIdentity, IdentityRefusal> {
        // Kubernetes tokens carry no `typ`; `iss`, `aud` and the issuer's own keys keep other
        // JWTs out.
        let validation = jwt::Validation::untyped()
            .with_algorithms(Self::ALGORITHMS)
            .issuer(&self.issuer)
            .at(now);
        let verified = jwt::verify(token, &validation, &self.keys)
            .map_err(|err| IdentityRefusal::InvalidToken(err.to_string()))?
            .into_inner();
        let claims = &verified.claims;
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(serde_json::Value::String(aud)) => vec![aud.as_str()],
            Some(serde_json::Value::Array(auds)) => {
                auds.iter().filter_map(serde_json::Value::as_str).collect()
            }
            _ => Vec::new(),
        };
        if !audiences.contains(&policy.audience.as_str()) {
            return Err(IdentityRefusal::WrongAudience(policy.audience.clone()));
        }
        let issued_at = claims.get("iat").and_then(serde_json::Value::as_i64);
        let expires = claims.get("exp").and_then(serde_json::Value::as_i64);
        match (issued_at, expires) {
            (Some(iat), Some(exp)) if exp - iat <= self.max_lifetime => {}
            (Some(iat), Some(exp)) => return Err(IdentityRefusal::LifetimeTooLong(exp - iat)),
            _ => {
                return Err(IdentityRefusal::InvalidToken(
                    "iat and exp are required".into(),
                ));
            }
        }
        let subject = claims
            .get("sub")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let identity = service_account(subject, policy)?;
        // The `kubernetes.io` claim must name the same account as `sub`: a token whose two
        // statements disagree was not minted by the API server.
        let kubernetes = claims.get("kubernetes.io");
        let namespace = kubernetes
            .and_then(|k| k.get("namespace"))
            .and_then(serde_json::Value::as_str);
        let account = kubernetes
            .and_then(|k| k.get("serviceaccount"))
            .and_then(|sa| sa.get("name"))
            .and_then(serde_json::Value::as_str);
        if namespace != Some(identity.namespace.as_str())
            || account != Some(identity.service_account.as_str())
        {
            return Err(IdentityRefusal::InvalidToken(
                "the kubernetes.io claim does not name the subject's service account".into(),
            ));
        }
        Ok(identity)
    }
}

/// Asks the Kubernetes API server about service-account tokens.
#[derive(Clone)]
pub struct TokenReviewer {
    client: kube::Client,
}

impl TokenReviewer {
    /// In a pod: the API server, CA and credentials from the in-cluster service account.
    pub async fn in_cluster() -> Result<Self, IdentityRefusal> {
        let config = kube::Config::incluster()
            .map_err(|err| IdentityRefusal::ReviewFailed(err.to_string()))?;
        Self::from_config(config)
    }

    /// Against an explicit API server (tests, or a kubeconfig-driven deployment).
    pub fn from_config(config: kube::Config) -> Result<Self, IdentityRefusal> {
        kube::Client::try_from(config)
            .map(|client| Self { client })
            .map_err(|err| IdentityRefusal::ReviewFailed(err.to_string()))
    }

    /// Reviews `token` for `policy.audience` and judges the answer.
    pub async fn review(
        &self,
        token: &str,
        policy: &IdentityPolicy,
    ) -> Result<KubernetesIdentity, IdentityRefusal> {
        let request = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: Some(vec![policy.audience.clone()]),
            },
            ..TokenReview::default()
        };
        let reviews: kube::Api<TokenReview> = kube::Api::all(self.client.clone());
        let answer = reviews
            .create(&PostParams::default(), &request)
            .await
            .map_err(|err| IdentityRefusal::ReviewFailed(err.to_string()))?;
        judge(answer.status.as_ref(), policy)
    }
}

/// Decides on a TokenReview status. Every check is needed: `authenticated` alone would accept
/// a token minted for another audience or a user that is not a workload.
pub fn judge(
    status: Option<&TokenReviewStatus>,
    policy: &IdentityPolicy,
) -> Result<KubernetesIdentity, IdentityRefusal> {
    let status = status.ok_or(IdentityRefusal::Unauthenticated)?;
    if status.authenticated != Some(true) {
        return Err(IdentityRefusal::Unauthenticated);
    }
    // The API server echoes the audiences the token is valid for among those we asked about.
    let audiences = status.audiences.as_deref().unwrap_or_default();
    if !audiences
        .iter()
        .any(|audience| audience == &policy.audience)
    {
        return Err(IdentityRefusal::WrongAudience(policy.audience.clone()));
    }
    let username = status
        .user
        .as_ref()
        .and_then(|user| user.username.clone())
        .unwrap_or_default();
    service_account(&username, policy)
}

/// `system:serviceaccount:<namespace>:<name>`, in an allowed namespace.
fn service_account(
    username: &str,
    policy: &IdentityPolicy,
) -> Result<KubernetesIdentity, IdentityRefusal> {
    let (namespace, service_account) = username
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .filter(|(namespace, account)| {
            !namespace.is_empty() && !account.is_empty() && !account.contains(':')
        })
        .ok_or_else(|| IdentityRefusal::NotAServiceAccount(username.to_owned()))?;
    if !policy
        .allowed_namespaces
        .iter()
        .any(|allowed| allowed == namespace)
    {
        return Err(IdentityRefusal::NamespaceNotAllowed(namespace.to_owned()));
    }
    Ok(KubernetesIdentity {
        namespace: namespace.to_owned(),
        service_account: service_account.to_owned(),
    })
}

#[cfg(test)]
mod tests;
