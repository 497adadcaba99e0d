//! Admin bearer tokens: random, shown once, stored only as SHA-256 hashes, with scopes.
use immerse_jose::base64url;
use immerse_store::{AdminTokenRow, Store};

use crate::RegistryError;

/// What an admin token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Create and suspend entities, add, retire and revoke keys.
    Admin,
    /// Read the audit trail.
    Audit,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "registry:admin",
            Self::Audit => "registry:audit",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Admin, Self::Audit]
            .into_iter()
            .find(|scope| scope.name() == name)
    }
}

/// Random secret text with 256 bits of entropy and a recognisable prefix.
pub(crate) fn random_secret(prefix: &str) -> Result<String, RegistryError> {
    Ok(format!(
        "{prefix}{}",
        base64url::random(32).map_err(RegistryError::Signing)?
    ))
}

/// Hex SHA-256: how secrets are stored and looked up.
pub(crate) fn secret_hash(secret: &str) -> String {
    hex::encode(openssl::sha::sha256(secret.as_bytes()))
}

/// Creates a token with `scopes`, straight on the database (the bootstrap path: no token is
/// needed to make the first one). Returns the token; only its hash is kept.
pub async fn create_admin_token(
    store: &Store,
    scopes: &[Scope],
    description: &str,
    expires_at: Option<i64>,
    now: i64,
) -> Result<String, RegistryError> {
    if scopes.is_empty() {
        return Err(RegistryError::InvalidRequest(
            "a token needs at least one scope".into(),
        ));
    }
    let token = random_secret("imr_")?;
    store
        .insert_admin_token(&AdminTokenRow {
            token_hash: secret_hash(&token),
            scopes: scopes
                .iter()
                .map(|scope| scope.name())
                .collect::<Vec<_>>()
                .join(" "),
            description: description.to_owned(),
            created_at: now,
            expires_at,
        })
        .await?;
    Ok(token)
}

/// Checks `token` for `needed` and returns the actor name recorded in the audit trail.
pub async fn authorize(
    store: &Store,
    token: &str,
    needed: Scope,
    now: i64,
) -> Result<String, RegistryError> {
    let row = store
        .admin_token(&secret_hash(token))
        .await?
        .ok_or(RegistryError::Unauthenticated)?;
    if row.expires_at.is_some_and(|expires_at| expires_at <= now) {
        return Err(RegistryError::Unauthenticated);
    }
    if !row.scopes.split(' ').any(|scope| scope == needed.name()) {
        return Err(RegistryError::InsufficientScope(needed.name()));
    }
    Ok(format!("admin:{}", row.description))
}
