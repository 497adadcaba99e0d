//! Token Status Lists (draft-ietf-oauth-status-list): one row per issued credential in the
//! store; the list token is built from those rows and signed with the issuer key on request.
use immerse_status_list::{Bits, Status, StatusList, StatusListToken};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Issuer, IssuerError};

/// Two bits per entry: VALID, INVALID, SUSPENDED (draft s7.1).
pub(crate) const LIST_BITS: i64 = 2;

/// What the admin API sets on the credentials of an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialStatus {
    Valid,
    /// Revoked for good (INVALID); the offer's code and tokens get nothing more.
    Revoked,
    Suspended,
}

impl Issuer {
    pub fn status_list_uri(&self, list_id: &str) -> String {
        format!("{}/statuslists/{list_id}", self.config().issuer)
    }

    /// The admin operation: sets `status` on every credential issued under `offer_id`.
    pub async fn set_credential_status(
        &self,
        offer_id: &str,
        status: CredentialStatus,
    ) -> Result<u64, IssuerError> {
        if self.inner.store.offer(offer_id).await?.is_none() {
            return Err(IssuerError::NotFound);
        }
        let (value, revoke) = match status {
            CredentialStatus::Valid => (Status::Valid, false),
            CredentialStatus::Revoked => (Status::Invalid, true),
            CredentialStatus::Suspended => (Status::Suspended, false),
        };
        let updated = self
            .inner
            .store
            .set_offer_credential_status(offer_id, i64::from(value.value()), revoke)
            .await?;
        tracing::info!(%offer_id, ?status, updated, "credential status set");
        Ok(updated)
    }

    /// The signed Status List Token (`statuslist+jwt`, draft s5.1) of `list_id`, `sub` = its
    /// URI, with `exp` and `ttl`.
    pub async fn status_list_token(&self, list_id: &str) -> Result<String, IssuerError> {
        let row = self
            .inner
            .store
            .status_list(list_id)
            .await?
            .ok_or(IssuerError::NotFound)?;
        let capacity =
            usize::try_from(row.capacity).map_err(|err| IssuerError::Internal(err.to_string()))?;
        let mut list = StatusList::new(Bits::Two, capacity);
        for (idx, status) in self.inner.store.non_valid_statuses(list_id).await? {
            let idx = usize::try_from(idx).map_err(|err| IssuerError::Internal(err.to_string()))?;
            let status =
                u8::try_from(status).map_err(|err| IssuerError::Internal(err.to_string()))?;
            list.set(idx, Status::from(status))?;
        }
        let now = self.now();
        let ttl = self.config().status_list_ttl;
        let token = StatusListToken {
            sub: self.status_list_uri(list_id),
            iat: now,
            exp: Some(now + i64::try_from(ttl).unwrap_or(i64::MAX / 2).max(1) * 2),
            ttl: Some(ttl.max(1)),
            list,
        };
        Ok(token.sign(&*self.signer()).await?)
    }

    /// `/.well-known/credential-status.json`: the status lists this issuer serves.
    pub async fn status_list_index(&self) -> Result<Value, IssuerError> {
        let lists: Vec<Value> = self
            .inner
            .store
            .status_lists()
            .await?
            .into_iter()
            .map(|row| {
                json!({
                    "uri": self.status_list_uri(&row.list_id),
                    "bits": row.bits,
                    "size": row.capacity,
                })
            })
            .collect();
        Ok(json!({"issuer": self.config().issuer, "status_lists": lists}))
    }
}
