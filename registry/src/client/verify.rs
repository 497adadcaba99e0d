//! Offline verification of what the registry publishes: pure functions of the document, the
//! registry's identifier and key, and the time. No I/O.
use std::collections::{HashMap, HashSet};

use immerse_jose::{Error as JoseError, KeyUse, PublicJwk, PublicJwkSet, jwt};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::RegistryError;
use crate::log::{self, Checkpoint, LogEntry};
use crate::model::{
    Allowances, EntityStatus, KeyInvalid, KeyRecord, KeyStatus, KeyUseName, Retention,
    RevocationReason, Role, key_valid_at,
};
use crate::publish::{ENTITY_STATEMENT_TYP, HISTORICAL_KEYS_TYP, InclusionProof, entity_status_of};

/// The registry's identifier and public key: all a party needs to verify what it publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    registry_id: String,
    registry_key: PublicJwk,
}

/// An entity statement whose signature, claims and inclusion proofs verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntity {
    id: String,
    role: Role,
    status: EntityStatus,
    allowances: Allowances,
    display_name: Option<String>,
    issued_at: i64,
    expires_at: i64,
    /// Each listed key as its `key_added` log entry describes it (status active, `log_index`
    /// the entry's index): the statement does not say which of them are retired.
    keys: Vec<KeyRecord>,
    /// The checkpoint every inclusion proof leads to; `None` when no key is listed.
    checkpoint: Option<Checkpoint>,
}

/// A historical key set whose signature and claims verified: every key the entity has had,
/// with its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoricalKeys {
    entity_id: String,
    entity_status: EntityStatus,
    issued_at: i64,
    expires_at: i64,
    /// The published JWK is `jwk`; `log_index` is not published and is 0 (the validity rule
    /// does not read it).
    keys: Vec<KeyRecord>,
}

impl TrustAnchor {
    pub fn new(registry_id: impl Into<String>, registry_key: PublicJwk) -> Self {
        Self {
            registry_id: registry_id.into(),
            registry_key,
        }
    }

    pub fn registry_id(&self) -> &str {
        &self.registry_id
    }

    pub fn registry_key(&self) -> &PublicJwk {
        &self.registry_key
    }

    /// Verifies a signed checkpoint as of `now`.
    pub fn verify_checkpoint(&self, signed: &str, now: i64) -> Result<Checkpoint, RegistryError> {
        Checkpoint::verify(signed, &self.registry_key, &self.registry_id, now)
    }

    /// Verifies two signed checkpoints and the consistency proof (base64url hashes) from the
    /// first to the second; returns the second. An older tree that is not a prefix of the newer
    /// one, or a "newer" tree that is smaller, is a fork: `Integrity`.
    pub fn verify_consistency(
        &self,
        old: &str,
        new: &str,
        proof: &[String],
        now: i64,
    ) -> Result<Checkpoint, RegistryError> {
        let old = self.verify_checkpoint(old, now)?;
        let new = self.verify_checkpoint(new, now)?;
        check_extends(&old, &new, proof)?;
        Ok(new)
    }

    /// Verifies an entity statement for `entity_id` at `now`: `typ`, signature by the registry
    /// key, `iss`, `sub`, `exp`, the claims' shape, and for every listed key that its inclusion
    /// proof holds and that the proven leaf is the `key_added` entry of exactly this key for this
    /// entity. One failing key refuses the whole statement.
    pub fn verify_statement(
        &self,
        token: &str,
        entity_id: &str,
        now: i64,
    ) -> Result<VerifiedEntity, RegistryError> {
        let claims = self.verify_jwt(token, ENTITY_STATEMENT_TYP, entity_id, now)?;
        let statement: StatementClaims = parse_claims(claims, "entity statement claims")?;
        let mut proofs: HashMap<&str, &InclusionProof> = HashMap::new();
        for listed in &statement.immerse_log.keys {
            if proofs
                .insert(listed.kid.as_str(), &listed.inclusion)
                .is_some()
            {
                return Err(integrity(format!(
                    "two inclusion proofs for key {}",
                    listed.kid
                )));
            }
        }
        let mut checkpoint: Option<Checkpoint> = None;
        let mut keys = Vec::with_capacity(statement.jwks.keys.len());
        for value in statement.jwks.keys {
            let jwk = PublicJwk::try_from(value).map_err(RegistryError::InvalidKey)?;
            let kid = published_kid(&jwk)?;
            let proof = proofs
                .remove(kid.as_str())
                .ok_or_else(|| integrity(format!("key {kid} has no inclusion proof")))?;
            let (proven, leaf) = proof.verify(&self.registry_key, &self.registry_id, now)?;
            match &checkpoint {
                Some(first) if *first != proven => {
                    return Err(integrity(
                        "the inclusion proofs lead to different checkpoints".into(),
                    ));
                }
                Some(_) => {}
                None => checkpoint = Some(proven),
            }
            let logged = logged_key(&leaf, proof.leaf_index, entity_id, &kid)?;
            if logged.jwk.thumbprint() != jwk.thumbprint() {
                return Err(integrity(format!(
                    "key {kid} is not the key log entry {} added (thumbprints differ)",
                    proof.leaf_index
                )));
            }
            if logged.published_jwk() != jwk {
                return Err(integrity(format!(
                    "key {kid} is published with another use or alg than log entry {} says",
                    proof.leaf_index
                )));
            }
            keys.push(logged);
        }
        if let Some(kid) = proofs.keys().next() {
            return Err(integrity(format!(
                "inclusion proof for key {kid}, which the statement does not list"
            )));
        }
        let entity = statement.metadata.immerse_entity;
        Ok(VerifiedEntity {
            id: entity_id.to_owned(),
            role: entity.role,
            status: entity.status,
            allowances: entity.allowances,
            display_name: statement
                .metadata
                .federation_entity
                .and_then(|federation| federation.organization_name),
            issued_at: statement.iat,
            expires_at: statement.exp,
            keys,
            checkpoint,
        })
    }

