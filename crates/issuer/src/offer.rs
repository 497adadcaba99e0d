//! Credential offers (OpenID4VCI 1.0 s4.1) with a pre-authorized code (s3.5) or the
//! authorization code grant and its `issuer_state` (s3.4, s5), created through the admin API.
use immerse_store::OfferRow;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::authorization::AUTHORIZATION_CODE_GRANT;
use crate::{Issuer, IssuerError, secret_hash};

/// OpenID4VCI 1.0 s4.1.1 / s6.1: the pre-authorized code grant type.
pub const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
/// Longest tx_code we generate (OpenID4VCI 1.0 s4.1.1 leaves it to the issuer).
const MAX_TX_CODE_LENGTH: usize = 12;

/// The grant an offer carries (OpenID4VCI 1.0 s4.1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferGrant {
    /// A pre-authorized code (and optional tx_code): the offer itself authorizes.
    #[default]
    PreAuthorizedCode,
    /// The authorization code flow: the back office has authenticated the subject, and the
    /// offer's `issuer_state` is what the authorization endpoint recognises them by.
    AuthorizationCode,
}

/// What the back office asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOffer {
    pub credential_configuration_ids: Vec<String>,
    /// The subject's claims for the credentials of this offer.
    pub claims: Map<String, Value>,
    /// Number of digits of a tx_code to generate; none when absent.
    #[serde(default)]
    pub tx_code_length: Option<usize>,
    #[serde(default)]
    pub tx_code_description: Option<String>,
    /// Pass the offer by reference (`credential_offer_uri`) instead of by value.
    #[serde(default)]
    pub by_reference: bool,
    /// Credentials wait until the back office marks the offer ready (OpenID4VCI 1.0 s9).
    #[serde(default)]
    pub deferred: bool,
    #[serde(default)]
    pub grant: OfferGrant,
}

/// What the back office gets back. `tx_code` goes to the user on another channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedOffer {
    pub offer_id: String,
    /// `openid-credential-offer://?credential_offer=...` or `?credential_offer_uri=...`.
    pub offer_uri: String,
    pub credential_offer: Value,
    pub tx_code: Option<String>,
    pub expires_at: i64,
}

impl Issuer {
    /// Creates an offer: a fresh pre-authorized code (stored as a hash), valid for
    /// `pre_authorized_code_lifetime` and one redemption (OpenID4VCI 1.0 s13.6: short-lived,
    /// single use), with an optional numeric tx_code of limited attempts (s13.6.1).
    pub async fn create_offer(&self, new: NewOffer) -> Result<CreatedOffer, IssuerError> {
        let config = self.config();
        if new.credential_configuration_ids.is_empty() {
            return Err(IssuerError::InvalidRequest(
                "credential_configuration_ids is empty".into(),
            ));
        }
        for id in &new.credential_configuration_ids {
            let conf = config.configuration(id).ok_or_else(|| {
                IssuerError::InvalidRequest(format!("unknown credential configuration {id}"))
            })?;
            if let Some(name) = new.claims.keys().find(|name| !conf.claims.contains(name)) {
                return Err(IssuerError::InvalidRequest(format!(
                    "claim {name} is not in configuration {id}"
                )));
            }
        }
        let tx_code = match new.tx_code_length {
            None => None,
            Some(length @ 4..=MAX_TX_CODE_LENGTH) => Some(numeric_code(length)?),
            Some(_) => {
                return Err(IssuerError::InvalidRequest(format!(
                    "tx_code_length must be 4 to {MAX_TX_CODE_LENGTH}"
                )));
            }
        };
        if new.grant == OfferGrant::AuthorizationCode && tx_code.is_some() {
            return Err(IssuerError::InvalidRequest(
                "tx_code belongs to the pre-authorized code grant".into(),
            ));
        }
        let now = self.now();
        let offer_id = immerse_jose::base64url::random(16)?;
        // With the authorization_code grant the pre-authorized code is never disclosed, so it
        // cannot be redeemed; the row keeps one because every offer row has a code.
        let code = immerse_jose::base64url::random(32)?;
        let issuer_state = match new.grant {
            OfferGrant::PreAuthorizedCode => None,
            OfferGrant::AuthorizationCode => Some(immerse_jose::base64url::random(32)?),
        };
        let mut grant = json!({"pre-authorized_code": code});
        if let (Some(code), Some(grant)) = (&tx_code, grant.as_object_mut()) {
            let mut spec = json!({"input_mode": "numeric", "length": code.len()});
            if let (Some(description), Some(spec)) =
                (&new.tx_code_description, spec.as_object_mut())
            {
                spec.insert("description".into(), description.clone().into());
            }
            grant.insert("tx_code".into(), spec);
        }
        // OpenID4VCI 1.0 s4.1.1.
        let grants = match &issuer_state {
            None => json!({PRE_AUTHORIZED_GRANT: grant}),
            Some(state) => json!({AUTHORIZATION_CODE_GRANT: {"issuer_state": state}}),
        };
        let credential_offer = json!({
            "credential_issuer": config.issuer,
            "credential_configuration_ids": new.credential_configuration_ids,
            "grants": grants,
        });
        let offer_text = credential_offer.to_string();
        let offer_uri = if new.by_reference {
            // s4.1.3: by reference; the JSON is served once at this URI.
            let uri = format!("{}/offers/{offer_id}", config.issuer);
            format!(
                "openid-credential-offer://?credential_offer_uri={}",
                percent_encode(&uri)
            )
        } else {
            format!(
                "openid-credential-offer://?credential_offer={}",
                percent_encode(&offer_text)
            )
        };
        let expires_at = now + config.pre_authorized_code_lifetime;
        self.inner
            .store
            .insert_offer(&OfferRow {
                offer_id: offer_id.clone(),
                code_hash: secret_hash(&code),
                configuration_ids: Value::from(new.credential_configuration_ids.clone())
                    .to_string(),
                claims: Value::Object(new.claims).to_string(),
                tx_code_hash: tx_code.as_deref().map(secret_hash),
                attempts_left: config.tx_code_attempts,
                state: "open".into(),
                status: "active".into(),
                offer_json: new.by_reference.then_some(offer_text),
                deferred: i64::from(new.deferred),
                ready: i64::from(!new.deferred),
                created_at: now,
                expires_at,
            })
            .await?;
        if let Some(state) = &issuer_state {
            self.inner
                .store
                .set_offer_issuer_state(&offer_id, &secret_hash(state))
                .await?;
        }
        tracing::info!(%offer_id, "credential offer created");
        Ok(CreatedOffer {
            offer_id,
            offer_uri,
            credential_offer,
            tx_code,
            expires_at,
        })
    }

    /// OpenID4VCI 1.0 s4.1.3: the offer behind a `credential_offer_uri`, served once.
    pub async fn offer_by_reference(&self, offer_id: &str) -> Result<String, IssuerError> {
        self.inner
            .store
            .take_offer_json(offer_id, self.now())
            .await?
            .ok_or(IssuerError::NotFound)
    }
}

/// `length` uniformly random decimal digits.
fn numeric_code(length: usize) -> Result<String, IssuerError> {
    let mut code = String::with_capacity(length);
    while code.len() < length {
        let mut byte = [0u8; 1];
        openssl::rand::rand_bytes(&mut byte)
            .map_err(|err| IssuerError::Internal(err.to_string()))?;
        // Rejection sampling: 250 is the largest multiple of 10 below 256.
        if byte[0] < 250 {
            code.push(char::from(b'0' + byte[0] % 10));
        }
    }
    Ok(code)
}

/// RFC 3986 s2.1 percent-encoding of everything but the unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
