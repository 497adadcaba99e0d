//! The token request of the pre-authorized code flow (OpenID4VCI 1.0 s6), authenticated by the
//! client attestation and its proof of possession, with a DPoP-bound access token.
use immerse_jose::jws::SigningHeader;
use immerse_jose::{SoftwareSigner, base64url, jwt};
use serde_json::{Value, json};

use super::metadata::IssuerMetadata;
use super::offer::{CredentialOffer, PRE_AUTHORIZED_GRANT};
use super::transport::Fetched;
use crate::{Wallet, WalletError};

/// Attestation-based client auth draft s5.1.
const ATTESTATION_POP_TYP: &str = "oauth-client-attestation-pop+jwt";
/// RFC 9449 s4.2.
const DPOP_TYP: &str = "dpop+jwt";

/// The DPoP key of one issuance and the newest server nonce (RFC 9449 s8).
pub(crate) struct Dpop {
    key: SoftwareSigner,
    pub nonce: Option<String>,
}

/// What the token endpoint gave.
pub(crate) struct AccessToken {
    pub token: String,
}

impl Dpop {
    pub fn new() -> Result<Self, WalletError> {
        Ok(Self {
            key: SoftwareSigner::generate()?,
            nonce: None,
        })
    }

    /// RFC 9449 s4.2: a proof for `POST htu`, with `ath` when presenting an access token.
    pub async fn proof(
        &self,
        htu: &str,
        access_token: Option<&str>,
    ) -> Result<String, WalletError> {
        let mut claims = json!({
            "jti": base64url::random(16)?, "htm": "POST", "htu": htu, "iat": jwt::now(),
        });
        if let Some(nonce) = &self.nonce {
            claims["nonce"] = nonce.clone().into();
        }
        if let Some(token) = access_token {
            claims["ath"] = base64url::encode(openssl::sha::sha256(token.as_bytes())).into();
        }
        Ok(jwt::sign(
            &self.key,
            &SigningHeader::new(DPOP_TYP).embed_jwk(),
            &claims,
        )
        .await?)
    }

    /// Keeps the server's newest nonce; says whether `fetched` asks for a retry with it
    /// (RFC 9449 s8: `use_dpop_nonce` with a `DPoP-Nonce` header).
    pub fn learn(&mut self, fetched: &Fetched) -> bool {
        let Some(nonce) = fetched.header("dpop-nonce") else {
            return false;
        };
        let changed = self.nonce.as_deref() != Some(nonce);
        self.nonce = Some(nonce.to_owned());
        changed && fetched.error_code().as_deref() == Some("use_dpop_nonce")
    }
}

impl Wallet {
    /// s6.1 token request with `pre-authorized_code` (+ `tx_code`), the client attestation
    /// headers and DPoP; one retry when the server asks for its DPoP nonce.
    pub(crate) async fn token(
        &self,
        offer: &CredentialOffer,
        tx_code: Option<&str>,
        metadata: &IssuerMetadata,
        dpop: &mut Dpop,
    ) -> Result<AccessToken, WalletError> {
        let issuer = &offer.credential_issuer;
        let token_url = metadata
            .as_endpoint("token_endpoint")
            .ok_or_else(|| missing(issuer, "token_endpoint"))?
            .to_owned();
        let mut form = vec![
            ("grant_type", PRE_AUTHORIZED_GRANT.to_owned()),
            ("pre-authorized_code", offer.pre_authorized_code.clone()),
        ];
        match (&offer.tx_code, tx_code) {
            (Some(_), Some(code)) => form.push(("tx_code", code.to_owned())),
            (Some(asked), None) => {
                return Err(WalletError::TxCodeRequired(
                    asked.description.clone().unwrap_or_else(|| {
                        format!(
                            "{} characters, {}",
                            asked.length.unwrap_or(0),
                            asked.input_mode
                        )
                    }),
                ));
            }
            // s6.1: tx_code only when the offer asked for one.
            (None, _) => {}
        }
        let attestation = self.client_attestation().await?;
        let mut retried = false;
        loop {
            let pop = self.attestation_pop(issuer, metadata).await?;
            let request = self
                .http()
                .post(self.locate(&token_url))
                .header("OAuth-Client-Attestation", &attestation)
                .header("OAuth-Client-Attestation-PoP", pop)
                .header("DPoP", dpop.proof(&token_url, None).await?)
                .form(&form);
            let fetched = self.exchange(&token_url, request).await?;
            if dpop.learn(&fetched) && !retried && fetched.status >= 400 {
                retried = true;
                continue;
            }
            let body = fetched.success()?.json()?;
            // RFC 9449 s5: a DPoP-bound token says so.
            if !body
                .get("token_type")
                .and_then(Value::as_str)
                .is_some_and(|kind| kind.eq_ignore_ascii_case("DPoP"))
            {
                return Err(WalletError::UnexpectedResponse {
                    url: token_url,
                    reason: "the access token is not DPoP-bound".into(),
                });
            }
            let token = body
                .get("access_token")
                .and_then(Value::as_str)
                .filter(|token| !token.is_empty())
                .ok_or_else(|| WalletError::UnexpectedResponse {
                    url: token_url.clone(),
                    reason: "no access_token".into(),
                })?;
            return Ok(AccessToken {
                token: token.to_owned(),
            });
        }
    }

    /// Attestation draft s5.1: `aud` = the authorization server, fresh `jti`, `iat`, and the
    /// server's challenge when it offers a challenge endpoint (s8).
    async fn attestation_pop(
        &self,
        issuer: &str,
        metadata: &IssuerMetadata,
    ) -> Result<String, WalletError> {
        let mut claims = json!({"aud": issuer, "jti": base64url::random(16)?, "iat": jwt::now()});
        if let Some(endpoint) = metadata.as_endpoint("challenge_endpoint") {
            let answer = self.post_json(endpoint, &json!({})).await?;
            let challenge = answer
                .get("attestation_challenge")
                .and_then(Value::as_str)
                .ok_or_else(|| WalletError::UnexpectedResponse {
                    url: endpoint.to_owned(),
                    reason: "no attestation_challenge".into(),
                })?;
            claims["challenge"] = challenge.into();
        }
        Ok(jwt::sign(
            &self.inner.instance_key,
            &SigningHeader::new(ATTESTATION_POP_TYP),
            &claims,
        )
        .await?)
    }
}

pub(crate) fn missing(issuer: &str, member: &'static str) -> WalletError {
    WalletError::UnsupportedConfiguration(issuer.to_owned(), member)
}
