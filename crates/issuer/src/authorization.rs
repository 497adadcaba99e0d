//! The authorization code flow (OpenID4VCI 1.0 s5) as HAIP profiles it: pushed authorization
//! requests only (RFC 9126), PKCE with S256 only (RFC 7636), the attested client at the PAR
//! endpoint as at the token endpoint.
//!
//! Holder authentication: this issuer has no login system of its own. The back office
//! authenticates the subject on its own channel and, through the admin API, creates an offer
//! with the `authorization_code` grant; that pre-approves the subject's claims for the offer's
//! `issuer_state` (s4.1.1), a 256-bit secret delivered with the offer like a pre-authorized
//! code. A pushed request must carry an `issuer_state` of an open offer, and the authorization
//! endpoint issues a code only for such a request, while the offer is still open; no request
//! without one is ever authorized.
use immerse_store::{AuthorizationKind, AuthorizationRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::offer::percent_encode;
use crate::token::TokenHeaders;
use crate::{Issuer, IssuerError, secret_hash, taken};

/// RFC 6749 s4.1.3: the authorization code grant type.
pub const AUTHORIZATION_CODE_GRANT: &str = "authorization_code";
/// RFC 9126 s2.2: the request_uri is a URN with this prefix.
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// RFC 9396 s2 / OpenID4VCI 1.0 s5.1.1: the authorization details type.
const OPENID_CREDENTIAL: &str = "openid_credential";
const REQUEST_URI_SCOPE: &str = "issuer:par-request-uri";
const CODE_SCOPE: &str = "issuer:authorization-code";

/// The form parameters of a pushed authorization request (RFC 9126 s2.1, RFC 6749 s4.1.1,
/// RFC 7636 s4.3, OpenID4VCI 1.0 s5.1).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PushedAuthorizationRequest {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub scope: Option<String>,
    /// RFC 9396: a JSON array, as text in the form.
    pub authorization_details: Option<String>,
    pub issuer_state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// Present only to be refused (RFC 9126 s2.1).
    pub request_uri: Option<String>,
    /// A request object (RFC 9101); not supported, so refused rather than ignored.
    pub request: Option<String>,
}

/// RFC 9126 s2.2: 201 Created with these.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushedAuthorization {
    pub request_uri: String,
    pub expires_in: i64,
}

/// The query of an authorization request (RFC 9126 s4): only a reference to a pushed request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: Option<String>,
    pub request_uri: Option<String>,
}

/// What was authorized: configuration ids, and whether `authorization_details` named them.
struct Authorized {
    configuration_ids: Vec<String>,
    by_details: bool,
}

fn invalid_request(detail: impl Into<String>) -> IssuerError {
    IssuerError::InvalidRequest(detail.into())
}

/// RFC 7636 s4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`;
/// also the shape of an S256 challenge (s4.2: 43 base64url characters).
fn is_pkce_text(text: &str) -> bool {
    (43..=128).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte))
}

/// RFC 7636 s4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge, constant time.
pub(crate) fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let computed = immerse_jose::base64url::encode(openssl::sha::sha256(verifier.as_bytes()));
    computed.len() == challenge.len()
        && openssl::memcmp::eq(computed.as_bytes(), challenge.as_bytes())
}

impl Issuer {
    /// RFC 9126 s2: checks the pushed request and the attested client, and answers with a
    /// one-time `request_uri` that lives `par_lifetime` seconds.
    pub async fn pushed_authorization_request(
        &self,
        request: &PushedAuthorizationRequest,
        headers: TokenHeaders<'_>,
    ) -> Result<PushedAuthorization, IssuerError> {
        let started = std::time::Instant::now();
        let config = self.config();
        // RFC 9126 s2.1: a request_uri inside a pushed request is refused.
        if request.request_uri.is_some() {
            return Err(invalid_request(
                "request_uri is not allowed in a pushed request",
            ));
        }
        if request.request.is_some() {
            return Err(invalid_request("request objects are not supported"));
        }
        // RFC 6749 s4.1.1: response_type code.
        match request.response_type.as_deref() {
            Some("code") => {}
            Some(other) => return Err(IssuerError::UnsupportedResponseType(other.to_owned())),
            None => return Err(invalid_request("response_type is missing")),
        }
        let client_id = request
            .client_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| invalid_request("client_id is missing"))?;
        // RFC 9126 s2.1: the client authenticates as at the token endpoint (attestation draft
        // s6; OpenID4VCI 1.0 s12.3).
        // The PoP is spent only once the whole request is accepted, below.
        let checked = self
            .authenticate_client(
                headers.client_attestation,
                headers.client_attestation_pop,
                Some(client_id),
            )
            .await?;
        // RFC 9700 s2.1: redirect URIs compared by exact string match with the configured ones.
        let redirect_uri = request
            .redirect_uri
            .as_deref()
            .ok_or_else(|| invalid_request("redirect_uri is missing"))?;
        if !config.redirect_uris.iter().any(|uri| uri == redirect_uri) {
            return Err(invalid_request("redirect_uri is not registered"));
        }
        // RFC 7636 s4.3, HAIP: S256 only; `plain` or none is refused (s4.4.1).
        match request.code_challenge_method.as_deref() {
            Some("S256") => {}
            Some(other) => {
                return Err(invalid_request(format!(
                    "code_challenge_method {other} is not supported; use S256"
                )));
            }
            None => return Err(invalid_request("code_challenge_method S256 is required")),
        }
        let code_challenge = request
            .code_challenge
            .as_deref()
            .filter(|challenge| challenge.len() == 43 && is_pkce_text(challenge))
            .ok_or_else(|| invalid_request("code_challenge is missing or not an S256 value"))?;
        // OpenID4VCI 1.0 s5.1.3: issuer_state from the offer binds the request to the subject
        // the back office pre-approved.
        let issuer_state = request
            .issuer_state
            .as_deref()
            .filter(|state| !state.is_empty())
            .ok_or_else(|| invalid_request("issuer_state from a credential offer is required"))?;
        let now = self.now();
        let offer = self
            .inner
            .store
            .offer_by_issuer_state(&secret_hash(issuer_state))
            .await?
            .filter(|offer| {
                offer.state == "open" && offer.status == "active" && offer.expires_at > now
            })
            .ok_or_else(|| invalid_request("issuer_state is unknown or its offer is closed"))?;
        let offered: Vec<String> = serde_json::from_str(&offer.configuration_ids)
            .map_err(|err| IssuerError::Internal(err.to_string()))?;
        let authorized = self.authorized(request, &offered)?;
        let client = self.spend_client_pop(checked).await?;

