//! OpenID4VP verifier sessions: what a relying party asked and what came back. Rows are plain
//! data; the verifier crate owns every rule about them. Completion is one conditional UPDATE
//! (`status = 'pending'`), so two responses racing for one session cannot both complete it.
use sqlx::FromRow;

use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct VerifierSessionRow {
    pub id: String,
    /// SHA-256 hex of the relying party's API token.
    pub owner: String,
    pub state: String,
    pub nonce: String,
    /// JSON text of the request (query, response mode, client id, flow).
    pub request: String,
    /// `pending`, `verified` or `failed`.
    pub status: String,
    /// JSON text of the verified claims.
    pub result: Option<String>,
    pub error_code: Option<String>,
    pub error_detail: Option<String>,
    /// SHA-256 hex of the same-device response_code.
    pub response_code_hash: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
}

/// How a pending session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierOutcome {
    /// `verified` or `failed`.
    pub status: String,
    pub result: Option<String>,
    pub error_code: Option<String>,
    pub error_detail: Option<String>,
    pub response_code_hash: Option<String>,
    pub completed_at: i64,
}

macro_rules! session_columns {
    () => {
        "id, owner, state, nonce, request, status, result, error_code, error_detail, \
         response_code_hash, created_at, expires_at, completed_at"
    };
}

impl Store {
    pub async fn insert_verifier_session(
        &self,
        row: &VerifierSessionRow,
    ) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO verifier_sessions (",
            session_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&row.id)
        .bind(&row.owner)
        .bind(&row.state)
        .bind(&row.nonce)
        .bind(&row.request)
        .bind(&row.status)
        .bind(&row.result)
        .bind(&row.error_code)
        .bind(&row.error_detail)
        .bind(&row.response_code_hash)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(row.completed_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn verifier_session(
        &self,
        id: &str,
    ) -> Result<Option<VerifierSessionRow>, StoreError> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM verifier_sessions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Ends a pending session: true if this call completed it, false if it was not pending
    /// (already completed by another response) or does not exist.
    pub async fn complete_verifier_session(
        &self,
        id: &str,
        outcome: &VerifierOutcome,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE verifier_sessions SET status = $2, result = $3, error_code = $4, \
             error_detail = $5, response_code_hash = $6, completed_at = $7 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(&outcome.status)
        .bind(&outcome.result)
        .bind(&outcome.error_code)
        .bind(&outcome.error_detail)
        .bind(&outcome.response_code_hash)
        .bind(outcome.completed_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records on a pending session why an answer was refused, leaving it pending (an
    /// unauthenticated answer must not end a session the genuine wallet can still answer);
    /// false if the session is not pending.
    pub async fn note_verifier_attempt(
        &self,
        id: &str,
        error_code: &str,
        error_detail: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE verifier_sessions SET error_code = $2, error_detail = $3 \
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(error_code)
        .bind(error_detail)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes sessions that expired at or before `before`; returns how many.
    pub async fn purge_verifier_sessions(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM verifier_sessions WHERE expires_at <= $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, state: &str) -> VerifierSessionRow {
        VerifierSessionRow {
            id: id.into(),
            owner: "owner".into(),
            state: state.into(),
            nonce: "nonce".into(),
            request: "{}".into(),
            status: "pending".into(),
            result: None,
            error_code: None,
            error_detail: None,
            response_code_hash: None,
            created_at: 100,
            expires_at: 400,
            completed_at: None,
        }
    }

    #[tokio::test]
    async fn a_session_completes_once() {
        let store = Store::connect_in_memory().await.unwrap();
        store
            .insert_verifier_session(&row("s1", "st1"))
            .await
            .unwrap();
        assert!(
            store
                .insert_verifier_session(&row("s2", "st1"))
                .await
                .is_err(),
            "state is unique"
        );
        let outcome = VerifierOutcome {
            status: "verified".into(),
            result: Some("{}".into()),
            error_code: None,
            error_detail: None,
            response_code_hash: Some("h".into()),
            completed_at: 200,
        };
        assert!(
            store
                .complete_verifier_session("s1", &outcome)
                .await
                .unwrap()
        );
        assert!(
            !store
                .complete_verifier_session("s1", &outcome)
                .await
                .unwrap()
        );
        let stored = store.verifier_session("s1").await.unwrap().unwrap();
        assert_eq!(stored.status, "verified");
        assert_eq!(stored.completed_at, Some(200));
        assert_eq!(store.purge_verifier_sessions(400).await.unwrap(), 1);
        assert!(store.verifier_session("s1").await.unwrap().is_none());
    }
}
