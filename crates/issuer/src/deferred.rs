//! Deferred issuance (OpenID4VCI 1.0 s9): the credential request was valid but the back office
//! is not ready; the wallet gets a `transaction_id` and asks again at the deferred endpoint.
use immerse_jose::PublicJwk;
use immerse_store::DeferredRow;
use serde_json::{Map, Value, json};

use crate::credential::{CredentialResponse, seal};
use crate::{Issuer, IssuerError};

/// s8.3 `interval`: seconds the wallet should wait before asking again.
pub(crate) const DEFERRED_INTERVAL: i64 = 5;
/// How long a transaction waits for the back office.
const DEFERRED_LIFETIME: i64 = 7 * 24 * 3600;

impl Issuer {
    /// Records the checked holder keys under a fresh transaction_id.
    pub(crate) async fn defer(
        &self,
        offer_id: &str,
        configuration_id: &str,
        keys: &[PublicJwk],
    ) -> Result<String, IssuerError> {
        let transaction_id = immerse_jose::base64url::random(24)?;
        let now = self.now();
        let keys: Vec<Value> = keys
            .iter()
            .map(|key| Value::Object(key.to_object()))
            .collect();
        self.inner
            .store
            .insert_deferred(&DeferredRow {
                transaction_id: transaction_id.clone(),
                offer_id: offer_id.to_owned(),
                configuration_id: configuration_id.to_owned(),
                holder_keys: Value::from(keys).to_string(),
                state: "pending".into(),
                created_at: now,
                expires_at: now + DEFERRED_LIFETIME,
            })
            .await?;
        tracing::info!(%offer_id, "credential issuance deferred");
        Ok(transaction_id)
    }

    /// Admin: the back office is ready; pending transactions of the offer can complete.
    pub async fn mark_offer_ready(&self, offer_id: &str) -> Result<(), IssuerError> {
        if self.inner.store.set_offer_ready(offer_id).await? {
            Ok(())
        } else {
            Err(IssuerError::NotFound)
        }
    }

    /// s9.1-s9.3: authorized like the credential endpoint; the transaction must be pending and
    /// belong to the token's grant; 202 again while the offer is not ready, else the
    /// credentials, once.
    pub async fn deferred_credential(
        &self,
        authorization: Option<&str>,
        dpop: Option<&str>,
        body: &[u8],
    ) -> Result<CredentialResponse, IssuerError> {
        let grant = self
            .authorize(authorization, dpop, "deferred_credential")
            .await?;
        let request: Map<String, Value> = serde_json::from_slice(body).map_err(|_| {
            IssuerError::InvalidCredentialRequest("the body is not a JSON object".into())
        })?;
        let transaction_id = request
            .get("transaction_id")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                IssuerError::InvalidCredentialRequest("transaction_id is missing".into())
            })?;
        let encryption = self.response_encryption(request.get("credential_response_encryption"))?;
        let unknown =
            || IssuerError::InvalidTransactionId("unknown or completed transaction".into());
        let row = self
            .inner
            .store
            .pending_deferred(transaction_id, &grant.offer_id, self.now())
            .await?
            .ok_or_else(unknown)?;
        let offer = self
            .inner
            .store
            .offer(&row.offer_id)
            .await?
            .ok_or_else(unknown)?;
        if offer.status != "active" {
            return Err(IssuerError::CredentialRequestDenied(
                "the offer was revoked".into(),
            ));
        }
        if offer.ready == 0 {
            let body = json!({"transaction_id": transaction_id, "interval": DEFERRED_INTERVAL});
            return Ok(CredentialResponse {
                deferred: true,
                body: seal(body, encryption.as_ref())?,
            });
        }
        let conf = self
            .config()
            .configuration(&row.configuration_id)
            .ok_or_else(|| {
                IssuerError::UnknownCredentialConfiguration(row.configuration_id.clone())
            })?;
        let keys: Vec<Value> = serde_json::from_str(&row.holder_keys)
            .map_err(|err| IssuerError::Internal(err.to_string()))?;
        let keys = keys
            .into_iter()
            .map(PublicJwk::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        // One UPDATE decides: a racing second poll gets invalid_transaction_id.
        if !self.inner.store.complete_deferred(transaction_id).await? {
            return Err(unknown());
        }
        let body = self.issue_credentials(&offer, conf, keys).await?;
        Ok(CredentialResponse {
            deferred: false,
            body: seal(body, encryption.as_ref())?,
        })
    }
}
