//! The one error type of the verifier, answered in OAuth form (OpenID4VP 1.0 s8.5; RFC 6749
//! s5.2): `{"error", "error_description"}` with `Cache-Control: no-store`.
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use immerse_registry::model::KeyInvalid;
use serde_json::json;

use crate::TransactionDataMismatch;
use crate::dcql::{DcqlError, DcqlMismatch};

/// Why one presentation in a `vp_token` is refused (OpenID4VP 1.0 s8.6).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresentationError {
    /// A check of RFC 9901 or SD-JWT VC (signature, disclosures, KB-JWT, time).
    #[error("SD-JWT VC refused: {0}")]
    SdJwt(immerse_sd_jwt::Error),
    #[error("issuer JWT has no {0}")]
    MissingIssuerClaim(&'static str),
    /// The registry has no such issuer or key, or could not be asked.
    #[error("issuer key could not be resolved: {0}")]
    IssuerKeyUnavailable(String),
    /// The registry's verified answer refuses the issuer: unknown, not an issuer entity,
    /// suspended, or not registered for the credential's `vct`.
    #[error("issuer not trusted for this credential: {0}")]
    UntrustedIssuer(String),
    /// The registry says the issuer key was not valid at `iat`, or is no longer valid now.
    #[error("issuer key not valid: {0}")]
    IssuerKeyInvalid(KeyInvalid),
    #[error("credential does not answer the query: {0}")]
    Dcql(DcqlMismatch),
    /// OpenID4VP 1.0 s8.4: the KB-JWT does not bind the requested transaction data.
    #[error("transaction data binding refused: {0}")]
    TransactionData(TransactionDataMismatch),
    #[error("credential has no status_list reference, which this verifier requires")]
    MissingStatus,
    #[error("credential status is {0}")]
    Status(&'static str),
    /// The status list URI does not lie under the issuer identifier's origin: a list there is
    /// not the issuer's to publish, whoever signed it.
    #[error("status list {0} is not under the issuer's origin")]
    ForeignStatusList(String),
    /// Fail closed: no verified status list could be had (the verifier's trouble, not the
    /// wallet's).
    #[error("status list unavailable: {0}")]
    StatusUnavailable(String),
}

impl PresentationError {
    /// A stable, precise code for the relying party and for tests.
    pub fn code(&self) -> String {
        match self {
            // The JOSE reason too: `sd_jwt:KbJwt:UnknownKey`.
            Self::SdJwt(
                err @ (immerse_sd_jwt::Error::KbJwt(inner)
                | immerse_sd_jwt::Error::IssuerJwt(inner)
                | immerse_sd_jwt::Error::InvalidHolderKey(inner)),
            ) => format!("sd_jwt:{}:{}", variant_name(err), variant_name(inner)),
            Self::SdJwt(err) => format!("sd_jwt:{}", variant_name(err)),
            Self::MissingIssuerClaim(_) => "missing_issuer_claim".into(),
            Self::IssuerKeyUnavailable(_) => "issuer_key_unavailable".into(),
            Self::UntrustedIssuer(_) => "untrusted_issuer".into(),
            Self::IssuerKeyInvalid(reason) => format!("issuer_key:{}", variant_name(reason)),
            Self::Dcql(mismatch) => format!("dcql:{}", variant_name(mismatch)),
            Self::TransactionData(mismatch) => {
                format!("transaction_data:{}", variant_name(mismatch))
            }
            Self::MissingStatus => "status_missing".into(),
            Self::Status(status) => format!("status:{status}"),
            Self::StatusUnavailable(_) => "status_unavailable".into(),
            Self::ForeignStatusList(_) => "foreign_status_list".into(),
        }
    }
}

/// The enum variant name of a `Debug` value (`KbNonceMismatch`, `Revoked`).
fn variant_name(value: &impl std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    text.split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    /// The relying-party API needs a valid bearer token (RFC 6750 s3.1).
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    #[error("invalid DCQL query: {0}")]
    InvalidQuery(#[from] DcqlError),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// OpenID4VP 1.0 s5.10: the wallet used a method the request did not offer.
    #[error("request_uri_method not supported: {0}")]
    InvalidRequestUriMethod(String),
    #[error("no such request")]
    UnknownSession,
    #[error("the request has expired")]
    Expired,
    /// OpenID4VP 1.0 s8.3: the JWE does not decrypt with the request's key, or is refused.
    #[error("response could not be decrypted: {0}")]
    Decryption(immerse_jose::Error),
    #[error("malformed response: {0}")]
    MalformedResponse(String),
    /// OpenID4VP 1.0 s8.2: `state` is not the request's.
    #[error("state does not match the request")]
    StateMismatch,
    /// OpenID4VP 1.0 s14.1: nonce and state are used once.
    #[error("this request was already answered")]
    Replayed,
    #[error("presentation for {credential_id:?} refused: {error}")]
    Presentation {
        credential_id: String,
        error: PresentationError,
    },
    #[error("vp_token does not answer the query: {0}")]
    Dcql(DcqlMismatch),
    #[error("configuration: {0}")]
    Config(String),
    #[error("storage: {0}")]
    Store(#[from] immerse_store::StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl VerifierError {
    /// The OAuth error code (OpenID4VP 1.0 s8.5, RFC 6749 s5.2, RFC 6750 s3.1).
    pub fn error_code(&self) -> &'static str {
        match self {
            _ if self.is_verifier_trouble() => "temporarily_unavailable",
            Self::Unauthenticated => "invalid_token",
            Self::InvalidRequestUriMethod(_) => "invalid_request_uri_method",
            Self::Config(_) | Self::Store(_) | Self::Internal(_) => "server_error",
            _ => "invalid_request",
        }
    }

    /// The precise reason, stored with a failed session for the relying party.
    pub fn reason(&self) -> String {
        match self {
            Self::Presentation { error, .. } => error.code(),
            Self::Dcql(mismatch) => format!("dcql:{}", variant_name(mismatch)),
            Self::Decryption(_) => "decryption_failed".into(),
            Self::MalformedResponse(_) => "malformed_response".into(),
            Self::StateMismatch => "state_mismatch".into(),
            Self::Replayed => "replayed".into(),
            Self::Expired => "expired".into(),
            other => other.error_code().into(),
        }
    }

    /// A presentation the verifier could not judge because the registry or the status list
    /// could not be reached: OpenID4VP 1.0 s8.5 lets it answer `temporarily_unavailable`.
    fn is_verifier_trouble(&self) -> bool {
        matches!(
            self,
            Self::Presentation {
                error: PresentationError::StatusUnavailable(_)
                    | PresentationError::IssuerKeyUnavailable(_),
                ..
            }
        )
    }

    fn status(&self) -> StatusCode {
        match self {
            _ if self.is_verifier_trouble() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::UnknownSession => StatusCode::NOT_FOUND,
            Self::Config(_) | Self::Store(_) | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for VerifierError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Internal details stay in the log.
        let description = if self.is_verifier_trouble() {
            // The cause (a TLS trust failure, a refused connection) is the operator's to see,
            // and would be an oracle of the verifier's network for the wallet.
            tracing::warn!(error = %self, "presentation could not be judged");
            "the verifier could not check this credential now; try again later".to_owned()
        } else if status.is_server_error() {
            tracing::error!(error = %self, "verifier error");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (
            status,
            Json(json!({"error": self.error_code(), "error_description": description})),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}
