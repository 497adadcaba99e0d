use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use immerse_store::{SecretUse, StoreError};

use crate::model::Role;

/// Every way a registry operation can fail. Client errors carry an OAuth-style code; server
/// errors are logged in full and answered with a generic description.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The request body is over the limit ([`crate::http::MAX_BODY_BYTES`]).
    #[error("request body over {0} bytes")]
    BodyTooLarge(usize),
    /// The submitted key is refused (private member, symmetric, curve, size, off-curve).
    #[error("key refused: {0}")]
    InvalidKey(immerse_jose::Error),
    #[error("algorithm {0:?} is not accepted by this registry")]
    UnsupportedAlgorithm(String),
    /// The proof of possession or countersignature did not verify.
    #[error("proof refused: {0}")]
    InvalidProof(immerse_jose::Error),
    #[error("a countersignature by an active key of the entity is required")]
    CountersignatureRequired,
    #[error("submission replayed (jti {0:?} seen before)")]
    Replayed(String),
    #[error("enrolment secret refused: {0}")]
    EnrolmentSecret(&'static str),
    #[error("entity {0} is suspended")]
    EntitySuspended(String),
    /// The entity exists but its role is not the one the use of its key requires.
    #[error("entity {entity} has role {actual}, not {required}")]
    WrongRole {
        entity: String,
        required: Role,
        actual: Role,
    },
    /// The entity's allowances do not cover what it did.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    #[error("key {0} is bound to another entity")]
    KidBoundElsewhere(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("key {kid} is {status} and cannot be {action}")]
    InvalidTransition {
        kid: String,
        status: &'static str,
        action: &'static str,
    },
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    #[error("the token lacks scope {0}")]
    InsufficientScope(&'static str),
    #[error("log integrity: {0}")]
    Integrity(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("signing failed: {0}")]
    Signing(immerse_jose::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the registry is unreachable and its cached answer is too old: {0}")]
    Unavailable(String),
}

impl RegistryError {
    /// The OAuth-style `error` code and HTTP status (RFC 6749 s5.2 shape).
    pub fn code_and_status(&self) -> (&'static str, StatusCode) {
        use RegistryError as E;
        match self {
            E::InvalidRequest(_) => ("invalid_request", StatusCode::BAD_REQUEST),
            E::BodyTooLarge(_) => ("invalid_request", StatusCode::PAYLOAD_TOO_LARGE),
            E::InvalidKey(_) | E::UnsupportedAlgorithm(_) => {
                ("invalid_key", StatusCode::BAD_REQUEST)
            }
            E::InvalidProof(_) | E::CountersignatureRequired => {
                ("invalid_proof", StatusCode::BAD_REQUEST)
            }
            E::Replayed(_) => ("replay_detected", StatusCode::BAD_REQUEST),
            E::EnrolmentSecret(_) => ("invalid_grant", StatusCode::BAD_REQUEST),
            E::EntitySuspended(_) | E::WrongRole { .. } | E::NotAllowed(_) => {
                ("access_denied", StatusCode::FORBIDDEN)
            }
            E::KidBoundElsewhere(_) | E::AlreadyExists(_) | E::InvalidTransition { .. } => {
                ("conflict", StatusCode::CONFLICT)
            }
            E::NotFound(_) => ("not_found", StatusCode::NOT_FOUND),
            E::Unauthenticated => ("invalid_token", StatusCode::UNAUTHORIZED),
            E::InsufficientScope(_) => ("insufficient_scope", StatusCode::FORBIDDEN),
            E::Unavailable(_) => ("temporarily_unavailable", StatusCode::SERVICE_UNAVAILABLE),
            E::Integrity(_) | E::Corrupt(_) | E::Signing(_) | E::Store(_) => {
                ("server_error", StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// Whether the caller is at fault (and the refusal belongs in the audit trail).
    pub fn is_refusal(&self) -> bool {
        self.code_and_status().1.is_client_error()
    }

    pub(crate) fn from_secret_use(outcome: SecretUse) -> Option<Self> {
        match outcome {
            SecretUse::Accepted => None,
            SecretUse::Unknown => Some(Self::EnrolmentSecret("unknown")),
            SecretUse::Expired => Some(Self::EnrolmentSecret("expired")),
            SecretUse::AlreadyUsed => Some(Self::EnrolmentSecret("already used")),
        }
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        let (code, status) = self.code_and_status();
        let description = if status.is_server_error() {
            tracing::error!(error = %self, "registry request failed");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let body = serde_json::json!({"error": code, "error_description": description});
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
