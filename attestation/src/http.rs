//! The Attestation Service's HTTP edge (port 5000 in the cluster).
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::service::{AttestError, AttestRequest, Attester};
use crate::{AttestationError, identity::IdentityRefusal};

/// Requests above this are refused unread: a report is 1184 bytes and a VCEK about 1.4 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router(attester: Attester) -> Router {
    Router::new()
        .route("/v1/challenge", post(challenge))
        .route("/v1/attest", post(attest))
        .route("/.well-known/jwks.json", get(jwks))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(attester)
}

impl AttestError {
    /// OAuth-style error code and status.
    pub fn code_and_status(&self) -> (&'static str, StatusCode) {
        match self {
            Self::InvalidRequest(_) => ("invalid_request", StatusCode::BAD_REQUEST),
            Self::InvalidChallenge => ("invalid_challenge", StatusCode::BAD_REQUEST),
            Self::InvalidInstanceKey(_) => ("invalid_key", StatusCode::BAD_REQUEST),
            Self::Identity(IdentityRefusal::ReviewFailed(_)) => {
                ("temporarily_unavailable", StatusCode::SERVICE_UNAVAILABLE)
            }
            Self::Identity(_) | Self::UnknownClient(_) => ("access_denied", StatusCode::FORBIDDEN),
            Self::Evidence(AttestationError::Policy(_)) => ("access_denied", StatusCode::FORBIDDEN),
            Self::Evidence(AttestationError::InvalidPolicy(_)) | Self::Internal(_) => {
                ("server_error", StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Evidence(_) => ("invalid_evidence", StatusCode::BAD_REQUEST),
        }
    }
}

impl IntoResponse for AttestError {
    fn into_response(self) -> Response {
        let (code, status) = self.code_and_status();
        let description = if status.is_server_error() {
            tracing::error!(error = %self, "attestation failed");
            "internal error".to_owned()
        } else {
            tracing::info!(error = %self, "attestation refused");
            self.to_string()
        };
        let mut response = (
            status,
            Json(json!({"error": code, "error_description": description})),
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

async fn challenge(State(attester): State<Attester>) -> Result<Response, AttestError> {
    let challenge = attester.challenge().await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(challenge)).into_response())
}

async fn attest(
    State(attester): State<Attester>,
    body: axum::body::Bytes,
) -> Result<Response, AttestError> {
    let request: AttestRequest = serde_json::from_slice(&body)
        .map_err(|err| AttestError::InvalidRequest(err.to_string()))?;
    let token = attester.attest(request).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/oauth-client-attestation+jwt",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        token,
    )
        .into_response())
}

async fn jwks(State(attester): State<Attester>) -> Response {
    Json(json!({"keys": [attester.public_key()]})).into_response()
}
