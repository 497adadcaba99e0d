//! The notification endpoint (OpenID4VCI 1.0 s11): the wallet tells what became of the
//! credentials of one issuance. Each `notification_id` is bound to its grant and used once.
use serde_json::{Map, Value};

use crate::{Issuer, IssuerError, taken};

/// OpenID4VCI 1.0 s11.1: the events a wallet may report.
pub const NOTIFICATION_EVENTS: &[&str] = &[
    "credential_accepted",
    "credential_failure",
    "credential_deleted",
];
const SCOPE: &str = "issuer:notification-id";

impl Issuer {
    /// A fresh notification_id for the credentials just issued under `offer_id`.
    pub(crate) async fn record_notification_id(
        &self,
        offer_id: &str,
    ) -> Result<String, IssuerError> {
        let id = immerse_jose::base64url::random(16)?;
        let expires_at = self.now() + self.config().access_token_lifetime.max(1) * 12;
        self.inner
            .store
            .check_and_record(SCOPE, &format!("{offer_id}|{id}"), expires_at)
            .await?;
        Ok(id)
    }

    /// s11.1-s11.3: authorized like the credential endpoint; `notification_id` must be one we
    /// returned under the same grant and not yet used; `event` one of s11.1.
    pub async fn notification(
        &self,
        authorization: Option<&str>,
        dpop: Option<&str>,
        body: &[u8],
    ) -> Result<(), IssuerError> {
        let grant = self.authorize(authorization, dpop, "notification").await?;
        let request: Map<String, Value> = serde_json::from_slice(body).map_err(|_| {
            IssuerError::InvalidNotificationRequest("the body is not a JSON object".into())
        })?;
        let id = request
            .get("notification_id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                IssuerError::InvalidNotificationRequest("notification_id is missing".into())
            })?;
        let event = request
            .get("event")
            .and_then(Value::as_str)
            .filter(|event| NOTIFICATION_EVENTS.contains(event))
            .ok_or_else(|| {
                IssuerError::InvalidNotificationRequest("event is missing or unknown".into())
            })?;
        let key = format!("{}|{id}", grant.offer_id);
        if !taken(self.inner.store.take_once(SCOPE, &key, self.now()).await)? {
            return Err(IssuerError::InvalidNotificationId(
                "unknown or already used notification_id".into(),
            ));
        }
        tracing::info!(offer_id = %grant.offer_id, event, "wallet notification");
        Ok(())
    }
}
