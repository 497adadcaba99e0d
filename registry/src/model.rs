//! The registry's domain: entities, their keys, and the one rule for key validity.
use std::fmt;
use std::str::FromStr;

use immerse_jose::{Algorithm, KeyUse, PublicJwk};
use immerse_store::{EntityRow, KeyRow};
use serde::{Deserialize, Serialize};

use crate::RegistryError;

/// What an entity is to the rest of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Issuer,
    Verifier,
    Attester,
    WalletProvider,
}

/// A claim a verifier may request, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedClaim {
    /// Claim path, as in a DCQL query (`["address", "country"]`).
    pub path: Vec<String>,
    pub purpose: String,
}

/// What an entity is allowed to do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowances {
    /// Credential types (`vct` values) an issuer may issue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credential_types: Vec<String>,
    /// Claims a verifier may request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<AllowedClaim>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityStatus {
    Active,
    Suspended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    pub id: String,
    pub role: Role,
    pub display_name: String,
    pub allowances: Allowances,
    pub status: EntityStatus,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Retired,
    Revoked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationReason {
    Unspecified,
    Compromised,
    Superseded,
}

/// A key bound to an entity, with its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// RFC 7638 thumbprint of `jwk`.
    pub kid: String,
    pub entity_id: String,
    pub jwk: PublicJwk,
    pub key_use: KeyUseName,
    pub alg: String,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
    pub status: KeyStatus,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<RevocationReason>,
    /// Index of the log entry that added the key.
    pub log_index: u64,
}

/// `use` of a registered key, as text on the wire and in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyUseName {
    Sig,
    Enc,
}

impl From<KeyUseName> for KeyUse {
    fn from(name: KeyUseName) -> KeyUse {
        match name {
            KeyUseName::Sig => KeyUse::Sig,
            KeyUseName::Enc => KeyUse::Enc,
        }
    }
}

/// Why a key is not valid at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyInvalid {
    #[error("the key is not valid before its nbf")]
    NotYetValid,
    #[error("the key expired")]
    Expired,
    #[error("the key was retired and its retention period has passed")]
    Retired,
    #[error("the key was revoked")]
    Revoked,
    #[error("the key's entity is suspended")]
    EntitySuspended,
}

/// How long retired keys stay valid for verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub i64);

impl Default for Retention {
    /// 48 hours (SYSTEM.md s1).
    fn default() -> Self {
        Self(48 * 3600)
    }
}

/// The one answer to "was key K of entity E valid at time T".
///
/// - before `nbf` or from `exp` on: not valid;
/// - retired at R: valid until R + retention, so that what it signed before retirement still
///   verifies for that long;
/// - revoked at R for `superseded`: valid before R only; for `compromised` or `unspecified`:
///   never, since a stolen key can sign with any timestamp;
/// - an entity that is suspended now has no valid key at any time.
pub fn key_valid_at(
    key: &KeyRecord,
    entity_status: EntityStatus,
    at: i64,
    retention: Retention,
) -> Result<(), KeyInvalid> {
    if entity_status == EntityStatus::Suspended {
        return Err(KeyInvalid::EntitySuspended);
    }
    if key.nbf.is_some_and(|nbf| at < nbf) {
        return Err(KeyInvalid::NotYetValid);
    }
    if key.exp.is_some_and(|exp| at >= exp) {
        return Err(KeyInvalid::Expired);
    }
    if let Some(revoked_at) = key.revoked_at {
        let before_supersession =
            key.revocation_reason == Some(RevocationReason::Superseded) && at < revoked_at;
        if !before_supersession {
            return Err(KeyInvalid::Revoked);
        }
    }
    if key
        .retired_at
        .is_some_and(|retired_at| at >= retired_at.saturating_add(retention.0))
    {
        return Err(KeyInvalid::Retired);
    }
    Ok(())
}

