//! Enrolment through the registry's admin API, as an operator does it: entities with their
//! roles and allowances, and their public keys.
use immerse_jose::PublicJwk;
use immerse_registry::model::{Allowances, Role};
use serde_json::{Value, json};

use crate::SandboxError;

/// The registry's admin API at `base`, with an admin-scoped bearer token.
pub(crate) struct RegistryAdmin<'a> {
    pub http: &'a reqwest::Client,
    pub base: String,
    pub token: &'a str,
}

impl RegistryAdmin<'_> {
    pub async fn create_entity(
        &self,
        id: &str,
        role: Role,
        display_name: &str,
        allowances: &Allowances,
    ) -> Result<(), SandboxError> {
        let body =
            json!({"id": id, "role": role, "display_name": display_name, "allowances": allowances});
        self.post(&["admin", "v1", "entities"], &body).await
    }

    /// Publishes `key` as a signing key (ES256) of `entity`.
    pub async fn add_signing_key(&self, entity: &str, key: &PublicJwk) -> Result<(), SandboxError> {
        let body = json!({"jwk": key, "alg": "ES256"});
        self.post(&["admin", "v1", "entities", entity, "keys"], &body)
            .await
    }

    /// Retires `kid`: it stays valid for verification during the registry's retention, so what
    /// it signed before a restart still verifies.
    pub async fn retire_key(&self, entity: &str, kid: &str) -> Result<(), SandboxError> {
        self.post(
            &["admin", "v1", "entities", entity, "keys", kid, "retire"],
            &json!({}),
        )
        .await
    }

    async fn post(&self, segments: &[&str], body: &Value) -> Result<(), SandboxError> {
        let mut url = reqwest::Url::parse(&self.base)
            .map_err(|err| SandboxError::Setup(format!("registry URL: {err}")))?;
        url.path_segments_mut()
            .map_err(|()| SandboxError::Setup("registry URL cannot take a path".into()))?
            .extend(segments);
        let response = self
            .http
            .post(url.clone())
            .bearer_auth(self.token)
            .json(body)
            .send()
            .await
            .map_err(|err| SandboxError::Setup(format!("{url}: {err}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(SandboxError::Setup(format!(
            "registry refused {url} ({status}): {text}"
        )))
    }
}
