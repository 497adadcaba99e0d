//! The credentials the wallet holds, each with the Holder Key its `cnf` names.
use std::sync::{Arc, RwLock};

use immerse_jose::SoftwareSigner;
use immerse_sd_jwt::StatusListRef;
use serde_json::{Map, Value};

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
        self.credentials.read().map_or(0, |credentials| credentials.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn is_expired(credential: &StoredCredential, now: i64) -> bool {
    credential.expires_at.is_some_and(|exp| exp <= now)
}
