//! The one error type of the issuer, and its OAuth / OpenID4VCI wire form.
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Every refusal the issuer makes, each with the error code its specification names.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    // RFC 6749 s5.2 and OpenID4VCI 1.0 s6.3: token endpoint.
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_client: {0}")]
    InvalidClient(String),
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    /// RFC 6749 s4.1.2.1: at the PAR endpoint (RFC 9126 s2.3).
    #[error("unsupported_response_type: {0}")]
    UnsupportedResponseType(String),
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// RFC 9396 s5.
    #[error("invalid_authorization_details: {0}")]
    InvalidAuthorizationDetails(String),
    /// RFC 9101 s7 (used by RFC 9126 s4): the request_uri is unknown, used or expired.
    #[error("invalid_request_uri: {0}")]
    InvalidRequestUri(String),
    /// draft-ietf-oauth-attestation-based-client-auth s6.2: a fresh challenge is needed.
    #[error("use_attestation_challenge: {0}")]
    UseAttestationChallenge(String),
    /// RFC 9449 s5, s7.1: the DPoP proof is invalid.
    #[error("invalid_dpop_proof: {detail}")]
    InvalidDpopProof { detail: String, at_resource: bool },
    /// RFC 9449 s8, s9: retry with this nonce.
    #[error("use_dpop_nonce")]
    UseDpopNonce { nonce: String, at_resource: bool },
    // RFC 6750 s3.1 / RFC 9449 s7.1: the access token at the credential endpoint.
    #[error("invalid_token: {0}")]
    InvalidToken(String),
    // OpenID4VCI 1.0 s8.3.1.2: credential endpoint.
    #[error("invalid_credential_request: {0}")]
    InvalidCredentialRequest(String),
    #[error("unknown_credential_configuration: {0}")]
    UnknownCredentialConfiguration(String),
    #[error("unknown_credential_identifier: {0}")]
    UnknownCredentialIdentifier(String),
    #[error("invalid_proof: {0}")]
    InvalidProof(String),
    #[error("invalid_nonce: {0}")]
    InvalidNonce(String),
    #[error("invalid_encryption_parameters: {0}")]
    InvalidEncryptionParameters(String),
    #[error("credential_request_denied: {0}")]
    CredentialRequestDenied(String),
    /// OpenID4VCI 1.0 s9.3: deferred credential endpoint.
    #[error("invalid_transaction_id: {0}")]
    InvalidTransactionId(String),
    // OpenID4VCI 1.0 s11.3: notification endpoint.
    #[error("invalid_notification_id: {0}")]
    InvalidNotificationId(String),
    #[error("invalid_notification_request: {0}")]
    InvalidNotificationRequest(String),
    // Admin API (RFC 6750 s3.1).
    #[error("admin authentication failed")]
    AdminUnauthorized,
    #[error("admin token lacks scope {0}")]
    AdminForbidden(&'static str),
    #[error("not found")]
    NotFound,
    // Our own failures; their detail is logged, never sent.
    #[error("store: {0}")]
    Store(#[from] immerse_store::StoreError),
    #[error("jose: {0}")]
    Jose(#[from] immerse_jose::Error),
    #[error("sd-jwt: {0}")]
    SdJwt(#[from] immerse_sd_jwt::Error),
    #[error("status list: {0}")]
    StatusList(#[from] immerse_status_list::StatusListError),
    #[error("registry unavailable: {0}")]
    Registry(String),
    #[error("configuration: {0}")]
    Config(#[from] crate::ConfigError),
    /// A rotation that did not switch keys; the previous key stays in use.
    #[error("key rotation: {0}")]
    KeyRotation(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl IssuerError {
    /// The OAuth `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::UnsupportedResponseType(_) => "unsupported_response_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidAuthorizationDetails(_) => "invalid_authorization_details",
            Self::InvalidRequestUri(_) => "invalid_request_uri",
            Self::UseAttestationChallenge(_) => "use_attestation_challenge",
            Self::InvalidDpopProof { .. } => "invalid_dpop_proof",
            Self::UseDpopNonce { .. } => "use_dpop_nonce",
            Self::InvalidToken(_) | Self::AdminUnauthorized => "invalid_token",
            Self::InvalidCredentialRequest(_) => "invalid_credential_request",
            Self::UnknownCredentialConfiguration(_) => "unknown_credential_configuration",
            Self::UnknownCredentialIdentifier(_) => "unknown_credential_identifier",
            Self::InvalidProof(_) => "invalid_proof",
            Self::InvalidNonce(_) => "invalid_nonce",
            Self::InvalidEncryptionParameters(_) => "invalid_encryption_parameters",
            Self::CredentialRequestDenied(_) => "credential_request_denied",
            Self::InvalidTransactionId(_) => "invalid_transaction_id",
            Self::InvalidNotificationId(_) => "invalid_notification_id",
            Self::InvalidNotificationRequest(_) => "invalid_notification_request",
            Self::AdminForbidden(_) => "insufficient_scope",
            Self::NotFound => "not_found",
            Self::Registry(_) => "temporarily_unavailable",
            Self::Store(_) | Self::Jose(_) | Self::SdJwt(_) | Self::StatusList(_) => "server_error",
            Self::Internal(_) | Self::Config(_) | Self::KeyRotation(_) => "server_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            // RFC 6749 s5.2: 401 for a failed client authentication.
            Self::InvalidClient(_) => StatusCode::UNAUTHORIZED,
            // RFC 9449 s7.1, s9: 401 at a resource (the credential endpoint), 400 at the AS.
            Self::InvalidDpopProof { at_resource, .. } | Self::UseDpopNonce { at_resource, .. } => {
                if *at_resource {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                }
            }
            Self::InvalidToken(_) | Self::AdminUnauthorized => StatusCode::UNAUTHORIZED,
            Self::AdminForbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Registry(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Store(_)
            | Self::Jose(_)
            | Self::SdJwt(_)
            | Self::StatusList(_)
            | Self::Config(_)
            | Self::KeyRotation(_)
            | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn description(&self) -> String {
        match self {
            Self::Store(_) | Self::Jose(_) | Self::SdJwt(_) | Self::StatusList(_) => {
                "internal error".into()
            }
            Self::Internal(_) | Self::Config(_) | Self::KeyRotation(_) => "internal error".into(),
            Self::UseDpopNonce { .. } => "use the DPoP-Nonce header value in the DPoP proof".into(),
            other => {
                let text = other.to_string();
                text.split_once(": ")
                    .map_or(text.clone(), |(_, rest)| rest.to_owned())
            }
        }
    }
}

impl IntoResponse for IssuerError {
    /// `{"error", "error_description"}` with `Cache-Control: no-store` (RFC 6749 s5.2); never
    /// encrypted (OpenID4VCI 1.0 s8.3.1.2). RFC 9449 s9 / RFC 6750 s3 challenges at the
    /// credential endpoint go in `WWW-Authenticate`.
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "issuer request failed");
        } else {
            tracing::debug!(error = %self, "issuer request refused");
        }
        let code = self.code();
        let body = json!({"error": code, "error_description": self.description()});
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let challenge = match &self {
            Self::InvalidToken(_) | Self::AdminUnauthorized => Some(format!(
                "{} error=\"invalid_token\"",
                if matches!(self, Self::AdminUnauthorized) {
                    "Bearer"
                } else {
                    "DPoP"
                }
            )),
            Self::InvalidDpopProof {
                at_resource: true, ..
            }
            | Self::UseDpopNonce {
                at_resource: true, ..
            } => Some(format!("DPoP error=\"{code}\", algs=\"ES256\"")),
            _ => None,
        };
        if let Some(value) = challenge.and_then(|value| HeaderValue::from_str(&value).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Self::UseDpopNonce { nonce, .. } = &self
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            headers.insert("dpop-nonce", value);
        }
        response
    }
}
