//! The registry's HTTP edge: extract, call a [`Registry`] function, map the result.
//!
//! Order of checks on every route: path segments (`{id}` by the validator `create_entity`
//! uses, `{kid}` as a thumbprint), then the admin token where one is needed, then the body
//! (at most [`MAX_BODY_BYTES`]). Each failure is a typed [`RegistryError`]. What is refused
//! before the caller authenticated is counted per peer address, never written per request
//! (see `refusals.rs`); serve the router with `into_make_service_with_connect_info::<SocketAddr>`
//! so that the peer is known.
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequestParts, MatchedPath, Path, Query, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{Scope, authorize};
use crate::model::RevocationReason;
use crate::refusals::bounded;
use crate::service::{check_entity_id, check_kid};
use crate::{AdminKey, KeySubmission, NewEntity, Peer, Registry, RegistryError};

/// Request bodies above this are refused, unread when their length is declared (SYSTEM.md s5).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How much of an extractor's own complaint an error description repeats.
const MAX_REJECTION_TEXT: usize = 200;

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
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(registry)
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(peer(parts))
    }
}

/// The connection's address, from axum's `ConnectInfo` (never from a header).
fn peer(parts: &Parts) -> Peer {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(Peer::UNKNOWN, |ConnectInfo(address)| Peer::from(*address))
}

/// Marks a request whose admin token was accepted: what is refused after that is the
/// operator's, answered as before and never counted as anonymous.
#[derive(Clone, Copy)]
struct Authenticated;

/// Counts a refusal made at the edge, before the caller authenticated (a malformed path or
/// body, a missing or unknown token), on every route. A successful public read is not counted.
async fn refused_at_edge(
    registry: &Registry,
    parts: &Parts,
    action: &'static str,
    err: &RegistryError,
) {
    let authenticated = parts.extensions.get::<Authenticated>().is_some();
    if authenticated || !err.is_refusal() {
        return;
    }
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map_or("?", MatchedPath::as_str)
        .to_owned();
    let method = parts.method.clone();
    registry
        .count_refusal(peer(parts), action, err.code_and_status().0, || {
            format!("{method} {route}: {err}")
        })
        .await;
}

/// The route's path parameters, each checked by its one validator: `{id}` as `create_entity`
/// checks entity ids, `{kid}` as a thumbprint. Runs before anything else on its route, so a
/// malformed or oversized segment costs no database read, signature check or audit row.
async fn checked_path(parts: &mut Parts, registry: &Registry) -> Result<Vec<(String, String)>> {
    let checked = match Path::<Vec<(String, String)>>::from_request_parts(parts, registry).await {
        Err(rejection) => Err(RegistryError::InvalidRequest(format!(
            "path: {}",
            bounded(&rejection.body_text(), MAX_REJECTION_TEXT)
        ))),
        Ok(Path(params)) => params
            .iter()
            .try_for_each(|(name, value)| match name.as_str() {
                "id" => check_entity_id(value),
                "kid" => check_kid(value),
                _ => Ok(()),
            })
            .map(|()| params),
    };
    if let Err(err) = &checked {
        refused_at_edge(registry, parts, "request.path", err).await;
    }
    checked
}

fn param(params: &mut Vec<(String, String)>, name: &str) -> Result<String> {
    params
        .iter()
        .position(|(key, _)| key == name)
        .map(|at| params.swap_remove(at).1)
        .ok_or_else(|| RegistryError::InvalidRequest(format!("path: no {name}")))
}

/// The `{id}` of the route, a well-formed entity id.
struct EntityPath(String);

impl FromRequestParts<Registry> for EntityPath {
    type Rejection = RegistryError;

    async fn from_request_parts(parts: &mut Parts, registry: &Registry) -> Result<Self> {
        let mut params = checked_path(parts, registry).await?;
        Ok(Self(param(&mut params, "id")?))
    }
}

/// The `{id}` and `{kid}` of the route, both well-formed.
struct EntityKeyPath(String, String);

impl FromRequestParts<Registry> for EntityKeyPath {
    type Rejection = RegistryError;

    async fn from_request_parts(parts: &mut Parts, registry: &Registry) -> Result<Self> {
        let mut params = checked_path(parts, registry).await?;
        Ok(Self(param(&mut params, "id")?, param(&mut params, "kid")?))
    }
}

/// A path parameter other than an entity id or kid (a log index), typed or `invalid_request`.
struct Segment<T>(T);

impl<T, S> FromRequestParts<S> for Segment<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = RegistryError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(|rejection| {
                RegistryError::InvalidRequest(format!(
                    "path: {}",
                    bounded(&rejection.body_text(), MAX_REJECTION_TEXT)
                ))
            })
    }
}

/// Query parameters, typed or `invalid_request`.
struct Params<T>(T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = RegistryError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| {
                RegistryError::InvalidRequest(format!(
                    "query: {}",
                    bounded(&rejection.body_text(), MAX_REJECTION_TEXT)
                ))
            })
    }
}

/// A JSON body whose parse failure is an OAuth `invalid_request` (413 when over
/// [`MAX_BODY_BYTES`]), not axum's plain text.
struct JsonBody<T>(T);

