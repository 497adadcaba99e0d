//! The credentials the wallet holds, each with the Holder Key its `cnf` names; their expiry
//! and status.
use std::sync::{Arc, RwLock};
use std::time::Duration;

use immerse_jose::SoftwareSigner;
use immerse_registry::model::Role;
use immerse_sd_jwt::StatusListRef;
use immerse_status_list::{DEFAULT_MAX_DECOMPRESSED, Status, StatusReference, Verifier};
use serde_json::{Map, Value};

use crate::WalletError;

/// One issued SD-JWT VC, as verified on receipt.
#[derive(Clone)]
pub struct StoredCredential {
    /// Local identifier (random), never sent anywhere.
    pub id: String,
    /// The issuer identifier (`iss`), verified against the registry on receipt.
    pub issuer: String,
    pub vct: String,
    /// The issuer's credential configuration id it was requested under.
    pub configuration_id: String,
    /// The issued SD-JWT in compact form (issuer JWT and every disclosure, no KB-JWT).
    pub sd_jwt: String,
    /// Every claim with all disclosures applied: what the holder sees and DCQL matches against.
    pub claims: Map<String, Value>,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub status: Option<StatusListRef>,
    /// The Holder Key bound in `cnf.jwk`; signs the KB-JWT of each presentation.
    pub holder_key: Arc<SoftwareSigner>,
}

impl std::fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredCredential")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("vct", &self.vct)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The wallet's credentials, in memory. Cloning shares the store.
#[derive(Debug, Clone, Default)]
pub struct CredentialStore {
    credentials: Arc<RwLock<Vec<StoredCredential>>>,
}

impl CredentialStore {
    pub fn insert(&self, credential: StoredCredential) {
        if let Ok(mut credentials) = self.credentials.write() {
            credentials.push(credential);
        }
    }

    /// Every credential not expired at `now`.
    pub fn valid_at(&self, now: i64) -> Vec<StoredCredential> {
        self.credentials.read().map_or_else(
            |_| Vec::new(),
            |credentials| {
                credentials
                    .iter()
                    .filter(|credential| !is_expired(credential, now))
                    .cloned()
                    .collect()
            },
        )
    }

    pub fn get(&self, id: &str) -> Option<StoredCredential> {
        self.credentials
            .read()
            .ok()?
            .iter()
            .find(|credential| credential.id == id)
            .cloned()
    }

    /// Drops every credential expired at `now`; returns how many went.
    pub fn remove_expired(&self, now: i64) -> usize {
        let Ok(mut credentials) = self.credentials.write() else {
            return 0;
        };
        let before = credentials.len();
        credentials.retain(|credential| !is_expired(credential, now));
        before - credentials.len()
    }

    pub fn len(&self) -> usize {
        self.credentials
            .read()
            .map_or(0, |credentials| credentials.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn is_expired(credential: &StoredCredential, now: i64) -> bool {
    credential.expires_at.is_some_and(|exp| exp <= now)
}

impl crate::Wallet {
    /// The credential's current status from its issuer's Token Status List: the token fetched
    /// (`Accept: application/statuslist+jwt`, draft s8.1), verified with the issuer's keys from
    /// the registry (`typ`, `sub` = the list URI, `exp`/`ttl`, bounded inflation; draft s8.3),
    /// and read at the credential's index. A credential without a `status` reference is
    /// [`Status::Valid`]: nothing can revoke it. Call it before presenting.
    pub async fn check_status(&self, credential: &StoredCredential) -> Result<Status, WalletError> {
        let Some(reference) = &credential.status else {
            return Ok(Status::Valid);
        };
        let unavailable = |reason: String| WalletError::StatusUnavailable(reason);
        // A list outside the issuer identifier's origin is not the issuer's to publish.
        if !immerse_net::under_origin_of(&reference.uri, &credential.issuer) {
            return Err(unavailable(format!(
                "{} is not under the origin of {}",
                reference.uri, credential.issuer
            )));
        }
        let request = self
            .http()
            .get(self.locate(&reference.uri))
            .header(reqwest::header::ACCEPT, immerse_status_list::MEDIA_TYPE);
        let fetched = self
            .exchange(&reference.uri, request)
            .await?
            .success()
            .map_err(|err| unavailable(err.to_string()))?;
        let token = fetched.text()?;
        let keys = self
            .registry()
            .verification_keys(&credential.issuer, Role::Issuer)
            .await?;
        let max = self
            .config()
            .max_response_bytes
            .max(DEFAULT_MAX_DECOMPRESSED);
        Verifier::new(max)
            .at(self.now())
            .status_of(
                token.trim(),
                &StatusReference::new(reference.idx, reference.uri.clone()),
                &keys,
            )
            .map_err(|err| unavailable(err.to_string()))
    }

    /// Removes expired credentials every `period` until the returned task is aborted (SYSTEM.md
    /// s2, issuance step 6). Presentation also filters by expiry, so a credential that expires
    /// between two sweeps is still never presented.
    pub fn spawn_expiry_task(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let wallet = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let removed = wallet.credentials().remove_expired(wallet.now());
                if removed > 0 {
                    tracing::info!(removed, "expired credentials removed");
                }
            }
        })
    }
}