    /// Verifies a historical key set for `entity_id` at `now`: `typ`, signature, `iss`, `sub`,
    /// `exp`, and each key (a public JWK whose `kid` is its thumbprint, with a lifecycle that
    /// agrees with its status).
    pub fn verify_historical_keys(
        &self,
        token: &str,
        entity_id: &str,
        now: i64,
    ) -> Result<HistoricalKeys, RegistryError> {
        let claims = self.verify_jwt(token, HISTORICAL_KEYS_TYP, entity_id, now)?;
        // Anything but "active" reads as suspended: no key of an entity in doubt is valid.
        let entity_status = entity_status_of(&claims);
        let document: HistoricalClaims = parse_claims(claims, "historical key set claims")?;
        let mut kids = HashSet::new();
        let mut keys = Vec::with_capacity(document.keys.len());
        for object in document.keys {
            let key = historical_record(object, entity_id)?;
            if !kids.insert(key.kid.clone()) {
                return Err(RegistryError::InvalidProof(JoseError::InvalidClaim("keys")));
            }
            keys.push(key);
        }
        Ok(HistoricalKeys {
            entity_id: entity_id.to_owned(),
            entity_status,
            issued_at: document.iat,
            expires_at: document.exp,
            keys,
        })
    }

    /// The JWS and the claims every registry document shares; `sub` must be `entity_id`.
    fn verify_jwt(
        &self,
        token: &str,
        typ: &str,
        entity_id: &str,
        now: i64,
    ) -> Result<Map<String, Value>, RegistryError> {
        let validation = jwt::Validation::new(typ).issuer(&self.registry_id).at(now);
        let claims = jwt::verify(token, &validation, &self.registry_key)
            .map_err(RegistryError::InvalidProof)?
            .into_inner()
            .claims;
        if claims.get("sub").and_then(Value::as_str) != Some(entity_id) {
            return Err(RegistryError::InvalidProof(JoseError::InvalidClaim("sub")));
        }
        Ok(claims)
    }
}

impl VerifiedEntity {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn status(&self) -> EntityStatus {
        self.status
    }

    pub fn allowances(&self) -> &Allowances {
        &self.allowances
    }

