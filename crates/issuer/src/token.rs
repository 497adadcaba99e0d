//! The token endpoint (OpenID4VCI 1.0 s6) for the pre-authorized code grant: attested client,
//! DPoP-bound access token.
use immerse_store::{AccessTokenRow, Redemption};
use serde::{Deserialize, Serialize};

use crate::dpop::DpopTarget;
use crate::offer::PRE_AUTHORIZED_GRANT;
use crate::{Issuer, IssuerError, random_token, secret_hash};

/// The form parameters of a token request (OpenID4VCI 1.0 s6.1, RFC 6749 s4.1.3).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    #[serde(rename = "pre-authorized_code")]
    pub pre_authorized_code: Option<String>,
    pub tx_code: Option<String>,
    pub client_id: Option<String>,
}

/// The headers that authenticate a token request.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenHeaders<'a> {
    pub client_attestation: Option<&'a str>,
    pub client_attestation_pop: Option<&'a str>,
    pub dpop: Option<&'a str>,
}

/// OpenID4VCI 1.0 s6.2, RFC 9449 s5.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
}

impl Issuer {
    /// Checks in an order that spends nothing valuable on a bad request: parameters, client
    /// authentication, DPoP proof, and only then the code (one atomic redemption).
    pub async fn token(
        &self,
        request: &TokenRequest,
        headers: TokenHeaders<'_>,
    ) -> Result<TokenResponse, IssuerError> {
        let started = std::time::Instant::now();
        let config = self.config();
        // RFC 6749 s5.2: unsupported_grant_type; OpenID4VCI 1.0 s6.1: the pre-authorized grant.
        match request.grant_type.as_deref() {
            Some(PRE_AUTHORIZED_GRANT) => {}
            Some(other) => return Err(IssuerError::UnsupportedGrantType(other.to_owned())),
            None => return Err(IssuerError::InvalidRequest("grant_type is missing".into())),
        }
        let code = request
            .pre_authorized_code
            .as_deref()
            .filter(|code| !code.is_empty())
            .ok_or_else(|| IssuerError::InvalidRequest("pre-authorized_code is missing".into()))?;
        // OpenID4VCI 1.0 s12.3: no anonymous access; the client authenticates by attestation.
        let client = self
            .authenticate_client(
                headers.client_attestation,
                headers.client_attestation_pop,
                request.client_id.as_deref(),
            )
            .await?;
        // RFC 9449 s5: the access token is bound to the DPoP key.
        let token_url = config.endpoint("token");
        let dpop_key = self
            .verify_dpop(
                headers.dpop,
                DpopTarget {
                    method: "POST",
                    url: &token_url,
                    access_token: None,
                },
            )
            .await?;
        let now = self.now();
        let tx_hash = request
            .tx_code
            .as_deref()
            .filter(|code| !code.is_empty())
            .map(secret_hash)
            .unwrap_or_default();
        // OpenID4VCI 1.0 s6.3: which error for which failure of the code or tx_code.
        let offer = match self
            .inner
            .store
            .redeem_pre_authorized(&secret_hash(code), &tx_hash, now)
            .await?
        {
            Redemption::Redeemed(offer) => offer,
            Redemption::Unknown | Redemption::NotOpen => {
                return Err(IssuerError::InvalidGrant(
                    "the pre-authorized code is invalid or was already used".into(),
                ));
            }
            Redemption::Expired => {
                return Err(IssuerError::InvalidGrant(
                    "the pre-authorized code has expired".into(),
                ));
            }
            Redemption::WrongTxCode { attempts_left } => {
                return Err(IssuerError::InvalidGrant(format!(
                    "wrong tx_code; {attempts_left} attempts left"
                )));
            }
            Redemption::TxCodeMissing => {
                return Err(IssuerError::InvalidRequest("tx_code is required".into()));
            }
            Redemption::TxCodeUnexpected => {
                return Err(IssuerError::InvalidRequest(
                    "tx_code was not expected".into(),
                ));
            }
        };
        let access_token = random_token(32)?;
        self.inner
            .store
            .insert_access_token(&AccessTokenRow {
                token_hash: secret_hash(&access_token),
                offer_id: offer.offer_id.clone(),
                client_id: client.client_id.clone(),
                jkt: dpop_key.thumbprint_b64(),
                expires_at: now + config.access_token_lifetime,
            })
            .await?;
        tracing::debug!(
            offer_id = %offer.offer_id,
            client_id = %client.client_id,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "token issued"
        );
        Ok(TokenResponse {
            access_token,
            token_type: "DPoP".into(),
            expires_in: config.access_token_lifetime,
        })
    }
}
