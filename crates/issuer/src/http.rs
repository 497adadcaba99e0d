//! HTTP adapter: each handler extracts, calls one [`Issuer`] function and maps the result.
//! Bodies are capped at 64 KiB; errors are OAuth JSON with `Cache-Control: no-store`.
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::authorization::{AuthorizationRequest, PushedAuthorizationRequest};
use crate::credential::{CredentialRequest, CredentialResponse, ResponseBody};
use crate::status::CredentialStatus;
use crate::token::{TokenHeaders, TokenRequest};
use crate::{Issuer, IssuerError, NewOffer, SCOPE_OFFERS, SCOPE_STATUS, secret_hash};

/// SYSTEM.md s5: request bodies capped at 64 KiB.
const BODY_LIMIT: usize = 64 * 1024;
const JWT_MEDIA_TYPE: &str = "application/jwt";
/// As the registry: a request that takes longer is cut off.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The issuer's routes; endpoints live under the path of the issuer identifier and the
/// well-known documents insert `/.well-known/...` before it (OpenID4VCI 1.0 s12.2.2, RFC 8414
/// s3.1).
pub fn router(issuer: Issuer) -> Router {
    let base = issuer.config().issuer_path().to_owned();
    let mut router = Router::new();
    // SD-JWT VC draft, "Retrieving Type Metadata": the exact bytes `vct#integrity` hashes.
    for (path, bytes) in issuer.type_metadata_routes() {
        let bytes = Bytes::from(bytes);
        router = router.route(
            &path,
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], bytes) }),
        );
    }
    router
        .route(
            &format!("/.well-known/openid-credential-issuer{base}"),
            get(issuer_metadata),
        )
        .route(
            &format!("/.well-known/oauth-authorization-server{base}"),
            get(authorization_server_metadata),
        )
        .route(
            "/.well-known/credential-status.json",
            get(status_list_index),
        )
        .route(&format!("{base}/challenge"), post(challenge))
        .route(&format!("{base}/par"), post(pushed_authorization_request))
        .route(&format!("{base}/authorize"), get(authorize))
        .route(&format!("{base}/token"), post(token))
        .route(&format!("{base}/nonce"), post(nonce))
        .route(&format!("{base}/credential"), post(credential))
        .route(&format!("{base}/notification"), post(notification))
        .route(
            &format!("{base}/deferred_credential"),
            post(deferred_credential),
        )
        .route(
            &format!("{base}/admin/offers/{{offer_id}}/ready"),
            post(offer_ready),
        )
        .route(
            &format!("{base}/offers/{{offer_id}}"),
            get(offer_by_reference),
        )
        .route(&format!("{base}/statuslists/{{list_id}}"), get(status_list))
        .route(&format!("{base}/admin/offers"), post(create_offer))
        .route(
            &format!("{base}/admin/offers/{{offer_id}}/status"),
            post(set_status),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(issuer)
}

fn wants_jwt(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.split(';').next().map(str::trim) == Some(JWT_MEDIA_TYPE))
}

fn jwt_response(token: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, JWT_MEDIA_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        token,
    )
        .into_response()
}

fn no_store_json(body: Value) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
}

/// A header that must appear at most once (attestation draft s6.1, RFC 9449 s4.3 step 1).
fn single_header<'a>(
    headers: &'a HeaderMap,
    name: &str,
    refuse: impl Fn(String) -> IssuerError,
) -> Result<Option<&'a str>, IssuerError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(refuse(format!("{name} appears more than once")));
    }
    first
        .map(|value| {
            value
                .to_str()
                .map_err(|_| refuse(format!("{name} is not text")))
        })
        .transpose()
}

async fn issuer_metadata(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
) -> Result<Response, IssuerError> {
    if wants_jwt(&headers) {
        return Ok(jwt_response(issuer.signed_issuer_metadata().await?));
    }
    Ok(axum::Json(Value::Object(issuer.issuer_metadata())).into_response())
}

async fn authorization_server_metadata(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
) -> Result<Response, IssuerError> {
    let signed = issuer.signed_authorization_server_metadata().await?;
    if wants_jwt(&headers) {
        return Ok(jwt_response(signed));
    }
    let mut metadata = issuer.authorization_server_metadata();
    metadata.insert("signed_metadata".into(), signed.into());
    Ok(axum::Json(Value::Object(metadata)).into_response())
}

async fn challenge(State(issuer): State<Issuer>) -> Result<Response, IssuerError> {
    let challenge = issuer.attestation_challenge().await?;
    Ok(no_store_json(json!({"attestation_challenge": challenge})))
}

/// The client authentication (and DPoP) headers of the token and PAR endpoints.
fn client_headers(headers: &HeaderMap) -> Result<TokenHeaders<'_>, IssuerError> {
    let invalid_client = IssuerError::InvalidClient;
    Ok(TokenHeaders {
        client_attestation: single_header(headers, "oauth-client-attestation", invalid_client)?,
        client_attestation_pop: single_header(
            headers,
            "oauth-client-attestation-pop",
            invalid_client,
        )?,
        dpop: single_header(headers, "dpop", |detail| IssuerError::InvalidDpopProof {
            detail,
            at_resource: false,
        })?,
    })
}

