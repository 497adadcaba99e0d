//! What the registry publishes: JWKS, signed entity statements and historical keys, its own
//! entity configuration, checkpoints and log proofs, and the integrity check of its own state.
use std::collections::HashMap;
use std::sync::Mutex;

use immerse_jose::jws::SigningHeader;
use immerse_jose::{PublicJwkSet, base64url, jwt};
use immerse_merkle::Hash;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::log::{self, Checkpoint};
use crate::model::{EntityStatus, KeyRecord, RevocationReason, key_valid_at};
use crate::{Registry, RegistryError};

/// JOSE `typ` of an entity statement (OpenID Federation 1.0 s3).
pub const ENTITY_STATEMENT_TYP: &str = "entity-statement+jwt";
/// JOSE `typ` of a historical key set (OpenID Federation 1.0 s8.7).
pub const HISTORICAL_KEYS_TYP: &str = "jwk-set+jwt";

/// Signed documents reused within one publication window, so that replicas and clients see a
/// stable body (and ETag) and the signing key is not asked to sign on every request. An entry
/// is reused only while the log has not grown, so a change is published at once.
#[derive(Default)]
pub(crate) struct SignedCache {
    entries: Mutex<HashMap<(&'static str, String), CachedDocument>>,
}

#[derive(Clone)]
struct CachedDocument {
    window: i64,
    tree_size: u64,
    token: String,
}

/// Proof that a log entry is in the tree a signed checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub leaf_index: u64,
    /// The entry's JSON text, base64url-encoded: the exact leaf bytes.
    pub leaf: String,
    /// Sibling hashes, base64url, leaf to root (RFC 9162 s2.1.3.1).
    pub proof: Vec<String>,
    /// The signed checkpoint the proof leads to.
    pub checkpoint: String,
}

impl InclusionProof {
    /// Checks the checkpoint signature (as of `now`) and the proof; returns the checkpoint and
    /// the leaf bytes.
    pub fn verify(
        &self,
        registry_key: &immerse_jose::PublicJwk,
        registry_id: &str,
        now: i64,
    ) -> Result<(Checkpoint, Vec<u8>), RegistryError> {
        let checkpoint = Checkpoint::verify(&self.checkpoint, registry_key, registry_id, now)?;
        let leaf = base64url::decode(&self.leaf, "leaf").map_err(RegistryError::InvalidProof)?;
        let proof = self
            .proof
            .iter()
            .map(|hash| log::decode_hash(hash))
            .collect::<Result<Vec<_>, _>>()?;
        immerse_merkle::verify_inclusion(
            &immerse_merkle::leaf_hash(&leaf),
            self.leaf_index,
            checkpoint.tree_size,
            &proof,
            &checkpoint.root()?,
        )
        .map_err(|err| RegistryError::Integrity(format!("inclusion proof: {err}")))?;
        Ok((checkpoint, leaf))
    }
}

/// What `verify_integrity` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    pub tree_size: u64,
    pub root_hash: String,
    pub entities: usize,
    pub keys: usize,
}

impl Registry {
    /// The entity's keys valid now, as a JWK Set.
    pub async fn jwks(&self, entity_id: &str) -> Result<PublicJwkSet, RegistryError> {
        let entity = self.entity(entity_id).await?;
        let now = self.now();
        let keys = self
            .keys(entity_id)
            .await?
            .iter()
            .filter(|key| key_valid_at(key, entity.status, now, self.config.retention).is_ok())
            .map(KeyRecord::published_jwk)
            .collect();
        Ok(PublicJwkSet { keys })
    }

    /// The signed entity statement: keys valid now, role and allowances, and for each key the
    /// log entry that added it with its inclusion proof.
    pub async fn entity_statement(&self, entity_id: &str) -> Result<String, RegistryError> {
        let (now, tree_size, hit) = self.cache_lookup(ENTITY_STATEMENT_TYP, entity_id).await?;
        if let Some(token) = hit {
            return Ok(token);
        }
        let registry = self;
        let claims = {
            let entity = registry.entity(entity_id).await?;
            let jwks = registry.jwks(entity_id).await?;
            let keys = registry.keys(entity_id).await?;
            let (leaves, checkpoint) = registry.log_snapshot().await?;
            let mut proofs = Vec::new();
            for jwk in &jwks.keys {
                if let Some(key) = keys.iter().find(|key| Some(key.kid.as_str()) == jwk.kid()) {
                    proofs.push(json!({"kid": key.kid, "inclusion": inclusion(&leaves, key.log_index, &checkpoint)?}));
                }
            }
            let claims = json!({
                "iss": registry.config.registry_id,
                "sub": entity.id,
                "iat": now,
                "exp": now + registry.config.statement_lifetime,
                "jwks": jwks,
                "metadata": {
                    "federation_entity": {"organization_name": entity.display_name},
                    "immerse_entity": {
                        "role": entity.role,
                        "status": entity.status,
                        "allowances": entity.allowances,
                    },
                },
                "immerse_log": {"keys": proofs},
            });
            claims
        };
        self.sign_and_cache(ENTITY_STATEMENT_TYP, entity_id, now, tree_size, claims)
            .await
    }