impl<T> axum::extract::FromRequest<Registry> for JsonBody<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = RegistryError;

    async fn from_request(request: axum::extract::Request, registry: &Registry) -> Result<Self> {
        let (parts, body) = request.into_parts();
        let request = axum::extract::Request::from_parts(parts.clone(), body);
        let parsed = Json::<T>::from_request(request, registry)
            .await
            .map(|Json(value)| value)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    RegistryError::BodyTooLarge(MAX_BODY_BYTES)
                } else {
                    RegistryError::InvalidRequest(bounded(
                        &rejection.body_text(),
                        MAX_REJECTION_TEXT,
                    ))
                }
            });
        match parsed {
            Ok(value) => Ok(JsonBody(value)),
            Err(err) => {
                refused_at_edge(registry, &parts, "request.body", &err).await;
                Err(err)
            }
        }
    }
}

/// The authenticated admin (scope `registry:admin`). As an extractor it runs after the path
/// and before the body is read, so an unauthenticated caller learns nothing about the body.
struct Admin(String);

impl FromRequestParts<Registry> for Admin {
    type Rejection = RegistryError;

    async fn from_request_parts(parts: &mut Parts, registry: &Registry) -> Result<Self> {
        authenticate(parts, registry, Scope::Admin).await.map(Admin)
    }
}

/// A holder of scope `registry:audit`.
struct Auditor;

impl FromRequestParts<Registry> for Auditor {
    type Rejection = RegistryError;

    async fn from_request_parts(parts: &mut Parts, registry: &Registry) -> Result<Self> {
        authenticate(parts, registry, Scope::Audit)
            .await
            .map(|_| Auditor)
    }
}

/// The principal of the bearer token, which must carry `scope`. A missing or unknown token is
/// counted against the peer; a valid token without the scope is refused as before.
async fn authenticate(parts: &mut Parts, registry: &Registry, scope: Scope) -> Result<String> {
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let result = match token {
        None => Err(RegistryError::Unauthenticated),
        Some(token) => authorize(registry.store(), token.trim(), scope, registry.now()).await,
    };
    match &result {
        Ok(_) => {
            parts.extensions.insert(Authenticated);
        }
        Err(err @ RegistryError::Unauthenticated) => {
            refused_at_edge(registry, parts, "admin.authenticate", err).await;
        }
        Err(_) => {}
    }
    result
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
    EntityPath(id): EntityPath,
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
    EntityPath(id): EntityPath,
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
    EntityPath(id): EntityPath,
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

async fn inclusion(
    State(registry): State<Registry>,
    Segment(index): Segment<u64>,
) -> Result<Response> {
    Ok(Json(registry.inclusion_proof(index).await?).into_response())
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: u64,
}

async fn consistency(
    State(registry): State<Registry>,
    Params(query): Params<ConsistencyQuery>,
) -> Result<Response> {
    let proof = registry.consistency_proof(query.from, query.to).await?;
    Ok(
        Json(serde_json::json!({"from": query.from, "to": query.to, "proof": proof}))
            .into_response(),
    )
}

async fn submit_key(
    State(registry): State<Registry>,
    EntityPath(id): EntityPath,
    peer: Peer,
    JsonBody(submission): JsonBody<KeySubmission>,
) -> Result<Response> {
    let key = registry.submit_key(peer, &id, submission).await?;
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
    EntityKeyPath(id, kid): EntityKeyPath,
    peer: Peer,
    JsonBody(request): JsonBody<RetirementRequest>,
) -> Result<Response> {
    Ok(Json(
        registry
            .retire_own_key(peer, &id, &kid, &request.proof)
            .await?,
    )
    .into_response())
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
    EntityPath(id): EntityPath,
    Admin(actor): Admin,
) -> Result<Response> {
    let enrolment = registry.new_enrolment_secret(&actor, &id).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(enrolment)).into_response())
}

async fn suspend(
    State(registry): State<Registry>,
    EntityPath(id): EntityPath,
    Admin(actor): Admin,
) -> Result<Response> {
    Ok(Json(registry.set_suspended(&actor, &id, true).await?).into_response())
}

async fn reactivate(
    State(registry): State<Registry>,
    EntityPath(id): EntityPath,
    Admin(actor): Admin,
) -> Result<Response> {
    Ok(Json(registry.set_suspended(&actor, &id, false).await?).into_response())
}

async fn add_key(
    State(registry): State<Registry>,
    EntityPath(id): EntityPath,
    Admin(actor): Admin,
    JsonBody(request): JsonBody<AdminKey>,
) -> Result<Response> {
    let key = registry.add_key(&actor, &id, request).await?;
    Ok((StatusCode::CREATED, Json(key)).into_response())
}

async fn retire(
    State(registry): State<Registry>,
    EntityKeyPath(id, kid): EntityKeyPath,
    Admin(actor): Admin,
) -> Result<Response> {
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
    EntityKeyPath(id, kid): EntityKeyPath,
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
    _: Auditor,
    Params(query): Params<AuditQuery>,
) -> Result<Response> {
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
