//! The relying party's web page: it creates requests from a template the relying party set,
//! shows each as a QR code (cross-device wallet) and as a link (same-device wallet), polls the
//! result and shows the verified claims.
//!
//! The API token never reaches the browser. The relying party's backend asks for a page with its
//! token (`POST /v1/pages`, bearer) and the request template, and gets a one-time entry link
//! (`/rp/enter?code=...`, 256 bits, single use, valid 60 s) to hand to the operator's browser.
//! Opening it sets a page-session cookie (256 bits, `HttpOnly`, `SameSite=Strict`, `Path=/rp`,
//! `Secure` on https) and redirects to `/rp/`; the page's API (`/rp/api/...`) takes only that
//! cookie, so it acts for that relying party and only with its template. `SameSite=Strict` keeps
//! other sites from riding the cookie, and script runs only from `/rp/app.js` under a strict
//! Content-Security-Policy (no inline script or style, no framing).
//!
//! Entry codes and page sessions are kept in the replica's memory, hashed, like the per-request
//! decryption keys: a page is served by the replica that created it.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use qrcode::QrCode;
use qrcode::render::svg;
use serde::{Deserialize, Serialize};

use crate::dcql::DcqlQuery;
use crate::request::random;
use crate::{NewRequest, TransactionData, Verifier, VerifierError, token_hash};

/// The page-session cookie.
pub const COOKIE: &str = "immerse_rp";
/// How long an entry link may be opened, in seconds.
const ENTRY_TTL: i64 = 60;
/// How long a page session lasts, in seconds.
const SESSION_TTL: i64 = 8 * 3600;
/// The most live entry codes and page sessions held (each kind), so memory stays bounded.
const MAX_LIVE: usize = 4096;

/// No inline script or style, nothing from elsewhere, no framing; the QR code is an SVG
/// `data:` image, which cannot run script.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

const PAGE_HTML: &str = include_str!("../assets/rp.html");
const PAGE_JS: &str = include_str!("../assets/rp.js");
const PAGE_CSS: &str = include_str!("../assets/rp.css");

/// What the relying party's backend gets: the link to open in the operator's browser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageLink {
    pub url: String,
    pub expires_at: i64,
}

/// What a page session may do: create requests from this template, for this relying party.
#[derive(Debug, Clone)]
struct PageGrant {
    owner: String,
    template: NewRequest,
    expires_at: i64,
}

/// Entry codes and page sessions by the SHA-256 of their secret.
#[derive(Default)]
pub(crate) struct PageSessions {
    entries: Mutex<HashMap<String, PageGrant>>,
    sessions: Mutex<HashMap<String, PageGrant>>,
}

fn remember(
    map: &Mutex<HashMap<String, PageGrant>>,
    hash: String,
    grant: PageGrant,
    now: i64,
) -> Result<(), VerifierError> {
    let mut map = map
        .lock()
        .map_err(|_| VerifierError::Internal("page sessions lock".into()))?;
    map.retain(|_, grant| grant.expires_at > now);
    if map.len() >= MAX_LIVE {
        return Err(VerifierError::InvalidRequest(
            "too many open pages; try again later".into(),
        ));
    }
    map.insert(hash, grant);
    Ok(())
}

impl Verifier {
    /// Makes a one-time entry link to a page that creates requests from `template` for the
    /// relying party `owner`.
    pub fn create_page(
        &self,
        owner: &str,
        template: NewRequest,
    ) -> Result<PageLink, VerifierError> {
        // The template is checked now, so the page cannot fail on it later.
        let query = DcqlQuery::parse(template.dcql_query.clone())?;
        TransactionData::parse_all(template.transaction_data.clone(), &query)?;
        if template.same_device {
            // A same-device result needs the response_code of the wallet's redirect, which
            // goes to the relying party, not to this page.
            return Err(VerifierError::InvalidRequest(
                "a page polls for its result; same_device is for the relying party's redirect"
                    .into(),
            ));
        }
        let now = self.now();
        let code = random(32)?;
        let expires_at = now + ENTRY_TTL;
        let grant = PageGrant {
            owner: owner.to_owned(),
            template,
            expires_at,
        };
        remember(&self.pages.entries, token_hash(&code), grant, now)?;
        Ok(PageLink {
            url: format!("{}/rp/enter?code={code}", self.config.public_url),
            expires_at,
        })
    }

