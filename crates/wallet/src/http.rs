//! The wallet's own web edge, for the holder only: the consent page and a JSON API for the
//! `immerse wallet` CLI, on one router served on loopback.
//!
//! Protection, since anything on the machine can reach a loopback port:
//! - [`bind_loopback`] refuses any other address, and every request must come from a loopback
//!   peer and name this server in `Host` (so that a DNS-rebound page cannot talk to it).
//! - A per-process secret: the holder opens [`ConsentPage::login_url`] once, which turns the
//!   secret into an `HttpOnly`, `SameSite=Strict` cookie and drops it from the address bar;
//!   the JSON API takes it as `Authorization: Bearer`.
//! - Every form POST carries a per-process CSRF token and, when the browser sends one, an
//!   `Origin` of this server and a `Sec-Fetch-Site` of `same-origin`.
//! - Every response: a strict Content-Security-Policy (scripts and styles from this server's
//!   files only, nothing inline, no framing), `Referrer-Policy: same-origin`, `no-store`.
//!
//! Routes (all but `/login` and `/assets/*` need the secret):
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/login?secret=S` | sets the session cookie, redirects to `/` |
//! | GET | `/` | the consent page: credentials held, pending requests |
//! | POST | `/requests` | form `uri`, `csrf`: resolve a request, back to `/` |
//! | POST | `/requests/{id}/approve` | form `csrf`, `claim:<key>=on` per optional claim chosen |
//! | POST | `/requests/{id}/deny` | form `csrf`: drop the request, send nothing |
//! | GET | `/assets/consent.css`, `/assets/consent.js` | the page's style and script |
//! | GET | `/api/v1/credentials` | JSON: the credentials held (`immerse wallet list`) |
//! | POST | `/api/v1/offers` | JSON `{"offer_uri", "tx_code"}`: issuance; answers the credentials (`immerse wallet accept-offer`) |
//! | GET | `/api/v1/requests` | JSON: the pending requests |
//! | POST | `/api/v1/requests` | JSON `{"uri"}`: resolve; answers the [`PendingRequest`] |
//! | POST | `/api/v1/requests/{id}/approve` | JSON `{"claims": [keys]}`: answers the outcome |
//! | POST | `/api/v1/requests/{id}/deny` | drops the request; 204 |
//!
//! API errors are `{"error", "error_description"}` with the [`PresentationError::code`].
mod page;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::{PendingRequest, PresentationError, Presenter, StoredCredential, WalletError};

const SESSION_COOKIE: &str = "immerse_wallet_session";
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Binds `address` only if it is a loopback address.
pub async fn bind_loopback(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    if !address.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("the consent page serves loopback only, not {address}"),
        ));
    }
    tokio::net::TcpListener::bind(address).await
}

/// The consent page and API of one wallet process, bound to one loopback address.
pub struct ConsentPage {
    presenter: Arc<Presenter>,
    secret: String,
    csrf: String,
    address: SocketAddr,
    /// `Host` values naming this server.
    hosts: Vec<String>,
}

impl ConsentPage {
    /// A page for `presenter` served at `address`, with a fresh secret and CSRF token.
    pub fn new(presenter: Arc<Presenter>, address: SocketAddr) -> Result<Self, PresentationError> {
        let port = address.port();
        Ok(Self {
            presenter,
            secret: immerse_jose::base64url::random(32)?,
            csrf: immerse_jose::base64url::random(32)?,
            address,
            hosts: vec![address.to_string(), format!("localhost:{port}")],
        })
    }

    /// The per-process secret: the CLI's bearer token.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// This server's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// What the holder opens first (printed by `immerse wallet serve`).
    pub fn login_url(&self) -> String {
        format!("{}/login?secret={}", self.base_url(), self.secret)
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/login", get(login))
            .route("/", get(index))
            .route("/requests", post(resolve_form))
            .route("/requests/{id}/approve", post(approve_form))
            .route("/requests/{id}/deny", post(deny_form))
            .route("/assets/consent.css", get(stylesheet))
            .route("/assets/consent.js", get(script))
            .route("/api/v1/credentials", get(api_credentials))
            .route("/api/v1/offers", post(api_accept_offer))
            .route("/api/v1/requests", get(api_pending).post(api_resolve))
            .route("/api/v1/requests/{id}/approve", post(api_approve))
            .route("/api/v1/requests/{id}/deny", post(api_deny))
            .layer(middleware::from_fn_with_state(self.clone(), guard))
            .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(30),
            ))
            .with_state(self)
    }
}

/// Serves `page` on `listener` (from [`bind_loopback`]) until the task is dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    page: Arc<ConsentPage>,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        page.router()
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

type Page = State<Arc<ConsentPage>>;

/// Constant-time comparison of a presented secret with the expected one.
fn same_secret(presented: &str, expected: &str) -> bool {
    presented.len() == expected.len()
        && openssl::memcmp::eq(presented.as_bytes(), expected.as_bytes())
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(&format!("{SESSION_COOKIE}=")))
}

/// Loopback peer, our `Host`, and the secret where the route needs it; then the security
/// headers on whatever is answered.
async fn guard(State(page): Page, request: Request, next: Next) -> Response {
    let refuse = |status: StatusCode, reason: &str| (status, reason.to_owned()).into_response();
    let mut response = 'answer: {
        // Fail closed: served without connection info (not through `serve`), no peer is
        // trusted.
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
        if !peer.is_some_and(|ConnectInfo(peer)| peer.ip().is_loopback()) {
            break 'answer refuse(StatusCode::FORBIDDEN, "loopback only");
        }
        let headers = request.headers();
        let host_ok = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .is_some_and(|host| page.hosts.iter().any(|ours| ours == host));
        if !host_ok {
            break 'answer refuse(StatusCode::MISDIRECTED_REQUEST, "unknown host");
        }
        let path = request.uri().path();
        if path == "/login" || path.starts_with("/assets/") {
            break 'answer next.run(request).await;
        }
        if path.starts_with("/api/") {
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "));
            if !bearer.is_some_and(|token| same_secret(token, &page.secret)) {
                break 'answer api_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "missing or invalid bearer token",
                );
            }
            break 'answer next.run(request).await;
        }
        if !session_cookie(headers).is_some_and(|cookie| same_secret(cookie, &page.secret)) {
            break 'answer refuse(
                StatusCode::UNAUTHORIZED,
                "open the login URL the wallet printed",
            );
        }
        if request.method() == axum::http::Method::POST {
            let origin_ok = headers
                .get(header::ORIGIN)
                .and_then(|origin| origin.to_str().ok())
                .is_none_or(|origin| {
                    page.hosts
                        .iter()
                        .any(|host| origin == format!("http://{host}"))
                });
            let site_ok = headers
                .get("sec-fetch-site")
                .and_then(|site| site.to_str().ok())
                .is_none_or(|site| site == "same-origin");
            if !origin_ok || !site_ok {
                break 'answer refuse(StatusCode::FORBIDDEN, "cross-origin form refused");
            }
        }
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        // Not `no-referrer`: under it browsers send `Origin: null` with same-origin form
        // POSTs, and the Origin check above needs the real one.
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[derive(Deserialize)]
struct LoginQuery {
    secret: String,
}

async fn login(State(page): Page, Query(query): Query<LoginQuery>) -> Response {
    if !same_secret(&query.secret, &page.secret) {
        return (StatusCode::UNAUTHORIZED, "wrong secret").into_response();
    }
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        page.secret
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn index(State(page): Page) -> Html<String> {
    Html(page::render_index(&page, None))
}

/// The CSRF token of a form, compared in constant time.
fn csrf_ok(page: &ConsentPage, form: &HashMap<String, String>) -> bool {
    form.get("csrf")
        .is_some_and(|token| same_secret(token, &page.csrf))
}

fn csrf_refused() -> Response {
    (StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response()
}

async fn resolve_form(State(page): Page, Form(form): Form<HashMap<String, String>>) -> Response {
    if !csrf_ok(&page, &form) {
        return csrf_refused();
    }
    let uri = form.get("uri").map(String::as_str).unwrap_or_default();
    match page.presenter.resolve(uri).await {
        Ok(_) => Redirect::to("/").into_response(),
        Err(error) => page_error(&page, &error),
    }
}

async fn approve_form(
    State(page): Page,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !csrf_ok(&page, &form) {
        return csrf_refused();
    }
    let chosen: Vec<String> = form
        .iter()
        .filter(|(_, value)| value.as_str() == "on")
        .filter_map(|(name, _)| name.strip_prefix("claim:").map(str::to_owned))
        .collect();
    let verifier = page
        .presenter
        .pending()
        .into_iter()
        .find(|pending| pending.id == id)
        .map(|pending| pending.verifier_name);
    match page.presenter.approve(&id, &chosen).await {
        Ok(outcome) => Html(page::render_done(
            verifier.as_deref().unwrap_or_default(),
            outcome.redirect_uri.as_deref(),
        ))
        .into_response(),
        Err(error) => page_error(&page, &error),
    }
}

async fn deny_form(
    State(page): Page,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if !csrf_ok(&page, &form) {
        return csrf_refused();
    }
    match page.presenter.deny(&id) {
        Ok(()) => Redirect::to("/").into_response(),
        Err(error) => page_error(&page, &error),
    }
}

/// The consent page again, with the refusal on top.
fn page_error(page: &ConsentPage, error: &PresentationError) -> Response {
    let status = error_status(error);
    if error.is_internal() {
        tracing::error!(%error, "consent page");
    }
    (
        status,
        Html(page::render_index(page, Some(&error.to_string()))),
    )
        .into_response()
}

async fn stylesheet() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../assets/consent.css"),
    )
}

async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/consent.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn error_status(error: &PresentationError) -> StatusCode {
    match error {
        PresentationError::UnknownPendingRequest(_) => StatusCode::NOT_FOUND,
        PresentationError::Unreachable { .. } | PresentationError::VerifierRefused { .. } => {
            StatusCode::BAD_GATEWAY
        }
        error if error.is_internal() => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn api_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

impl IntoResponse for PresentationError {
    fn into_response(self) -> Response {
        let status = error_status(&self);
        let description = if self.is_internal() {
            tracing::error!(error = %self, "wallet API");
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        api_error(status, self.code(), &description)
    }
}

async fn api_credentials(State(page): Page) -> Json<Vec<Value>> {
    let wallet = page.presenter.wallet();
    let held = wallet.credentials().valid_at(wallet.now());
    Json(held.iter().map(credential_view).collect())
}

/// What the API shows of a credential: never its Holder Key.
fn credential_view(credential: &StoredCredential) -> Value {
    json!({
        "id": credential.id,
        "issuer": credential.issuer,
        "vct": credential.vct,
        "issued_at": credential.issued_at,
        "expires_at": credential.expires_at,
        "claims": credential.claims,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OfferBody {
    offer_uri: String,
    #[serde(default)]
    tx_code: Option<String>,
}

/// Runs the whole issuance flow for an offer (`immerse wallet accept-offer`).
async fn api_accept_offer(State(page): Page, Json(body): Json<OfferBody>) -> Response {
    let wallet = page.presenter.wallet();
    match wallet
        .accept_offer(&body.offer_uri, body.tx_code.as_deref())
        .await
    {
        Ok(issued) => (
            StatusCode::CREATED,
            Json(issued.iter().map(credential_view).collect::<Vec<_>>()),
        )
            .into_response(),
        Err(err) => issuance_error(&err),
    }
}

fn issuance_error(error: &WalletError) -> Response {
    match error {
        WalletError::InvalidOffer(_) => api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &error.to_string(),
        ),
        WalletError::TxCodeRequired(_) => api_error(
            StatusCode::BAD_REQUEST,
            "tx_code_required",
            &error.to_string(),
        ),
        WalletError::Internal(_) | WalletError::Jose(_) => {
            tracing::error!(%error, "wallet API: issuance");
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }
        // The issuer, attester or registry refused or failed: what they said, for the holder.
        _ => api_error(
            StatusCode::BAD_GATEWAY,
            "issuance_failed",
            &error.to_string(),
        ),
    }
}

async fn api_pending(State(page): Page) -> Json<Vec<PendingRequest>> {
    Json(page.presenter.pending())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    uri: String,
}

async fn api_resolve(
    State(page): Page,
    Json(body): Json<ResolveBody>,
) -> Result<Response, PresentationError> {
    let pending = page.presenter.resolve(&body.uri).await?;
    Ok((StatusCode::CREATED, Json(pending)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    #[serde(default)]
    claims: Vec<String>,
}

async fn api_approve(
    State(page): Page,
    Path(id): Path<String>,
    Json(body): Json<ApproveBody>,
) -> Result<Response, PresentationError> {
    let outcome = page.presenter.approve(&id, &body.claims).await?;
    Ok(Json(outcome).into_response())
}

async fn api_deny(
    State(page): Page,
    Path(id): Path<String>,
) -> Result<StatusCode, PresentationError> {
    page.presenter.deny(&id)?;
    Ok(StatusCode::NO_CONTENT)
}