    pub fn display_name(&self) -> Option<&str> {
        self.display_name.as_deref()
    }

    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }

    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// `WrongRole` unless the entity has `role`, then `EntitySuspended` unless it is active.
    pub fn require_role(&self, role: Role) -> Result<(), RegistryError> {
        self.require_role_only(role)?;
        if self.status != EntityStatus::Active {
            return Err(RegistryError::EntitySuspended(self.id.clone()));
        }
        Ok(())
    }

    pub(super) fn require_role_only(&self, role: Role) -> Result<(), RegistryError> {
        if self.role != role {
            return Err(RegistryError::WrongRole {
                entity: self.id.clone(),
                required: role,
                actual: self.role,
            });
        }
        Ok(())
    }

    /// `NotAllowed` unless `vct` is among the issuer's `credential_types` allowance; an issuer
    /// with none listed may issue nothing.
    pub fn require_credential_type(&self, vct: &str) -> Result<(), RegistryError> {
        let allowed = &self.allowances.credential_types;
        if allowed.iter().any(|listed| listed == vct) {
            return Ok(());
        }
        Err(RegistryError::NotAllowed(if allowed.is_empty() {
            format!(
                "{} is registered for no credential type, so it may issue none (asked: {vct})",
                self.id
            )
        } else {
            format!(
                "{} is not registered to issue credential type {vct}",
                self.id
            )
        }))
    }

    /// The checkpoint the inclusion proofs lead to.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        self.checkpoint.as_ref()
    }

    /// The keys as the statement lists them: valid when it was issued.
    pub fn jwks(&self) -> PublicJwkSet {
        PublicJwkSet {
            keys: self.keys.iter().map(KeyRecord::published_jwk).collect(),
        }
    }

    /// The listed signing keys still valid at `now` by their logged `nbf` and `exp` (a cached
    /// statement may outlive a key). For a time other than about now, ask
    /// [`HistoricalKeys::key_valid_at`]: the statement does not say which keys are retired.
    pub fn verification_keys(&self, now: i64, retention: Retention) -> PublicJwkSet {
        let keys = self
            .keys
            .iter()
            .filter(|key| key.key_use == KeyUseName::Sig)
            .filter(|key| key_valid_at(key, self.status, now, retention).is_ok())
            .map(KeyRecord::published_jwk)
            .collect();
        PublicJwkSet { keys }
    }
}

impl HistoricalKeys {
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    pub fn entity_status(&self) -> EntityStatus {
        self.entity_status
    }

    pub fn issued_at(&self) -> i64 {
        self.issued_at
    }

    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|key| key.kid.as_str())
    }

    /// Was key `kid` valid at `at`? The registry's one rule ([`key_valid_at`]) over the
    /// published lifecycle; `Ok(Ok(jwk))` is the published key, `Ok(Err(_))` says why it was
    /// not valid, `Err(NotFound)` means the entity never had the key.
    pub fn key_valid_at(
        &self,
        kid: &str,
        at: i64,
        retention: Retention,
    ) -> Result<Result<PublicJwk, KeyInvalid>, RegistryError> {
        let key =
            self.keys.iter().find(|key| key.kid == kid).ok_or_else(|| {
                RegistryError::NotFound(format!("key {kid} of {}", self.entity_id))
            })?;
        Ok(key_valid_at(key, self.entity_status, at, retention).map(|()| key.jwk.clone()))
    }
}

#[derive(Deserialize)]
struct StatementClaims {
    iat: i64,
    exp: i64,
    jwks: JwksClaim,
    metadata: StatementMetadata,
    immerse_log: ImmerseLog,
}

/// Keys stay JSON until [`PublicJwk::try_from`] so that a refusal keeps its precise error.
#[derive(Deserialize)]
struct JwksClaim {
    keys: Vec<Value>,
}

#[derive(Deserialize)]
struct StatementMetadata {
    immerse_entity: ImmerseEntity,
    #[serde(default)]
    federation_entity: Option<FederationEntity>,
}

#[derive(Deserialize)]
struct FederationEntity {
    #[serde(default)]
    organization_name: Option<String>,
}

#[derive(Deserialize)]
struct ImmerseEntity {
    role: Role,
    status: EntityStatus,
    #[serde(default)]
    allowances: Allowances,
}

#[derive(Deserialize)]
struct ImmerseLog {
    keys: Vec<KeyInclusion>,
}

#[derive(Deserialize)]
struct KeyInclusion {
    kid: String,
    inclusion: InclusionProof,
}

#[derive(Deserialize)]
struct HistoricalClaims {
    iat: i64,
    exp: i64,
    keys: Vec<Map<String, Value>>,
}