    /// Every key the entity has had, with its lifecycle (OpenID Federation 1.0 s8.7 shape,
    /// extended with `nbf`, `retired_at` and `status` so that a client can apply the same
    /// validity rule as the registry).
    pub async fn historical_keys(&self, entity_id: &str) -> Result<String, RegistryError> {
        let (now, tree_size, hit) = self.cache_lookup(HISTORICAL_KEYS_TYP, entity_id).await?;
        if let Some(token) = hit {
            return Ok(token);
        }
        let entity = self.entity(entity_id).await?;
        let keys: Vec<Value> = self
            .keys(entity_id)
            .await?
            .iter()
            .map(historical_key)
            .collect();
        let claims = json!({
            "iss": self.config.registry_id,
            "sub": entity.id,
            "iat": now,
            "exp": now + self.config.statement_lifetime,
            "entity_status": entity.status,
            "keys": keys,
        });
        self.sign_and_cache(HISTORICAL_KEYS_TYP, entity_id, now, tree_size, claims)
            .await
    }

    /// The registry's own entity configuration (`iss` == `sub`), signed by its root key.
    pub async fn entity_configuration(&self) -> Result<String, RegistryError> {
        let id = &self.config.registry_id;
        let (now, tree_size, hit) = self.cache_lookup(ENTITY_STATEMENT_TYP, "").await?;
        if let Some(token) = hit {
            return Ok(token);
        }
        let registry = self;
        let claims = json!({
                "iss": id,
                "sub": id,
                "iat": now,
                "exp": now + registry.config.statement_lifetime,
                "jwks": {"keys": [registry.root_key()]},
                "metadata": {"federation_entity": {
                    "organization_name": "IMMERSE Key Registry",
                    "immerse_log_checkpoint_endpoint": format!("{id}/v1/log/checkpoint"),
                }},
        });
        self.sign_and_cache(ENTITY_STATEMENT_TYP, "", now, tree_size, claims)
            .await
    }

    /// The newest signed checkpoint.
    pub async fn checkpoint(&self) -> Result<String, RegistryError> {
        self.store
            .registry_latest_checkpoint()
            .await?
            .map(|row| row.signed)
            .ok_or_else(|| RegistryError::NotFound("checkpoint (the log is empty)".into()))
    }

    /// Inclusion proof of entry `index` in the newest checkpoint's tree.
    pub async fn inclusion_proof(&self, index: u64) -> Result<InclusionProof, RegistryError> {
        let (leaves, checkpoint) = self.log_snapshot().await?;
        inclusion(&leaves, index, &checkpoint)
    }

