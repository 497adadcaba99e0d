//! The registry's transparency log: every change is an entry, entries are RFC 9162 leaves, and
//! each append is sealed by a checkpoint (tree size, root hash, time) signed by the registry key.
use std::collections::BTreeMap;

use immerse_jose::jws::SigningHeader;
use immerse_jose::{PublicJwk, Signer, base64url, jwt};
use immerse_merkle::Hash;
use immerse_store::{CheckpointRow, LogLeafRow, Store, WriteTx};
use serde::{Deserialize, Serialize};

use crate::RegistryError;
use crate::model::{
    Allowances, EntityStatus, KeyRecord, KeyStatus, KeyUseName, RevocationReason, Role,
};

/// JOSE `typ` of a signed checkpoint.
pub const CHECKPOINT_TYP: &str = "log-checkpoint+jwt";

/// One change to the registry, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LogEvent {
    EntityCreated {
        entity: String,
        role: Role,
        display_name: String,
        allowances: Allowances,
    },
    EntitySuspended {
        entity: String,
    },
    EntityReactivated {
        entity: String,
    },
    KeyAdded {
        entity: String,
        kid: String,
        jwk: PublicJwk,
        key_use: KeyUseName,
        alg: String,
        nbf: Option<i64>,
        exp: Option<i64>,
    },
    KeyRetired {
        entity: String,
        kid: String,
    },
    KeyRevoked {
        entity: String,
        kid: String,
        reason: RevocationReason,
    },
}

/// A log entry: the leaf content is exactly its JSON serialization. (No `deny_unknown_fields`:
/// serde cannot combine it with `flatten`; a leaf is hashed as stored, so an added field is
/// caught by the checkpoint anyway.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub time: i64,
    #[serde(flatten)]
    pub event: LogEvent,
}

impl LogEntry {
    /// The key a `key_added` entry adds, as it stood when added (active, nothing retired or
    /// revoked yet); any other entry is handed back unchanged.
    pub(crate) fn into_added_key(self, index: u64) -> Result<KeyRecord, Box<LogEntry>> {
        match self.event {
            LogEvent::KeyAdded {
                entity,
                kid,
                jwk,
                key_use,
                alg,
                nbf,
                exp,
            } => Ok(KeyRecord {
                kid,
                entity_id: entity,
                jwk,
                key_use,
                alg,
                nbf,
                exp,
                status: KeyStatus::Active,
                created_at: self.time,
                retired_at: None,
                revoked_at: None,
                revocation_reason: None,
                log_index: index,
            }),
            event => Err(Box::new(LogEntry {
                time: self.time,
                event,
            })),
        }
    }
}

/// The claims of a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub iss: String,
    pub tree_size: u64,
    /// base64url of the Merkle root.
    pub root_hash: String,
    pub iat: i64,
}

impl Checkpoint {
    pub fn root(&self) -> Result<Hash, RegistryError> {
        decode_hash(&self.root_hash)
    }

    /// Verifies a signed checkpoint with the registry's public key, as of `now`.
    pub fn verify(
        signed: &str,
        registry_key: &PublicJwk,
        registry_id: &str,
        now: i64,
    ) -> Result<Self, RegistryError> {
        let mut validation = jwt::Validation::new(CHECKPOINT_TYP)
            .issuer(registry_id)
            .at(now);
        // A checkpoint records a past fact; freshness is judged from iat by whoever needs it.
        validation.require_exp = false;
        let verified =
            jwt::verify(signed, &validation, registry_key).map_err(RegistryError::InvalidProof)?;
        serde_json::from_value(serde_json::Value::Object(verified.into_inner().claims))
            .map_err(|err| RegistryError::InvalidRequest(format!("checkpoint claims: {err}")))
    }
}

pub(crate) fn decode_hash(text: &str) -> Result<Hash, RegistryError> {
    base64url::decode(text, "hash")
        .ok()
        .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok())
        .ok_or_else(|| RegistryError::InvalidRequest("a hash is not 32 bytes of base64url".into()))
}

fn hex_hash(text: &str) -> Result<Hash, RegistryError> {
    hex::decode(text)
        .ok()
        .and_then(|bytes| Hash::try_from(bytes.as_slice()).ok())
        .ok_or_else(|| RegistryError::Corrupt(format!("leaf hash {text:?} is not 32 bytes of hex")))
}

