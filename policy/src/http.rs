//! The webhook's HTTP surface: `POST /validate`, `POST /mutate` (AdmissionReview v1),
//! `GET /metrics`, `/healthz`, `/readyz`. Handlers adapt; [`Admission::decide`] decides.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use tower_http::limit::RequestBodyLimitLayer;

use crate::admission::{Admission, Decision};
use crate::error::PolicyError;
use crate::metrics::Metrics;

/// kube-apiserver's own request size limit is 3 MiB; a review is at most a little more.
const MAX_REVIEW_BYTES: usize = 4 * 1024 * 1024;

pub struct WebhookState {
    pub admission: Admission,
    pub metrics: Metrics,
}

pub fn router(state: Arc<WebhookState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .layer(RequestBodyLimitLayer::new(MAX_REVIEW_BYTES))
        .with_state(state)
}

async fn validate(State(state): State<Arc<WebhookState>>, body: Bytes) -> Response {
    review(&state, &body, false).await
}

async fn mutate(State(state): State<Arc<WebhookState>>, body: Bytes) -> Response {
    review(&state, &body, true).await
}

async fn metrics(State(state): State<Arc<WebhookState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// Ready when at least one policy is loaded: with none, every governed image is denied anyway,
/// but a rollout should not proceed on a webhook that lost its policies.
async fn ready(State(state): State<Arc<WebhookState>>) -> Response {
    if state.admission.policies().policies.is_empty() {
        (StatusCode::SERVICE_UNAVAILABLE, "no policies loaded").into_response()
    } else {
        "ok".into_response()
    }
}

async fn review(state: &WebhookState, body: &[u8], mutate: bool) -> Response {
    let started = Instant::now();
    let request = match parse_review(body) {
        Ok(request) => request,
        // kube-apiserver treats an error answer as a failure of the webhook, and with
        // failurePolicy Fail denies the request.
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let decision = state.admission.decide(&request, mutate).await;
    audit(&request, &decision, mutate);
    let reasons: Vec<&'static str> = decision.denials.iter().map(|d| d.reason).collect();
    let cache: Vec<&'static str> = decision.cache.iter().map(|c| c.as_str()).collect();
    state.metrics.record(
        decision.allowed(),
        !decision.warnings.is_empty(),
        &reasons,
        &cache,
        started.elapsed(),
    );
    let mut response = AdmissionResponse::from(&request);
    if !decision.allowed() {
        response = response.deny(decision.message());
        response.result.code = 403;
        response.result.reason = "Forbidden".into();
    } else if mutate && !decision.patch.is_empty() {
        match response.with_patch(json_patch::Patch(decision.patch.clone())) {
            Ok(patched) => response = patched,
            Err(e) => {
                response = AdmissionResponse::from(&request).deny(format!("patch: {e}"));
            }
        }
    }
    if !decision.warnings.is_empty() {
        response.warnings = Some(decision.warnings.clone());
    }
    match review_json(response) {
        Ok(json) => axum::Json(json).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    }
}

/// The review as JSON, with `patch` base64-encoded: kube-apiserver reads it as Go `[]byte`,
/// which JSON carries as base64, while kube-core serializes its `Vec<u8>` as an array of
/// numbers (which the API server would refuse, failing every mutation).
fn review_json(response: AdmissionResponse) -> Result<serde_json::Value, String> {
    use base64::Engine as _;
    let patch = response.patch.clone();
    let mut json = serde_json::to_value(response.into_review()).map_err(|e| e.to_string())?;
    if let (Some(patch), Some(slot)) = (patch, json.pointer_mut("/response/patch")) {
        *slot = base64::engine::general_purpose::STANDARD
            .encode(patch)
            .into();
    }
    Ok(json)
}

/// The request of an AdmissionReview v1, or why there is none.
pub fn parse_review(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, PolicyError> {
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_slice(body).map_err(|e| PolicyError::InvalidReview(e.to_string()))?;
    review
        .try_into()
        .map_err(|_| PolicyError::InvalidReview("no request".into()))
}

/// One line per decision, for the audit trail (target `immerse::audit`).
fn audit(request: &AdmissionRequest<DynamicObject>, decision: &Decision, mutate: bool) {
    let reasons: Vec<&str> = decision.denials.iter().map(|d| d.reason).collect();
    tracing::info!(
        target: "immerse::audit",
        uid = %request.uid,
        endpoint = if mutate { "mutate" } else { "validate" },
        operation = ?request.operation,
        kind = %request.kind.kind,
        namespace = request.namespace.as_deref().unwrap_or_default(),
        name = %request.name,
        user = request.user_info.username.as_deref().unwrap_or_default(),
        allowed = decision.allowed(),
        reasons = ?reasons,
        message = %decision.message(),
        warnings = decision.warnings.len(),
        pinned = decision.patch.len(),
        "admission decision"
    );
}