/// RFC 9126 s2: 201 Created, not cached.
async fn pushed_authorization_request(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IssuerError> {
    let request: PushedAuthorizationRequest = parse_form(&body)?;
    let pushed = issuer
        .pushed_authorization_request(&request, client_headers(&headers)?)
        .await?;
    let body =
        serde_json::to_value(pushed).map_err(|err| IssuerError::Internal(err.to_string()))?;
    let mut response = no_store_json(body);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// RFC 6749 s4.1.2: 302 to the client's redirect_uri; a request we cannot tie to a pushed
/// request is answered here, as an error, never redirected (s4.1.2.1).
async fn authorize(
    State(issuer): State<Issuer>,
    RawQuery(query): RawQuery,
) -> Result<Response, IssuerError> {
    let request: AuthorizationRequest = parse_form(query.unwrap_or_default().as_bytes())?;
    let location = issuer.authorization_response(&request).await?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location.as_str()),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response())
}

async fn token(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IssuerError> {
    let request: TokenRequest = parse_form(&body)?;
    let response = issuer.token(&request, client_headers(&headers)?).await?;
    let nonce = issuer.dpop_nonce().await?;
    let mut response = no_store_json(
        serde_json::to_value(response).map_err(|err| IssuerError::Internal(err.to_string()))?,
    );
    set_dpop_nonce(&mut response, &nonce);
    Ok(response)
}

fn set_dpop_nonce(response: &mut Response, nonce: &str) {
    if let Ok(value) = HeaderValue::from_str(nonce) {
        response.headers_mut().insert("dpop-nonce", value);
    }
}

async fn nonce(State(issuer): State<Issuer>) -> Result<Response, IssuerError> {
    // OpenID4VCI 1.0 s7.2: the response is not cached.
    let c_nonce = issuer.c_nonce().await?;
    Ok(no_store_json(json!({"c_nonce": c_nonce})))
}

async fn credential(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IssuerError> {
    let invalid_token = IssuerError::InvalidToken;
    let authorization = single_header(&headers, "authorization", invalid_token)?;
    let dpop = single_header(&headers, "dpop", |detail| IssuerError::InvalidDpopProof {
        detail,
        at_resource: true,
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    let request = if content_type == JWT_MEDIA_TYPE {
        let text = std::str::from_utf8(&body)
            .map_err(|_| IssuerError::InvalidEncryptionParameters("the JWE is not text".into()))?;
        CredentialRequest::Encrypted(text.trim().to_owned())
    } else {
        CredentialRequest::Json(body.to_vec())
    };
    let response = issuer.credential(authorization, dpop, request).await?;
    let nonce = issuer.dpop_nonce().await?;
    let mut response = credential_response(response);
    set_dpop_nonce(&mut response, &nonce);
    Ok(response)
}

/// OpenID4VCI 1.0 s8.3, s9.2: 200 with credentials, 202 while deferred.
fn credential_response(response: CredentialResponse) -> Response {
    let mut http = match response.body {
        ResponseBody::Json(body) => no_store_json(body),
        ResponseBody::Encrypted(jwe) => jwt_response(jwe),
    };
    if response.deferred {
        *http.status_mut() = StatusCode::ACCEPTED;
    }
    http
}

async fn deferred_credential(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IssuerError> {
    let authorization = single_header(&headers, "authorization", IssuerError::InvalidToken)?;
    let dpop = single_header(&headers, "dpop", |detail| IssuerError::InvalidDpopProof {
        detail,
        at_resource: true,
    })?;
    let response = issuer
        .deferred_credential(authorization, dpop, &body)
        .await?;
    let nonce = issuer.dpop_nonce().await?;
    let mut response = credential_response(response);
    set_dpop_nonce(&mut response, &nonce);
    Ok(response)
}

async fn offer_ready(
    State(issuer): State<Issuer>,
    admin: Admin,
    Path(offer_id): Path<String>,
) -> Result<Response, IssuerError> {
    admin.require(SCOPE_OFFERS)?;
    issuer.mark_offer_ready(&offer_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn notification(
    State(issuer): State<Issuer>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, IssuerError> {
    let authorization = single_header(&headers, "authorization", IssuerError::InvalidToken)?;
    let dpop = single_header(&headers, "dpop", |detail| IssuerError::InvalidDpopProof {
        detail,
        at_resource: true,
    })?;
    issuer.notification(authorization, dpop, &body).await?;
    // OpenID4VCI 1.0 s11.2: 204 No Content.
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn offer_by_reference(
    State(issuer): State<Issuer>,
    Path(offer_id): Path<String>,
) -> Result<Response, IssuerError> {
    let offer = issuer.offer_by_reference(&offer_id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        offer,
    )
        .into_response())
}

async fn status_list(
    State(issuer): State<Issuer>,
    Path(list_id): Path<String>,
) -> Result<Response, IssuerError> {
    let token = issuer.status_list_token(&list_id).await?;
    Ok((
        [(header::CONTENT_TYPE, immerse_status_list::MEDIA_TYPE)],
        token,
    )
        .into_response())
}

async fn status_list_index(State(issuer): State<Issuer>) -> Result<Response, IssuerError> {
    Ok(axum::Json(issuer.status_list_index().await?).into_response())
}

/// An admin caller with the scopes of its token (RFC 6750 bearer token, hash compared in
/// constant time). Runs before the body is read.
struct Admin {
    scopes: Vec<String>,
}

impl Admin {
    fn require(&self, scope: &'static str) -> Result<(), IssuerError> {
        if self.scopes.iter().any(|held| held == scope) {
            Ok(())
        } else {
            Err(IssuerError::AdminForbidden(scope))
        }
    }
}

impl FromRequestParts<Issuer> for Admin {
    type Rejection = IssuerError;

    async fn from_request_parts(parts: &mut Parts, issuer: &Issuer) -> Result<Self, IssuerError> {
        let presented = single_header(&parts.headers, "authorization", |_| {
            IssuerError::AdminUnauthorized
        })?
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or(IssuerError::AdminUnauthorized)?;
        let hash = secret_hash(presented.trim());
        issuer
            .config()
            .admin_tokens
            .iter()
            .find(|token| {
                token.sha256_hex.len() == hash.len()
                    && openssl::memcmp::eq(token.sha256_hex.as_bytes(), hash.as_bytes())
            })
            .map(|token| Admin {
                scopes: token.scopes.clone(),
            })
            .ok_or(IssuerError::AdminUnauthorized)
    }
}

async fn create_offer(
    State(issuer): State<Issuer>,
    admin: Admin,
    body: Bytes,
) -> Result<Response, IssuerError> {
    admin.require(SCOPE_OFFERS)?;
    let new: NewOffer = serde_json::from_slice(&body)
        .map_err(|err| IssuerError::InvalidRequest(format!("offer: {err}")))?;
    let created = issuer.create_offer(new).await?;
    let body =
        serde_json::to_value(created).map_err(|err| IssuerError::Internal(err.to_string()))?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    status: CredentialStatus,
}

async fn set_status(
    State(issuer): State<Issuer>,
    admin: Admin,
    Path(offer_id): Path<String>,
    body: Bytes,
) -> Result<Response, IssuerError> {
    admin.require(SCOPE_STATUS)?;
    let change: StatusChange = serde_json::from_slice(&body)
        .map_err(|err| IssuerError::InvalidRequest(format!("status: {err}")))?;
    let updated = issuer
        .set_credential_status(&offer_id, change.status)
        .await?;
    Ok(no_store_json(json!({"updated": updated})))
}

/// `application/x-www-form-urlencoded` (RFC 6749 app. B), a body or a query; a parameter sent
/// twice is refused (RFC 6749 s3.1, s3.2).
fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, IssuerError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| IssuerError::InvalidRequest("the body is not UTF-8".into()))?;
    let mut fields = serde_json::Map::new();
    for pair in text.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name)?;
        if fields
            .insert(name.clone(), Value::String(percent_decode(value)?))
            .is_some()
        {
            return Err(IssuerError::InvalidRequest(format!("{name} is repeated")));
        }
    }
    serde_json::from_value(Value::Object(fields))
        .map_err(|err| IssuerError::InvalidRequest(format!("form: {err}")))
}

fn percent_decode(text: &str) -> Result<String, IssuerError> {
    let bad = || IssuerError::InvalidRequest("bad percent-encoding".into());
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(at + 1..at + 3).ok_or_else(bad)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                at += 2;
            }
            byte => out.push(byte),
        }
        at += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_is_decoded_and_repeated_parameters_are_refused() {
        let form: TokenRequest = parse_form(
            b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Apre-authorized_code&pre-authorized_code=a+b&tx_code=123",
        )
        .expect("form");
        assert_eq!(
            form.grant_type.as_deref(),
            Some(crate::PRE_AUTHORIZED_GRANT)
        );
        assert_eq!(form.pre_authorized_code.as_deref(), Some("a b"));
        assert_eq!(form.tx_code.as_deref(), Some("123"));
        assert!(matches!(
            parse_form::<TokenRequest>(b"tx_code=1&tx_code=2"),
            Err(IssuerError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse_form::<TokenRequest>(b"tx_code=%G1"),
            Err(IssuerError::InvalidRequest(_))
        ));
        assert!(matches!(
            parse_form::<TokenRequest>(b"tx_code=%"),
            Err(IssuerError::InvalidRequest(_))
        ));
    }

    #[test]
    fn accept_negotiation_finds_application_jwt() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, application/jwt;q=0.9"),
        );
        assert!(wants_jwt(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_jwt(&headers));
    }
}
