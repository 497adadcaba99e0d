//! Key Registry storage: entities, keys, enrolment secrets, admin tokens, the transparency log,
//! its signed checkpoints and the audit trail. Rows are plain data; the registry crate turns
//! them into its types and owns every rule about them.
use sqlx::{Any, Executor, FromRow, Transaction};

use crate::replay::{self, Replay};
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct EntityRow {
    pub id: String,
    pub role: String,
    pub display_name: String,
    /// JSON text of what the entity may do.
    pub allowances: String,
    pub status: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct KeyRow {
    pub kid: String,
    pub entity_id: String,
    /// JSON text of the public JWK.
    pub jwk: String,
    pub key_use: String,
    pub alg: String,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
    pub status: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
    /// Index of the log entry that added the key.
    pub log_index: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct LogLeafRow {
    pub leaf_index: i64,
    pub leaf: String,
    /// Hex of the RFC 9162 leaf hash.
    pub leaf_hash: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct CheckpointRow {
    pub tree_size: i64,
    /// Hex of the Merkle root.
    pub root_hash: String,
    /// The checkpoint as signed by the registry key (a compact JWS).
    pub signed: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AdminTokenRow {
    /// Hex of SHA-256 of the token; the token itself is never stored.
    pub token_hash: String,
    /// Space-separated scopes.
    pub scopes: String,
    pub description: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AuditRow {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub entity_id: Option<String>,
    pub kid: Option<String>,
    /// `accepted` or `refused`.
    pub outcome: String,
    pub error_code: Option<String>,
    pub detail: String,
}

/// What happened to an enrolment secret presented for use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretUse {
    /// It was valid and is now spent.
    Accepted,
    /// No such secret for this entity.
    Unknown,
    Expired,
    AlreadyUsed,
}

/// Column lists as macros, so that queries stay `&'static str` literals (sqlx refuses SQL built
/// at run time unless it is asserted safe).
macro_rules! entity_columns {
    () => {
        "id, role, display_name, allowances, status, created_at, updated_at"
    };
}
macro_rules! key_columns {
    () => {
        "kid, entity_id, jwk, key_use, alg, nbf, exp, status, created_at, retired_at, revoked_at, \
         revocation_reason, log_index"
    };
}

/// A write transaction: every change of one registry operation, its log entry and checkpoint
/// commit together or not at all.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
}

impl WriteTx {
    pub(crate) fn new(tx: Transaction<'static, Any>) -> Self {
        Self { tx }
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }

    pub async fn entity(&mut self, id: &str) -> Result<Option<EntityRow>, StoreError> {
        fetch_entity(&mut *self.tx, id).await
    }

    pub async fn insert_entity(&mut self, row: &EntityRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registry_entities (id, role, display_name, allowances, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&row.id)
        .bind(&row.role)
        .bind(&row.display_name)
        .bind(&row.allowances)
        .bind(&row.status)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn set_entity_status(
        &mut self,
        id: &str,
        status: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE registry_entities SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(status)
            .bind(at)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn key(&mut self, kid: &str) -> Result<Option<KeyRow>, StoreError> {
        fetch_key(&mut *self.tx, kid).await
    }

    pub async fn keys_of(&mut self, entity_id: &str) -> Result<Vec<KeyRow>, StoreError> {
        fetch_keys_of(&mut *self.tx, entity_id).await
    }

    pub async fn insert_key(&mut self, row: &KeyRow) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO registry_keys (",
            key_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&row.kid)
        .bind(&row.entity_id)
        .bind(&row.jwk)
        .bind(&row.key_use)
        .bind(&row.alg)
        .bind(row.nbf)
        .bind(row.exp)
        .bind(&row.status)
        .bind(row.created_at)
        .bind(row.retired_at)
        .bind(row.revoked_at)
        .bind(&row.revocation_reason)
        .bind(row.log_index)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Writes the lifecycle columns (status, retirement, revocation) of `row`.
    pub async fn update_key_lifecycle(&mut self, row: &KeyRow) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE registry_keys SET status = $1, retired_at = $2, revoked_at = $3, revocation_reason = $4 \
             WHERE kid = $5",
        )
        .bind(&row.status)
        .bind(row.retired_at)
        .bind(row.revoked_at)
        .bind(&row.revocation_reason)
        .bind(&row.kid)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn insert_enrolment_secret(
        &mut self,
        secret_hash: &str,
        entity_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO registry_enrolment_secrets (secret_hash, entity_id, expires_at) VALUES ($1, $2, $3)")
            .bind(secret_hash)
            .bind(entity_id)
            .bind(expires_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Spends the secret if it belongs to `entity_id`, is unused and has not expired at `now`;
    /// one conditional UPDATE decides, so two racing uses cannot both succeed.
    pub async fn use_enrolment_secret(
        &mut self,
        secret_hash: &str,
        entity_id: &str,
        now: i64,
    ) -> Result<SecretUse, StoreError> {
        let spent = sqlx::query(
            "UPDATE registry_enrolment_secrets SET used_at = $1 \
             WHERE secret_hash = $2 AND entity_id = $3 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(secret_hash)
        .bind(entity_id)
        .execute(&mut *self.tx)
        .await?;
        if spent.rows_affected() == 1 {
            return Ok(SecretUse::Accepted);
        }
        let found: Option<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT expires_at, used_at FROM registry_enrolment_secrets WHERE secret_hash = $1 AND entity_id = $2",
        )
        .bind(secret_hash)
        .bind(entity_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(match found {
            None => SecretUse::Unknown,
            Some((_, Some(_))) => SecretUse::AlreadyUsed,
            Some(_) => SecretUse::Expired,
        })
    }

    /// The replay cache inside this transaction: the record stands only if the operation does.
    pub async fn check_and_record_at(
        &mut self,
        scope: &str,
        value: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<Replay, StoreError> {
        replay::record(&mut *self.tx, scope, value, expires_at, now).await
    }

    /// Every leaf hash, in log order.
    pub async fn log_leaf_hashes(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT leaf_hash FROM registry_log ORDER BY leaf_index")
                .fetch_all(&mut *self.tx)
                .await?,
        )
    }

    /// Appends a leaf at `row.leaf_index`; a concurrent writer that took the index first makes
    /// this fail with a conflict ([`StoreError::is_conflict`]).
    pub async fn append_leaf(&mut self, row: &LogLeafRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO registry_log (leaf_index, leaf, leaf_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(row.leaf_index)
            .bind(&row.leaf)
            .bind(&row.leaf_hash)
            .bind(row.created_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn insert_checkpoint(&mut self, row: &CheckpointRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO registry_checkpoints (tree_size, root_hash, signed, created_at) VALUES ($1, $2, $3, $4)")
            .bind(row.tree_size)
            .bind(&row.root_hash)
            .bind(&row.signed)
            .bind(row.created_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

impl Store {
    pub async fn registry_entity(&self, id: &str) -> Result<Option<EntityRow>, StoreError> {
        fetch_entity(&self.pool, id).await
    }

    pub async fn registry_entities(&self) -> Result<Vec<EntityRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            entity_columns!(),
            " FROM registry_entities ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn registry_key(&self, kid: &str) -> Result<Option<KeyRow>, StoreError> {
        fetch_key(&self.pool, kid).await
    }

    pub async fn registry_keys_of(&self, entity_id: &str) -> Result<Vec<KeyRow>, StoreError> {
        fetch_keys_of(&self.pool, entity_id).await
    }

    pub async fn registry_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            key_columns!(),
            " FROM registry_keys ORDER BY kid"
        ))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Leaves with `from <= leaf_index < to`, in order.
    pub async fn registry_log_leaves(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Vec<LogLeafRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT leaf_index, leaf, leaf_hash, created_at FROM registry_log \
             WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The checkpoint of the largest tree.
    pub async fn registry_latest_checkpoint(&self) -> Result<Option<CheckpointRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT tree_size, root_hash, signed, created_at FROM registry_checkpoints \
             ORDER BY tree_size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn registry_checkpoint(
        &self,
        tree_size: i64,
    ) -> Result<Option<CheckpointRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT tree_size, root_hash, signed, created_at FROM registry_checkpoints WHERE tree_size = $1",
        )
        .bind(tree_size)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Records a decision. Written outside any operation's transaction, so a refusal is audited
    /// although the operation stored nothing.
    pub async fn insert_audit(&self, row: &AuditRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registry_audit (at, actor, action, entity_id, kid, outcome, error_code, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(row.at)
        .bind(&row.actor)
        .bind(&row.action)
        .bind(&row.entity_id)
        .bind(&row.kid)
        .bind(&row.outcome)
        .bind(&row.error_code)
        .bind(&row.detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest `limit` audit records, newest first.
    pub async fn audit_records(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT at, actor, action, entity_id, kid, outcome, error_code, detail FROM registry_audit \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn insert_admin_token(&self, row: &AdminTokenRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registry_admin_tokens (token_hash, scopes, description, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&row.token_hash)
        .bind(&row.scopes)
        .bind(&row.description)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn admin_token(&self, token_hash: &str) -> Result<Option<AdminTokenRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT token_hash, scopes, description, created_at, expires_at FROM registry_admin_tokens \
             WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }
}

async fn fetch_entity<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    id: &str,
) -> Result<Option<EntityRow>, StoreError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        entity_columns!(),
        " FROM registry_entities WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?)
}

async fn fetch_key<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    kid: &str,
) -> Result<Option<KeyRow>, StoreError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        key_columns!(),
        " FROM registry_keys WHERE kid = $1"
    ))
    .bind(kid)
    .fetch_optional(executor)
    .await?)
}

async fn fetch_keys_of<'e, E: Executor<'e, Database = Any>>(
    executor: E,
    entity_id: &str,
) -> Result<Vec<KeyRow>, StoreError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        key_columns!(),
        " FROM registry_keys WHERE entity_id = $1 ORDER BY created_at, kid"
    ))
    .bind(entity_id)
    .fetch_all(executor)
    .await?)
}
