//! The registry's HTTP edge: extract, call a [`Registry`] function, map the result.
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{Scope, authorize};
use crate::model::RevocationReason;
use crate::{AdminKey, KeySubmission, NewEntity, Registry, RegistryError};

/// Request bodies above this are refused before they are read (SYSTEM.md s5).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

type Result<T> = std::result::Result<T, RegistryError>;

/// All routes: public publication, entity self-service, and the admin API under `/admin/v1`.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/.well-known/openid-federation", get(entity_configuration))
        .route("/v1/entities/{id}/jwks", get(jwks))
        .route("/v1/entities/{id}/statement", get(statement))
        .route("/v1/entities/{id}/historical-keys", get(historical_keys))
        .route("/v1/entities/{id}/keys", post(submit_key))
        .route("/v1/entities/{id}/keys/{kid}/retire", post(retire_own_key))
        .route("/v1/log/checkpoint", get(checkpoint))
        .route("/v1/log/entries/{index}", get(inclusion))
        .route("/v1/log/consistency", get(consistency))
        .route("/admin/v1/entities", post(create_entity))
        .route(
            "/admin/v1/entities/{id}/enrolment-secret",
            post(enrolment_secret),
        )
        .route("/admin/v1/entities/{id}/suspend", post(suspend))
        .route("/admin/v1/entities/{id}/reactivate", post(reactivate))
        .route("/admin/v1/entities/{id}/keys", post(add_key))
        .route("/admin/v1/entities/{id}/keys/{kid}/retire", post(retire))
        .route("/admin/v1/entities/{id}/keys/{kid}/revoke", post(revoke))
        .route("/admin/v1/audit", get(audit))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(registry)
}

/// A JSON body whose parse failure is an OAuth `invalid_request`, not axum's plain text.
struct JsonBody<T>(T);

impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = RegistryError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(value)| JsonBody(value))
            .map_err(|rejection| RegistryError::InvalidRequest(rejection.body_text()))
    }
}

/// The authenticated admin (scope `registry:admin`). As an extractor it runs before the body
/// is read, so an unauthenticated caller learns nothing about the body's validity.
struct Admin(String);

impl axum::extract::FromRequestParts<Registry> for Admin {
    type Rejection = RegistryError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        registry: &Registry,
    ) -> Result<Self> {
        admin(registry, &parts.headers, Scope::Admin)
            .await
            .map(Admin)
    }
}

async fn admin(registry: &Registry, headers: &HeaderMap, scope: Scope) -> Result<String> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(RegistryError::Unauthenticated)?;
    authorize(registry.store(), token.trim(), scope, registry.now()).await
}

/// A public document with an ETag over its exact bytes, cacheable for one publication window.
fn cacheable(
    registry: &Registry,
    request: &HeaderMap,
    content_type: &'static str,
    body: String,
) -> Response {
    let etag = format!(
        "\"{}\"",
        immerse_jose::base64url::encode(&openssl::sha::sha256(body.as_bytes())[..16])
    );
    let max_age = registry.config().publication_window.max(0);
    let cache_control = format!("public, max-age={max_age}");
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&cache_control).unwrap_or(HeaderValue::from_static("no-cache")),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (StatusCode::OK, headers, body).into_response()
}

async fn entity_configuration(
    State(registry): State<Registry>,
    headers: HeaderMap,
) -> Result<Response> {
    let token = registry.entity_configuration().await?;
    Ok(cacheable(
        &registry,
        &headers,
        "application/entity-statement+jwt",
        token,
    ))
}

async fn jwks(
    State(registry): State<Registry>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let set = registry.jwks(&id).await?;
    let body =
        serde_json::to_string(&set).map_err(|err| RegistryError::Corrupt(err.to_string()))?;
    Ok(cacheable(
        &registry,
        &headers,
        "application/jwk-set+json",
        body,
    ))
}

async fn statement(
    State(registry): State<Registry>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let token = registry.entity_statement(&id).await?;
    Ok(cacheable(
        &registry,
        &headers,
        "application/entity-statement+jwt",
        token,
    ))
}

async fn historical_keys(
    State(registry): State<Registry>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let token = registry.historical_keys(&id).await?;
    Ok(cacheable(
        &registry,
        &headers,
        "application/jwk-set+jwt",
        token,
    ))
}

