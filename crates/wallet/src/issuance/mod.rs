//! Issuance (OpenID4VCI 1.0, pre-authorized code flow; SYSTEM.md s2): offer, signed metadata,
//! client attestation, DPoP-bound token, nonce, key proof, encrypted request and response, and
//! verification of the SD-JWT VC before it is stored.
mod credential;
mod metadata;
mod offer;
mod token;
pub(crate) mod transport;

use std::time::Instant;

pub use credential::Expected;
pub use offer::{CredentialOffer, TxCode};

use crate::{StoredCredential, Wallet, WalletError};

impl Wallet {
    /// Resolves `uri` and runs the whole flow for every configuration it offers; see
    /// [`Wallet::accept`].
    pub async fn accept_offer(
        &self,
        uri: &str,
        tx_code: Option<&str>,
    ) -> Result<Vec<StoredCredential>, WalletError> {
        let offer = self.resolve_offer(uri).await?;
        self.accept(&offer, tx_code).await
    }

    /// Obtains one credential per offered configuration, each bound to its own fresh Holder
    /// Key, and stores them only once every one verified: a refusal stores nothing.
    pub async fn accept(
        &self,
        offer: &CredentialOffer,
        tx_code: Option<&str>,
    ) -> Result<Vec<StoredCredential>, WalletError> {
        let issuer = &offer.credential_issuer;
        let started = Instant::now();
        let metadata = self.issuer_metadata(issuer).await?;
        tracing::debug!(issuer, elapsed = ?started.elapsed(), "issuer metadata verified");
        let mut dpop = token::Dpop::new()?;
        let access = self.token(offer, tx_code, &metadata, &mut dpop).await?;
        tracing::debug!(issuer, elapsed = ?started.elapsed(), "access token obtained");
        let mut obtained = Vec::new();
        for configuration_id in &offer.credential_configuration_ids {
            obtained.push(
                self.obtain(issuer, configuration_id, &metadata, &access, &mut dpop)
                    .await?,
            );
        }
        for credential in &obtained {
            self.credentials().insert(credential.clone());
        }
        tracing::info!(issuer, count = obtained.len(), elapsed = ?started.elapsed(), "credentials stored");
        Ok(obtained)
    }
}
