//! The pod's Kubernetes identity: a service-account token checked through the TokenReview API.
//!
//! The attester asks the API server (TokenReview, `authentication.k8s.io/v1`) whether the token
//! is authentic and for whom, with its own audience, and then decides here: authenticated, a
//! service account (`system:serviceaccount:<ns>:<sa>`), in an allowed namespace, and issued for
//! this attester's audience.
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
    let (namespace, service_account) = username
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
        .filter(|(namespace, account)| {
            !namespace.is_empty() && !account.is_empty() && !account.contains(':')
        })
        .ok_or_else(|| IdentityRefusal::NotAServiceAccount(username.clone()))?;
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