        let handle = immerse_jose::base64url::random(32)?;
        let request_uri = format!("{REQUEST_URI_PREFIX}{handle}");
        let expires_at = now + config.par_lifetime;
        let hash = secret_hash(&request_uri);
        self.inner
            .store
            .insert_authorization(
                AuthorizationKind::RequestUri,
                &AuthorizationRow {
                    handle_hash: hash.clone(),
                    offer_id: offer.offer_id.clone(),
                    client_id: client.client_id.clone(),
                    redirect_uri: redirect_uri.to_owned(),
                    code_challenge: code_challenge.to_owned(),
                    state: request.state.clone(),
                    configuration_ids: Value::from(authorized.configuration_ids).to_string(),
                    by_details: i64::from(authorized.by_details),
                    expires_at,
                },
            )
            .await?;
        self.inner
            .store
            .check_and_record(REQUEST_URI_SCOPE, &hash, expires_at)
            .await?;
        tracing::debug!(
            offer_id = %offer.offer_id,
            client_id = %client.client_id,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "authorization request pushed"
        );
        Ok(PushedAuthorization {
            request_uri,
            expires_in: config.par_lifetime,
        })
    }

    /// OpenID4VCI 1.0 s5.1.1 (authorization_details) or s5.1.2 (scope): what is asked for, each
    /// a configuration of ours that the offer holds.
    fn authorized(
        &self,
        request: &PushedAuthorizationRequest,
        offered: &[String],
    ) -> Result<Authorized, IssuerError> {
        let config = self.config();
        let mut configuration_ids: Vec<String> = Vec::new();
        let by_details = if let Some(details) = &request.authorization_details {
            let invalid = |detail: &str| IssuerError::InvalidAuthorizationDetails(detail.into());
            let details: Vec<Value> = serde_json::from_str(details)
                .map_err(|_| invalid("authorization_details is not a JSON array"))?;
            if details.is_empty() {
                return Err(invalid("authorization_details is empty"));
            }
            for detail in &details {
                // RFC 9396 s5: an unknown type is refused.
                if detail.get("type").and_then(Value::as_str) != Some(OPENID_CREDENTIAL) {
                    return Err(invalid("type must be openid_credential"));
                }
                let id = detail
                    .get("credential_configuration_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("credential_configuration_id is missing"))?;
                if config.configuration(id).is_none() || !offered.iter().any(|o| o == id) {
                    return Err(invalid("credential_configuration_id was not offered"));
                }
                if !configuration_ids.iter().any(|seen| seen == id) {
                    configuration_ids.push(id.to_owned());
                }
            }
            true
        } else if let Some(scope) = &request.scope {
            for name in scope.split(' ').filter(|name| !name.is_empty()) {
                // RFC 6749 s4.1.2.1: invalid_scope for a scope we do not know or did not offer.
                let conf = config
                    .configurations
                    .iter()
                    .find(|conf| conf.scope == name && offered.contains(&conf.id))
                    .ok_or_else(|| IssuerError::InvalidScope(name.to_owned()))?;
                if !configuration_ids.contains(&conf.id) {
                    configuration_ids.push(conf.id.clone());
                }
            }
            if configuration_ids.is_empty() {
                return Err(IssuerError::InvalidScope("scope is empty".into()));
            }
            false
        } else {
            return Err(invalid_request(
                "authorization_details or scope names what to issue",
            ));
        };
        Ok(Authorized {
            configuration_ids,
            by_details,
        })
    }

    /// The authorization endpoint (RFC 9126 s4): only a pushed request's `request_uri`, by the
    /// client that pushed it, once. Returns the redirect: the code, `state` and `iss` (RFC 9207)
    /// on success, `access_denied` when the offer closed meanwhile. Errors (no trusted
    /// redirect_uri yet) are shown to the user agent, never redirected.
    pub async fn authorization_response(
        &self,
        request: &AuthorizationRequest,
    ) -> Result<String, IssuerError> {
        let config = self.config();
        let now = self.now();
        // RFC 9126 s5 (require_pushed_authorization_requests): no request_uri, no authorization.
        let request_uri = request
            .request_uri
            .as_deref()
            .ok_or_else(|| invalid_request("pushed authorization requests are required"))?;
        let client_id = request
            .client_id
            .as_deref()
            .ok_or_else(|| invalid_request("client_id is missing"))?;
        let hash = secret_hash(request_uri);
        let unknown = || IssuerError::InvalidRequestUri("unknown, used or expired".into());
        let pushed = self
            .inner
            .store
            .authorization(AuthorizationKind::RequestUri, &hash, now)
            .await?
            .ok_or_else(unknown)?;
        // RFC 9126 s4: the client_id must be the one that pushed the request.
        if pushed.client_id != client_id {
            return Err(IssuerError::InvalidRequestUri(
                "pushed by another client".into(),
            ));
        }
        // RFC 9126 s4, s7.3: one-time use.
        if !taken(
            self.inner
                .store
                .take_once(REQUEST_URI_SCOPE, &hash, now)
                .await,
        )? {
            return Err(unknown());
        }
        let mut params: Vec<(&str, String)> = Vec::new();
        let offer_open = self
            .inner
            .store
            .offer(&pushed.offer_id)
            .await?
            .is_some_and(|offer| {
                offer.state == "open" && offer.status == "active" && offer.expires_at > now
            });
        if offer_open {
            let code = immerse_jose::base64url::random(32)?;
            let code_hash = secret_hash(&code);
            let expires_at = now + config.authorization_code_lifetime;
            self.inner
                .store
                .insert_authorization(
                    AuthorizationKind::Code,
                    &AuthorizationRow {
                        handle_hash: code_hash.clone(),
                        expires_at,
                        ..pushed.clone()
                    },
                )
                .await?;
            self.inner
                .store
                .check_and_record(CODE_SCOPE, &code_hash, expires_at)
                .await?;
            params.push(("code", code));
        } else {
            // RFC 6749 s4.1.2.1: the subject's pre-approval is gone.
            params.push(("error", "access_denied".into()));
        }
        if let Some(state) = pushed.state {
            params.push(("state", state));
        }
        params.push(("iss", config.issuer.clone()));
        let query: Vec<String> = params
            .iter()
            .map(|(name, value)| format!("{name}={}", percent_encode(value)))
            .collect();
        let separator = if pushed.redirect_uri.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!(
            "{}{separator}{}",
            pushed.redirect_uri,
            query.join("&")
        ))
    }

    /// RFC 6749 s4.1.3, RFC 7636 s4.6: the code, once, by the client it was issued to, with the
    /// same redirect_uri and the PKCE verifier. The code is spent before the checks that
    /// follow, so a failed redemption cannot be retried. Returns what was authorized.
    pub(crate) async fn redeem_authorization_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
        client_id: &str,
    ) -> Result<AuthorizationRow, IssuerError> {
        let now = self.now();
        let hash = secret_hash(code);
        let invalid_grant = |detail: &str| IssuerError::InvalidGrant(detail.into());
        // RFC 6749 s4.1.2: a code is used once.
        if !taken(self.inner.store.take_once(CODE_SCOPE, &hash, now).await)? {
            return Err(invalid_grant(
                "the authorization code is invalid, used or expired",
            ));
        }
        let row = self
            .inner
            .store
            .authorization(AuthorizationKind::Code, &hash, now)
            .await?
            .ok_or_else(|| invalid_grant("the authorization code is invalid or expired"))?;
        if row.client_id != client_id {
            return Err(invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        if row.redirect_uri != redirect_uri {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        if !verifier_matches(code_verifier, &row.code_challenge) {
            return Err(invalid_grant("code_verifier does not match code_challenge"));
        }
        Ok(row)
    }
}

/// RFC 7636 s4.1 for the token endpoint's `code_verifier`.
pub(crate) fn check_code_verifier(verifier: &str) -> Result<(), IssuerError> {
    if is_pkce_text(verifier) {
        Ok(())
    } else {
        Err(invalid_request(
            "code_verifier must be 43 to 128 unreserved characters",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 app. B: the example verifier and its S256 challenge.
    #[test]
    fn rfc7636_appendix_b_verifier_matches_its_challenge() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verifier_matches(verifier, challenge));
        assert!(!verifier_matches(verifier, verifier));
        assert!(check_code_verifier(verifier).is_ok());
    }

    #[test]
    fn code_verifiers_outside_the_rfc7636_alphabet_or_length_are_refused() {
        for bad in ["short", &"a".repeat(129), &format!("{}+", "a".repeat(43))] {
            assert!(matches!(
                check_code_verifier(bad),
                Err(IssuerError::InvalidRequest(_))
            ));
        }
        assert!(check_code_verifier(&"a".repeat(128)).is_ok());
    }
}