/// Lower-case text of a serde enum, as stored.
pub(crate) fn enum_text<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Parses stored enum text; a value the schema's CHECK allows always parses.
pub(crate) fn parse_enum<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, RegistryError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| RegistryError::Corrupt(format!("unknown stored value {text:?}")))
}

impl TryFrom<EntityRow> for Entity {
    type Error = RegistryError;
    fn try_from(row: EntityRow) -> Result<Self, RegistryError> {
        Ok(Self {
            role: parse_enum(&row.role)?,
            status: parse_enum(&row.status)?,
            allowances: serde_json::from_str(&row.allowances).map_err(|err| {
                RegistryError::Corrupt(format!("allowances of {}: {err}", row.id))
            })?,
            id: row.id,
            display_name: row.display_name,
            created_at: row.created_at,
        })
    }
}

impl Entity {
    pub(crate) fn to_row(&self, updated_at: i64) -> EntityRow {
        EntityRow {
            id: self.id.clone(),
            role: enum_text(&self.role),
            display_name: self.display_name.clone(),
            allowances: serde_json::to_string(&self.allowances).unwrap_or_else(|_| "{}".into()),
            status: enum_text(&self.status),
            created_at: self.created_at,
            updated_at,
        }
    }
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = RegistryError;
    fn try_from(row: KeyRow) -> Result<Self, RegistryError> {
        let jwk = PublicJwk::from_json(&row.jwk)
            .map_err(|err| RegistryError::Corrupt(format!("stored key {}: {err}", row.kid)))?;
        if jwk.thumbprint_b64() != row.kid {
            return Err(RegistryError::Corrupt(format!(
                "stored key {} does not match its kid",
                row.kid
            )));
        }
        Ok(Self {
            jwk,
            key_use: parse_enum(&row.key_use)?,
            status: parse_enum(&row.status)?,
            revocation_reason: row
                .revocation_reason
                .as_deref()
                .map(parse_enum)
                .transpose()?,
            log_index: u64::try_from(row.log_index).map_err(|_| {
                RegistryError::Corrupt(format!("stored key {} has a negative log index", row.kid))
            })?,
            kid: row.kid,
            entity_id: row.entity_id,
            alg: row.alg,
            nbf: row.nbf,
            exp: row.exp,
            created_at: row.created_at,
            retired_at: row.retired_at,
            revoked_at: row.revoked_at,
        })
    }
}

impl KeyRecord {
    pub(crate) fn to_row(&self) -> KeyRow {
        KeyRow {
            kid: self.kid.clone(),
            entity_id: self.entity_id.clone(),
            jwk: serde_json::to_string(&self.jwk).unwrap_or_default(),
            key_use: enum_text(&self.key_use),
            alg: self.alg.clone(),
            nbf: self.nbf,
            exp: self.exp,
            status: enum_text(&self.status),
            created_at: self.created_at,
            retired_at: self.retired_at,
            revoked_at: self.revoked_at,
            revocation_reason: self.revocation_reason.as_ref().map(enum_text),
            log_index: i64::try_from(self.log_index).unwrap_or(i64::MAX),
        }
    }

    /// The published JWK: the key with `kid`, `use` and `alg` set from the registration.
    pub fn published_jwk(&self) -> PublicJwk {
        let jwk = self
            .jwk
            .clone()
            .with_kid(self.kid.clone())
            .with_use(self.key_use.into());
        match Algorithm::from_str(&self.alg) {
            Ok(alg) => jwk.with_alg(alg),
            Err(_) => jwk,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&enum_text(self))
    }
}

impl FromStr for Role {
    type Err = RegistryError;
    /// The registry's spelling: `issuer`, `verifier`, `attester`, `wallet-provider`.
    fn from_str(text: &str) -> Result<Self, RegistryError> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
            RegistryError::InvalidRequest(format!(
                "unknown role {text:?} (issuer, verifier, attester, wallet-provider)"
            ))
        })
    }
}

#[cfg(test)]
mod tests;