async fn checkpoint(State(registry): State<Registry>) -> Result<Response> {
    let token = registry.checkpoint().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/jwt"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        token,
    )
        .into_response())
}

async fn inclusion(State(registry): State<Registry>, Path(index): Path<u64>) -> Result<Response> {
    Ok(Json(registry.inclusion_proof(index).await?).into_response())
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: u64,
}

async fn consistency(
    State(registry): State<Registry>,
    Query(query): Query<ConsistencyQuery>,
) -> Result<Response> {
    let proof = registry.consistency_proof(query.from, query.to).await?;
    Ok(
        Json(serde_json::json!({"from": query.from, "to": query.to, "proof": proof}))
            .into_response(),
    )
}

async fn submit_key(
    State(registry): State<Registry>,
    Path(id): Path<String>,
    JsonBody(submission): JsonBody<KeySubmission>,
) -> Result<Response> {
    let key = registry.submit_key(&id, submission).await?;
    Ok((StatusCode::CREATED, Json(key)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetirementRequest {
    /// JWT `key-retirement+jwt` by a valid key of the entity.
    proof: String,
}

async fn retire_own_key(
    State(registry): State<Registry>,
    Path((id, kid)): Path<(String, String)>,
    JsonBody(request): JsonBody<RetirementRequest>,
) -> Result<Response> {
    Ok(Json(registry.retire_own_key(&id, &kid, &request.proof).await?).into_response())
}

async fn create_entity(
    State(registry): State<Registry>,
    Admin(actor): Admin,
    JsonBody(new): JsonBody<NewEntity>,
) -> Result<Response> {
    let enrolment = registry.create_entity(&actor, new).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(enrolment),
    )
        .into_response())
}

async fn enrolment_secret(
    State(registry): State<Registry>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let actor = admin(&registry, &headers, Scope::Admin).await?;
    let enrolment = registry.new_enrolment_secret(&actor, &id).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(enrolment)).into_response())
}

async fn suspend(
    State(registry): State<Registry>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let actor = admin(&registry, &headers, Scope::Admin).await?;
    Ok(Json(registry.set_suspended(&actor, &id, true).await?).into_response())
}

async fn reactivate(
    State(registry): State<Registry>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let actor = admin(&registry, &headers, Scope::Admin).await?;
    Ok(Json(registry.set_suspended(&actor, &id, false).await?).into_response())
}

async fn add_key(
    State(registry): State<Registry>,
    Path(id): Path<String>,
    Admin(actor): Admin,
    JsonBody(request): JsonBody<AdminKey>,
) -> Result<Response> {
    let key = registry.add_key(&actor, &id, request).await?;
    Ok((StatusCode::CREATED, Json(key)).into_response())
}

async fn retire(
    State(registry): State<Registry>,
    Path((id, kid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let actor = admin(&registry, &headers, Scope::Admin).await?;
    Ok(Json(registry.retire_key(&actor, &id, &kid).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    #[serde(default = "unspecified")]
    reason: RevocationReason,
}

fn unspecified() -> RevocationReason {
    RevocationReason::Unspecified
}

async fn revoke(
    State(registry): State<Registry>,
    Path((id, kid)): Path<(String, String)>,
    Admin(actor): Admin,
    JsonBody(request): JsonBody<RevokeRequest>,
) -> Result<Response> {
    Ok(Json(
        registry
            .revoke_key(&actor, &id, &kid, request.reason)
            .await?,
    )
    .into_response())
}

#[derive(Deserialize)]
struct AuditQuery {
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

async fn audit(
    State(registry): State<Registry>,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Result<Response> {
    admin(&registry, &headers, Scope::Audit).await?;
    let records = registry.audit_records(query.limit).await?;
    let body: Vec<_> = records
        .into_iter()
        .map(|row| {
            serde_json::json!({
                "at": row.at, "actor": row.actor, "action": row.action, "entity_id": row.entity_id,
                "kid": row.kid, "outcome": row.outcome, "error_code": row.error_code, "detail": row.detail,
            })
        })
        .collect();
    Ok(Json(body).into_response())
}
