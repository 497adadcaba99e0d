//! HTTP for the verifier: the relying-party API (bearer token), the wallet's `request_uri` and
//! `response_uri`, and the relying party's web page (`/rp/`, see `page.rs`). Handlers extract, call a [`Verifier`] method and map the result.
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::request::RequestUriFetch;
use crate::{NewRequest, Verifier, VerifierError, WalletResponse, token_hash};

/// The relying party's token hash, from `Authorization: Bearer` (RFC 6750 s2.1); checked
/// before the body is read.
pub(crate) struct RelyingParty(pub(crate) String);

impl FromRequestParts<Arc<Verifier>> for RelyingParty {
    type Rejection = VerifierError;

    async fn from_request_parts(
        parts: &mut Parts,
        verifier: &Arc<Verifier>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(VerifierError::Unauthenticated)?;
        let hash = token_hash(token);
        if verifier.config().api_token_hashes.contains(&hash) {
            Ok(Self(hash))
        } else {
            Err(VerifierError::Unauthenticated)
        }
    }
}

/// The verifier's routes.
pub fn router(verifier: Arc<Verifier>) -> Router {
    let limit = verifier.config().max_body_bytes;
    Router::new()
        .route("/v1/requests", post(create))
        .route("/v1/requests/{id}", get(result))
        .route("/request/{id}", get(request_get).post(request_post))
        .route("/response/{id}", post(response))
        .route("/v1/pages", post(crate::page::create_page))
        .merge(crate::page::routes())
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .with_state(verifier)
}

async fn create(
    State(verifier): State<Arc<Verifier>>,
    RelyingParty(owner): RelyingParty,
    Json(request): Json<NewRequest>,
) -> Result<Response, VerifierError> {
    let created = verifier.create_request(&owner, request).await?;
    Ok(no_store(Json(created).into_response()))
}

#[derive(Deserialize)]
struct ResultQuery {
    response_code: Option<String>,
}

async fn result(
    State(verifier): State<Arc<Verifier>>,
    RelyingParty(owner): RelyingParty,
    Path(id): Path<String>,
    Query(query): Query<ResultQuery>,
) -> Result<Response, VerifierError> {
    let result = verifier
        .result(&owner, &id, query.response_code.as_deref())
        .await?;
    Ok(no_store(Json(result).into_response()))
}

async fn request_get(
    State(verifier): State<Arc<Verifier>>,
    Path(id): Path<String>,
) -> Result<Response, VerifierError> {
    request_object(&verifier, &id, RequestUriFetch::Get).await
}

#[derive(Deserialize)]
struct RequestUriPost {
    wallet_metadata: Option<String>,
    wallet_nonce: Option<String>,
}

async fn request_post(
    State(verifier): State<Arc<Verifier>>,
    Path(id): Path<String>,
    Form(form): Form<RequestUriPost>,
) -> Result<Response, VerifierError> {
    let fetch = RequestUriFetch::Post {
        wallet_metadata: form.wallet_metadata,
        wallet_nonce: form.wallet_nonce,
    };
    request_object(&verifier, &id, fetch).await
}

/// OpenID4VP 1.0 s5.10: the request object as `application/oauth-authz-req+jwt`.
async fn request_object(
    verifier: &Verifier,
    id: &str,
    fetch: RequestUriFetch,
) -> Result<Response, VerifierError> {
    let jwt = verifier.request_object(id, fetch).await?;
    let mut response = jwt.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/oauth-authz-req+jwt"),
    );
    Ok(no_store(response))
}

#[derive(Deserialize)]
struct ResponseForm {
    response: Option<String>,
    vp_token: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// OpenID4VP 1.0 s8.2, s8.3, s8.5: form-encoded `response` (JWE), `vp_token` and `state`, or
/// the wallet's `error`.
async fn response(
    State(verifier): State<Arc<Verifier>>,
    Path(id): Path<String>,
    Form(form): Form<ResponseForm>,
) -> Result<Response, VerifierError> {
    let response = match form {
        ResponseForm {
            response: Some(jwe),
            vp_token: None,
            state: None,
            error: None,
            error_description: None,
        } => WalletResponse::Encrypted(jwe),
        ResponseForm {
            response: None,
            vp_token: Some(vp_token),
            state,
            error: None,
            error_description: None,
        } => WalletResponse::Clear { vp_token, state },
        ResponseForm {
            response: None,
            vp_token: None,
            state,
            error: Some(error),
            error_description,
        } => WalletResponse::Error {
            error,
            error_description,
            state,
        },
        _ => {
            return Err(VerifierError::MalformedResponse(
                "expected either response or vp_token".into(),
            ));
        }
    };
    let accepted = verifier.handle_response(&id, response).await?;
    Ok(no_store(Json(accepted).into_response()))
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
