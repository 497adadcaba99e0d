//! A wallet wired to a sandbox: its registry, its Attestation Service, its simulated CVM and
//! service-account tokens, and the route to the issuer's loopback port.
#![allow(dead_code)]

use std::sync::Arc;

use immerse_attestation::provider::EvidenceProvider;
use immerse_sandbox::{Sandbox, Service};
use immerse_wallet::{Wallet, WalletConfig};
use serde_json::{Value, json};

pub fn config(sandbox: &Sandbox, evidence: Arc<dyn EvidenceProvider>) -> WalletConfig {
    let accounts = sandbox.service_accounts();
    let token = move || {
        let accounts = accounts.clone();
        async move { accounts.token().await.map_err(|err| err.to_string()) }
    };
    let mut config = WalletConfig::new(
        sandbox.registry_client().unwrap(),
        sandbox.url(Service::Attestation),
        Arc::new(token),
        evidence,
    );
    config.origins = sandbox.origins();
    config
}

pub fn wallet(sandbox: &Sandbox) -> Wallet {
    Wallet::new(config(sandbox, sandbox.evidence_provider())).unwrap()
}

pub fn ada() -> Value {
    json!({
        "given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.com",
        "employee_id": "E-1815", "department": "Analytical Engines", "birthdate": "1815-12-10",
    })
}

/// Publishes `key` as a signing key of `entity` through the registry's admin API.
pub async fn register_key(
    sandbox: &Sandbox,
    entity: &str,
    key: &immerse_jose::PublicJwk,
) -> String {
    let kid = key.kid().unwrap().to_owned();
    registry_admin(
        sandbox,
        &["admin", "v1", "entities", entity, "keys"],
        json!({"jwk": key, "alg": "ES256"}),
    )
    .await;
    kid
}

pub async fn registry_admin(sandbox: &Sandbox, segments: &[&str], body: Value) {
    let mut url = reqwest::Url::parse(&sandbox.url(Service::Registry)).unwrap();
    url.path_segments_mut().unwrap().extend(segments);
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(sandbox.registry_admin_token())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}