/// Appends `entry` inside `tx` and signs the new checkpoint; returns the entry's index.
pub(crate) async fn append(
    tx: &mut WriteTx,
    signer: &dyn Signer,
    registry_id: &str,
    entry: &LogEntry,
) -> Result<u64, RegistryError> {
    let mut hashes = tx
        .log_leaf_hashes()
        .await?
        .iter()
        .map(|hash| hex_hash(hash))
        .collect::<Result<Vec<_>, _>>()?;
    let index = hashes.len() as u64;
    let leaf =
        serde_json::to_string(entry).map_err(|err| RegistryError::Corrupt(err.to_string()))?;
    let leaf_hash = immerse_merkle::leaf_hash(leaf.as_bytes());
    tx.append_leaf(&LogLeafRow {
        leaf_index: index as i64,
        leaf,
        leaf_hash: hex::encode(leaf_hash),
        created_at: entry.time,
    })
    .await?;
    hashes.push(leaf_hash);
    let root = immerse_merkle::root(&hashes);
    let checkpoint = Checkpoint {
        iss: registry_id.to_owned(),
        tree_size: hashes.len() as u64,
        root_hash: base64url::encode(root),
        iat: entry.time,
    };
    let signed = jwt::sign(signer, &SigningHeader::new(CHECKPOINT_TYP), &checkpoint)
        .await
        .map_err(RegistryError::Signing)?;
    tx.insert_checkpoint(&CheckpointRow {
        tree_size: checkpoint.tree_size as i64,
        root_hash: hex::encode(root),
        signed,
        created_at: entry.time,
    })
    .await?;
    Ok(index)
}

/// All leaves with their hashes recomputed from the stored text (never trusting the stored
/// hash column), in order.
pub(crate) async fn load_leaves(store: &Store) -> Result<Vec<(LogLeafRow, Hash)>, RegistryError> {
    let rows = store.registry_log_leaves(0, i64::MAX).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let hash = immerse_merkle::leaf_hash(row.leaf.as_bytes());
            (row, hash)
        })
        .collect())
}

/// State recomputed from the log alone.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReplayedState {
    pub entities: BTreeMap<String, (Role, String, Allowances, EntityStatus)>,
    pub keys: BTreeMap<String, KeyRecord>,
}

/// Folds log entries into the state they describe.
pub(crate) fn replay(leaves: &[(LogLeafRow, Hash)]) -> Result<ReplayedState, RegistryError> {
    let mut state = ReplayedState::default();
    for (index, (row, _)) in leaves.iter().enumerate() {
        if row.leaf_index != index as i64 {
            return Err(RegistryError::Integrity(format!(
                "log has a gap before index {}",
                row.leaf_index
            )));
        }
        let entry: LogEntry = serde_json::from_str(&row.leaf).map_err(|err| {
            RegistryError::Integrity(format!("log entry {index} is unreadable: {err}"))
        })?;
        apply(&mut state, entry, index as u64)
            .map_err(|what| RegistryError::Integrity(format!("log entry {index}: {what}")))?;
    }
    Ok(state)
}

fn apply(state: &mut ReplayedState, entry: LogEntry, index: u64) -> Result<(), String> {
    let entry = match entry.into_added_key(index) {
        Ok(key) => return add_key(state, key),
        Err(entry) => *entry,
    };
    let set_entity_status = |state: &mut ReplayedState, entity: &str, status| {
        state
            .entities
            .get_mut(entity)
            .map(|record| record.3 = status)
            .ok_or_else(|| format!("unknown entity {entity}"))
    };
    match entry.event {
        LogEvent::EntityCreated {
            entity,
            role,
            display_name,
            allowances,
        } => {
            if state
                .entities
                .insert(
                    entity.clone(),
                    (role, display_name, allowances, EntityStatus::Active),
                )
                .is_some()
            {
                return Err(format!("entity {entity} created twice"));
            }
        }
        LogEvent::EntitySuspended { entity } => {
            set_entity_status(state, &entity, EntityStatus::Suspended)?
        }
        LogEvent::EntityReactivated { entity } => {
            set_entity_status(state, &entity, EntityStatus::Active)?
        }
        LogEvent::KeyAdded { .. } => unreachable!("key_added entries are applied by add_key"),
        LogEvent::KeyRetired { entity, kid } => {
            let key = owned_key(state, &entity, &kid)?;
            key.status = KeyStatus::Retired;
            key.retired_at = Some(entry.time);
        }
        LogEvent::KeyRevoked {
            entity,
            kid,
            reason,
        } => {
            let key = owned_key(state, &entity, &kid)?;
            key.status = KeyStatus::Revoked;
            key.revoked_at = Some(entry.time);
            key.revocation_reason = Some(reason);
        }
    }
    Ok(())
}

fn add_key(state: &mut ReplayedState, key: KeyRecord) -> Result<(), String> {
    if !state.entities.contains_key(&key.entity_id) {
        return Err(format!("key for unknown entity {}", key.entity_id));
    }
    if key.jwk.thumbprint_b64() != key.kid {
        return Err(format!("kid {} is not the key's thumbprint", key.kid));
    }
    let kid = key.kid.clone();
    if state.keys.insert(kid.clone(), key).is_some() {
        return Err(format!("key {kid} added twice"));
    }
    Ok(())
}

fn owned_key<'a>(
    state: &'a mut ReplayedState,
    entity: &str,
    kid: &str,
) -> Result<&'a mut KeyRecord, String> {
    state
        .keys
        .get_mut(kid)
        .filter(|key| key.entity_id == entity)
        .ok_or_else(|| format!("unknown key {kid} of {entity}"))
}