    /// Consistency proof from tree size `from` to `to` (RFC 9162 s2.1.4), as base64url hashes.
    pub async fn consistency_proof(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<String>, RegistryError> {
        let (leaves, _) = self.log_snapshot().await?;
        if to > leaves.len() as u64 {
            return Err(RegistryError::NotFound(format!("tree size {to}")));
        }
        let hashes: Vec<Hash> = leaves[..to as usize]
            .iter()
            .map(|(_, hash)| *hash)
            .collect();
        immerse_merkle::consistency_proof(&hashes, from)
            .map(|proof| proof.iter().map(base64url::encode).collect())
            .map_err(|err| RegistryError::InvalidRequest(err.to_string()))
    }

    /// Recomputes the tree from the stored entries and checks it against the newest signed
    /// checkpoint; replays the entries and checks that every stored entity and key matches.
    /// A row changed by hand, in the log or in the state tables, fails here.
    pub async fn verify_integrity(&self) -> Result<IntegrityReport, RegistryError> {
        let leaves = log::load_leaves(&self.store).await?;
        let hashes: Vec<Hash> = leaves.iter().map(|(_, hash)| *hash).collect();
        let root = immerse_merkle::root(&hashes);
        match self.store.registry_latest_checkpoint().await? {
            None if leaves.is_empty() => {}
            None => {
                return Err(RegistryError::Integrity(
                    "entries without a checkpoint".into(),
                ));
            }
            Some(row) => {
                let checkpoint = Checkpoint::verify(
                    &row.signed,
                    self.root_key(),
                    &self.config.registry_id,
                    self.now(),
                )
                .map_err(|err| RegistryError::Integrity(format!("newest checkpoint: {err}")))?;
                if checkpoint.tree_size != hashes.len() as u64 || checkpoint.root()? != root {
                    return Err(RegistryError::Integrity(format!(
                        "the stored entries do not hash to the signed checkpoint (size {} vs {})",
                        hashes.len(),
                        checkpoint.tree_size
                    )));
                }
            }
        }
        let replayed = log::replay(&leaves)?;
        let entities = self.store.registry_entities().await?;
        if entities.len() != replayed.entities.len() {
            return Err(RegistryError::Integrity(
                "entity table and log disagree on the count".into(),
            ));
        }
        for row in entities {
            let entity = crate::model::Entity::try_from(row)?;
            let expected = replayed.entities.get(&entity.id);
            let actual = (
                entity.role,
                entity.display_name.clone(),
                entity.allowances.clone(),
                entity.status,
            );
            if expected != Some(&actual) {
                return Err(RegistryError::Integrity(format!(
                    "entity {} differs from the log",
                    entity.id
                )));
            }
        }
        let keys = self.store.registry_keys().await?;
        if keys.len() != replayed.keys.len() {
            return Err(RegistryError::Integrity(
                "key table and log disagree on the count".into(),
            ));
        }
        for row in keys {
            let kid = row.kid.clone();
            let key = KeyRecord::try_from(row)
                .map_err(|err| RegistryError::Integrity(err.to_string()))?;
            let matches = replayed.keys.get(&kid) == Some(&key);
            if !matches {
                return Err(RegistryError::Integrity(format!(
                    "key {kid} differs from the log"
                )));
            }
        }
        Ok(IntegrityReport {
            tree_size: hashes.len() as u64,
            root_hash: base64url::encode(root),
            entities: replayed.entities.len(),
            keys: replayed.keys.len(),
        })
    }

    /// All leaves and the checkpoint over exactly them. Leaves appended after the checkpoint
    /// was read are cut off, so the two always agree.
    async fn log_snapshot(
        &self,
    ) -> Result<(Vec<(immerse_store::LogLeafRow, Hash)>, String), RegistryError> {
        let checkpoint = self.checkpoint().await?;
        let size = Checkpoint::verify(
            &checkpoint,
            self.root_key(),
            &self.config.registry_id,
            self.now(),
        )?
        .tree_size;
        let mut leaves = log::load_leaves(&self.store).await?;
        leaves.truncate(size as usize);
        Ok((leaves, checkpoint))
    }

    /// The publication window `now` falls in, the log size, and the document signed for
    /// (`typ`, `subject`) in that window at that size, if there is one.
    async fn cache_lookup(
        &self,
        typ: &'static str,
        subject: &str,
    ) -> Result<(i64, u64, Option<String>), RegistryError> {
        let now = self.now();
        let window_length = self.config.publication_window.max(1);
        let window = now - now.rem_euclid(window_length);
        let tree_size = match self.store.registry_latest_checkpoint().await? {
            Some(row) => row.tree_size as u64,
            None => 0,
        };
        let hit = self
            .cache
            .entries
            .lock()
            .ok()
            .and_then(|entries| entries.get(&(typ, subject.to_owned())).cloned())
            .filter(|cached| cached.window == window && cached.tree_size == tree_size)
            .map(|cached| cached.token);
        Ok((window, tree_size, hit))
    }

    /// Signs `claims` with `typ` and keeps the result for the rest of the window.
    async fn sign_and_cache(
        &self,
        typ: &'static str,
        subject: &str,
        window: i64,
        tree_size: u64,
        claims: Value,
    ) -> Result<String, RegistryError> {
        let token = jwt::sign(&*self.signer, &SigningHeader::new(typ), &claims)
            .await
            .map_err(RegistryError::Signing)?;
        if let Ok(mut entries) = self.cache.entries.lock() {
            let document = CachedDocument {
                window,
                tree_size,
                token: token.clone(),
            };
            entries.insert((typ, subject.to_owned()), document);
        }
        Ok(token)
    }
}

fn inclusion(
    leaves: &[(immerse_store::LogLeafRow, Hash)],
    index: u64,
    checkpoint: &str,
) -> Result<InclusionProof, RegistryError> {
    let hashes: Vec<Hash> = leaves.iter().map(|(_, hash)| *hash).collect();
    let proof = immerse_merkle::inclusion_proof(&hashes, index)
        .map_err(|_| RegistryError::NotFound(format!("log entry {index}")))?;
    Ok(InclusionProof {
        leaf_index: index,
        leaf: base64url::encode(&leaves[index as usize].0.leaf),
        proof: proof.iter().map(base64url::encode).collect(),
        checkpoint: checkpoint.to_owned(),
    })
}

fn historical_key(key: &KeyRecord) -> Value {
    let mut jwk = key.published_jwk().to_object();
    jwk.insert("iat".into(), json!(key.created_at));
    jwk.insert("status".into(), json!(key.status));
    for (name, value) in [
        ("nbf", key.nbf),
        ("exp", key.exp),
        ("retired_at", key.retired_at),
    ] {
        if let Some(value) = value {
            jwk.insert(name.into(), json!(value));
        }
    }
    if let Some(revoked_at) = key.revoked_at {
        let reason = key
            .revocation_reason
            .unwrap_or(RevocationReason::Unspecified);
        jwk.insert(
            "revoked".into(),
            json!({"revoked_at": revoked_at, "reason": reason}),
        );
    }
    Value::Object(jwk)
}

/// Whether the entity status string in a historical-key set is "active".
pub(crate) fn entity_status_of(claims: &serde_json::Map<String, Value>) -> EntityStatus {
    match claims.get("entity_status").and_then(Value::as_str) {
        Some("active") => EntityStatus::Active,
        _ => EntityStatus::Suspended,
    }
}