    /// Spends an entry code (once) and opens a page session; returns its secret.
    fn enter_page(&self, code: &str) -> Result<(String, i64), VerifierError> {
        let now = self.now();
        let grant = self
            .pages
            .entries
            .lock()
            .map_err(|_| VerifierError::Internal("page sessions lock".into()))?
            .remove(&token_hash(code))
            .filter(|grant| grant.expires_at > now)
            .ok_or(VerifierError::Unauthenticated)?;
        let secret = random(32)?;
        let expires_at = now + SESSION_TTL;
        let grant = PageGrant {
            expires_at,
            ..grant
        };
        remember(&self.pages.sessions, token_hash(&secret), grant, now)?;
        Ok((secret, expires_at))
    }

    fn page_grant(&self, secret: &str) -> Result<PageGrant, VerifierError> {
        let now = self.now();
        self.pages
            .sessions
            .lock()
            .map_err(|_| VerifierError::Internal("page sessions lock".into()))?
            .get(&token_hash(secret))
            .filter(|grant| grant.expires_at > now)
            .cloned()
            .ok_or(VerifierError::Unauthenticated)
    }
}

/// A page session, from the cookie (never from a bearer token).
struct PageSession(PageGrant);

impl FromRequestParts<Arc<Verifier>> for PageSession {
    type Rejection = VerifierError;

    async fn from_request_parts(
        parts: &mut Parts,
        verifier: &Arc<Verifier>,
    ) -> Result<Self, Self::Rejection> {
        let secret = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == COOKIE).then(|| value.to_owned())
            })
            .ok_or(VerifierError::Unauthenticated)?;
        verifier.page_grant(&secret).map(Self)
    }
}

/// The page's routes, merged into [`crate::http::router`].
pub(crate) fn routes() -> Router<Arc<Verifier>> {
    Router::new()
        .route("/rp", get(|| async { to_page() }))
        .route(
            "/rp/",
            get(|| async { asset(PAGE_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/rp/app.js",
            get(|| async { asset(PAGE_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/rp/app.css",
            get(|| async { asset(PAGE_CSS, "text/css; charset=utf-8") }),
        )
        .route("/rp/enter", get(enter))
        .route("/rp/api/requests", post(page_create))
        .route("/rp/api/requests/{id}", get(page_result))
}

/// `POST /v1/pages`: the relying party (bearer) asks for an entry link.
pub(crate) async fn create_page(
    State(verifier): State<Arc<Verifier>>,
    crate::http::RelyingParty(owner): crate::http::RelyingParty,
    Json(template): Json<NewRequest>,
) -> Result<Response, VerifierError> {
    let link = verifier.create_page(&owner, template)?;
    Ok(secured(Json(link).into_response()))
}

#[derive(Deserialize)]
struct EnterQuery {
    code: String,
}

async fn enter(
    State(verifier): State<Arc<Verifier>>,
    Query(query): Query<EnterQuery>,
) -> Result<Response, VerifierError> {
    let (secret, expires_at) = verifier.enter_page(&query.code)?;
    let secure = if verifier.config().public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let max_age = expires_at - verifier.now();
    let cookie = format!(
        "{COOKIE}={secret}; Path=/rp; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    );
    let mut response = to_page();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie)
            .map_err(|err| VerifierError::Internal(format!("cookie: {err}")))?,
    );
    Ok(response)
}

/// What the page shows for a new request.
#[derive(Debug, Serialize)]
struct PageRequest {
    id: String,
    authorization_request: String,
    qr_svg_data_url: String,
    expires_at: i64,
}

async fn page_create(
    State(verifier): State<Arc<Verifier>>,
    PageSession(grant): PageSession,
) -> Result<Response, VerifierError> {
    let created = verifier
        .create_request(&grant.owner, grant.template)
        .await?;
    let qr = QrCode::new(created.authorization_request.as_bytes())
        .map_err(|err| VerifierError::Internal(format!("QR code: {err}")))?;
    let svg = qr
        .render::<svg::Color<'_>>()
        .min_dimensions(256, 256)
        .build();
    let page = PageRequest {
        id: created.id,
        authorization_request: created.authorization_request,
        qr_svg_data_url: format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(svg)
        ),
        expires_at: created.expires_at,
    };
    Ok(secured(Json(page).into_response()))
}

async fn page_result(
    State(verifier): State<Arc<Verifier>>,
    PageSession(grant): PageSession,
    Path(id): Path<String>,
) -> Result<Response, VerifierError> {
    let result = verifier.result(&grant.owner, &id, None).await?;
    Ok(secured(Json(result).into_response()))
}

fn to_page() -> Response {
    secured((StatusCode::SEE_OTHER, [(header::LOCATION, "/rp/")]).into_response())
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    secured(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// Headers of every page response: the CSP, no sniffing, no referrer (the entry code is in a
/// URL), and nothing cached.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