/// The members `publish::historical_key` adds to a JWK.
const LIFECYCLE_MEMBERS: [&str; 6] = ["iat", "status", "nbf", "exp", "retired_at", "revoked"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lifecycle {
    iat: i64,
    status: KeyStatus,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    retired_at: Option<i64>,
    #[serde(default)]
    revoked: Option<Revoked>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Revoked {
    revoked_at: i64,
    reason: RevocationReason,
}

fn parse_claims<T: for<'de> Deserialize<'de>>(
    claims: Map<String, Value>,
    part: &'static str,
) -> Result<T, RegistryError> {
    serde_json::from_value(Value::Object(claims)).map_err(|err| {
        RegistryError::InvalidProof(JoseError::Json {
            part,
            reason: err.to_string(),
        })
    })
}

pub(super) fn integrity(what: String) -> RegistryError {
    RegistryError::Integrity(what)
}

/// The `kid` of a published key, which the registry sets to its RFC 7638 thumbprint.
fn published_kid(jwk: &PublicJwk) -> Result<String, RegistryError> {
    let kid = jwk.kid().ok_or_else(|| {
        RegistryError::InvalidKey(JoseError::MalformedJwk("a published key has no kid".into()))
    })?;
    if kid != jwk.thumbprint_b64() {
        return Err(RegistryError::InvalidKey(JoseError::MalformedJwk(format!(
            "kid {kid} is not the key's RFC 7638 thumbprint"
        ))));
    }
    Ok(kid.to_owned())
}

/// The key a proven leaf adds, if it is the `key_added` entry of `kid` for `entity_id`.
fn logged_key(
    leaf: &[u8],
    index: u64,
    entity_id: &str,
    kid: &str,
) -> Result<KeyRecord, RegistryError> {
    let entry: LogEntry = serde_json::from_slice(leaf)
        .map_err(|err| integrity(format!("log entry {index} is unreadable: {err}")))?;
    let key = entry
        .into_added_key(index)
        .map_err(|_| integrity(format!("log entry {index} is not a key_added entry")))?;
    if key.entity_id != entity_id {
        return Err(integrity(format!(
            "log entry {index} adds a key for {}, not {entity_id}",
            key.entity_id
        )));
    }
    if key.kid != kid {
        return Err(integrity(format!(
            "log entry {index} adds key {}, not {kid}",
            key.kid
        )));
    }
    Ok(key)
}

/// One key of a historical key set: the JWK members become the key, the lifecycle members its
/// record. A lifecycle that contradicts the status is refused rather than guessed at.
fn historical_record(
    mut object: Map<String, Value>,
    entity_id: &str,
) -> Result<KeyRecord, RegistryError> {
    let mut lifecycle = Map::new();
    for name in LIFECYCLE_MEMBERS {
        if let Some(value) = object.remove(name) {
            lifecycle.insert(name.to_owned(), value);
        }
    }
    let lifecycle: Lifecycle = parse_claims(lifecycle, "historical key lifecycle")?;
    let jwk = PublicJwk::from_object(object).map_err(RegistryError::InvalidKey)?;
    let kid = published_kid(&jwk)?;
    let key_use = match jwk.key_use() {
        Some(KeyUse::Sig) => KeyUseName::Sig,
        Some(KeyUse::Enc) => KeyUseName::Enc,
        None => {
            return Err(RegistryError::InvalidKey(JoseError::MalformedJwk(format!(
                "historical key {kid} has no use"
            ))));
        }
    };
    let (retired, revoked) = (lifecycle.retired_at.is_some(), lifecycle.revoked.is_some());
    let consistent = match lifecycle.status {
        KeyStatus::Active => !retired && !revoked,
        KeyStatus::Retired => retired && !revoked,
        // A retired key can still be revoked, so `retired_at` may stay.
        KeyStatus::Revoked => revoked,
    };
    if !consistent {
        return Err(RegistryError::InvalidProof(JoseError::InvalidClaim(
            "status",
        )));
    }
    Ok(KeyRecord {
        kid,
        entity_id: entity_id.to_owned(),
        alg: jwk.alg().unwrap_or_default().to_owned(),
        jwk,
        key_use,
        nbf: lifecycle.nbf,
        exp: lifecycle.exp,
        status: lifecycle.status,
        created_at: lifecycle.iat,
        retired_at: lifecycle.retired_at,
        revoked_at: lifecycle.revoked.as_ref().map(|revoked| revoked.revoked_at),
        revocation_reason: lifecycle.revoked.map(|revoked| revoked.reason),
        log_index: 0,
    })
}

/// Checks that `new` extends `old`: same root at equal size, or a consistency proof from the
/// smaller tree to the larger (RFC 9162 s2.1.4.2). Anything else is a fork or a rollback.
pub(super) fn check_extends(
    old: &Checkpoint,
    new: &Checkpoint,
    proof: &[String],
) -> Result<(), RegistryError> {
    let proof = proof
        .iter()
        .map(|hash| log::decode_hash(hash))
        .collect::<Result<Vec<_>, _>>()?;
    immerse_merkle::verify_consistency(
        old.tree_size,
        new.tree_size,
        &old.root()?,
        &new.root()?,
        &proof,
    )
    .map_err(|err| {
        integrity(format!(
            "log fork: the checkpoint of size {} does not extend the one of size {}: {err}",
            new.tree_size, old.tree_size
        ))
    })
}
