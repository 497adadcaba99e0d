//! The token endpoint (OpenID4VCI 1.0 s6) for the pre-authorized code and the authorization
//! code grants: attested client, DPoP-bound access token.
use immerse_store::{AccessTokenRow, Redemption};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::authorization::{AUTHORIZATION_CODE_GRANT, check_code_verifier};
use crate::dpop::DpopTarget;
use crate::offer::PRE_AUTHORIZED_GRANT;
use crate::{Issuer, IssuerError, secret_hash};

/// The form parameters of a token request (OpenID4VCI 1.0 s6.1, RFC 6749 s4.1.3).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    #[serde(rename = "pre-authorized_code")]
    pub pre_authorized_code: Option<String>,
    pub tx_code: Option<String>,
    pub client_id: Option<String>,
    /// The authorization code grant (RFC 6749 s4.1.3, RFC 7636 s4.5).
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
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
    /// OpenID4VCI 1.0 s6.2: when the grant named `authorization_details`, each with its
    /// `credential_identifiers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details: Option<Vec<Value>>,
}

/// A grant that passed its checks: the offer it redeemed, the configurations it grants (all of
/// the offer's, or what the authorization narrowed them to) and the identifiers it grants.
struct Granted {
    offer_id: String,
    configuration_ids: Vec<String>,
    credential_identifiers: Option<Vec<String>>,
}

/// The grant a token request presents, its parameters present.
enum Grant<'a> {
    PreAuthorized {
        code: &'a str,
        tx_code: Option<&'a str>,
    },
    AuthorizationCode {
        code: &'a str,
        code_verifier: &'a str,
        redirect_uri: &'a str,
    },
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, IssuerError> {
    value
        .as_deref()
        .filter(|value| !value.is_empty())
        .ok_or_else(|| IssuerError::InvalidRequest(format!("{name} is missing")))
}

impl<'a> Grant<'a> {
    /// RFC 6749 s5.2 unsupported_grant_type; s4.1.3 and OpenID4VCI 1.0 s6.1 parameters.
    fn parse(request: &'a TokenRequest) -> Result<Self, IssuerError> {
        match request.grant_type.as_deref() {
            Some(PRE_AUTHORIZED_GRANT) => Ok(Self::PreAuthorized {
                code: required(&request.pre_authorized_code, "pre-authorized_code")?,
                tx_code: request.tx_code.as_deref().filter(|code| !code.is_empty()),
            }),
            Some(AUTHORIZATION_CODE_GRANT) => {
                let code_verifier = required(&request.code_verifier, "code_verifier")?;
                check_code_verifier(code_verifier)?;
                Ok(Self::AuthorizationCode {
                    code: required(&request.code, "code")?,
                    code_verifier,
                    // Our pushed requests always carry one, so the token request must too.
                    redirect_uri: required(&request.redirect_uri, "redirect_uri")?,
                })
            }
            Some(other) => Err(IssuerError::UnsupportedGrantType(other.to_owned())),
            None => Err(IssuerError::InvalidRequest("grant_type is missing".into())),
        }
    }
}

impl Issuer {
    /// Checks in an order that spends nothing valuable on a bad request: parameters, client
    /// authentication, DPoP proof (whose nonce and `jti` are spent only when it is accepted),
    /// then the PoP's challenge and `jti`, and only then the code (one atomic redemption). A
    /// wallet told `use_dpop_nonce` retries with the same PoP.
    pub async fn token(
        &self,
        request: &TokenRequest,
        headers: TokenHeaders<'_>,
    ) -> Result<TokenResponse, IssuerError> {
        let started = std::time::Instant::now();
        let config = self.config();
        let grant = Grant::parse(request)?;
        // OpenID4VCI 1.0 s12.3: no anonymous access; the client authenticates by attestation.
        let checked = self
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
        let client = self.spend_client_pop(checked).await?;
        let granted = match grant {
            Grant::PreAuthorized { code, tx_code } => {
                self.redeem_pre_authorized(code, tx_code).await?
            }
            Grant::AuthorizationCode {
                code,
                code_verifier,
                redirect_uri,
            } => {
                let row = self
                    .redeem_authorization_code(code, code_verifier, redirect_uri, &client.client_id)
                    .await?;
                // The offer yields one access token, whichever grant redeems it.
                if !self
                    .inner
                    .store
                    .redeem_offer(&row.offer_id, self.now())
                    .await?
                {
                    return Err(IssuerError::InvalidGrant(
                        "the credential offer was already redeemed, revoked or expired".into(),
                    ));
                }
                let configuration_ids: Vec<String> =
                    serde_json::from_str(&row.configuration_ids)
                        .map_err(|err| IssuerError::Internal(err.to_string()))?;
                Granted {
                    offer_id: row.offer_id,
                    // OpenID4VCI 1.0 s6.2: identifiers only for authorization_details; ours
                    // are the configuration ids themselves (one dataset per configuration).
                    credential_identifiers: (row.by_details == 1)
                        .then(|| configuration_ids.clone()),
                    configuration_ids,
                }
            }
        };
        let now = self.now();
        let access_token = immerse_jose::base64url::random(32)?;
        self.inner
            .store
            .insert_access_token(&AccessTokenRow {
                token_hash: secret_hash(&access_token),
                offer_id: granted.offer_id.clone(),
                client_id: client.client_id.clone(),
                jkt: dpop_key.thumbprint_b64(),
                expires_at: now + config.access_token_lifetime,
                credential_identifiers: granted
                    .credential_identifiers
                    .as_ref()
                    .map(|ids| Value::from(ids.clone()).to_string()),
                configuration_ids: Value::from(granted.configuration_ids).to_string(),
            })
            .await?;
        tracing::debug!(
            offer_id = %granted.offer_id,
            client_id = %client.client_id,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "token issued"
        );
        Ok(TokenResponse {
            access_token,
            token_type: "DPoP".into(),
            expires_in: config.access_token_lifetime,
            authorization_details: granted.credential_identifiers.map(|ids| {
                ids.into_iter()
                    .map(|id| {
                        json!({
                            "type": "openid_credential",
                            "credential_configuration_id": id,
                            "credential_identifiers": [id],
                        })
                    })
                    .collect()
            }),
        })
    }

    /// OpenID4VCI 1.0 s6.3: which error for which failure of the code or tx_code.
    async fn redeem_pre_authorized(
        &self,
        code: &str,
        tx_code: Option<&str>,
    ) -> Result<Granted, IssuerError> {
        let tx_hash = tx_code.map(secret_hash).unwrap_or_default();
        let offer = match self
            .inner
            .store
            .redeem_pre_authorized(&secret_hash(code), &tx_hash, self.now())
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
        let configuration_ids = serde_json::from_str(&offer.configuration_ids)
            .map_err(|err| IssuerError::Internal(err.to_string()))?;
        Ok(Granted {
            offer_id: offer.offer_id,
            configuration_ids,
            credential_identifiers: None,
        })
    }
}
