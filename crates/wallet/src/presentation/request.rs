//! The authorization request, from the URI the holder hands the wallet to a verified request
//! object (OpenID4VP 1.0 s5; RFC 9101): parse the URI, fetch the request object by
//! `request_uri` (GET, or POST with `wallet_metadata` and `wallet_nonce`), and verify it against
//! the key its Client Identifier names (OpenID4VP 1.0 s5.9.3): the `x5c` leaf certificate an
//! `x509_hash` identifier hashes, or, for `openid_federation`, the key named by `kid` among the
//! signing keys the Key Registry lists for the verifier's entity.
use base64::Engine;
use immerse_jose::jwe::ContentEncryption;
use immerse_jose::{Curve, KeyUse, PublicJwk, PublicJwkSet, base64url, jwt};
use immerse_verifier::dcql::DcqlQuery;
use immerse_verifier::{
    OPENID_FEDERATION_PREFIX, REQUEST_OBJECT_TYP, SELF_ISSUED_AUDIENCE, X509_HASH_PREFIX,
};
use openssl::asn1::Asn1Time;
use openssl::x509::X509;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::PresentationError;
use crate::Wallet;

/// URI schemes of an authorization request: OpenID4VP 1.0 s13.1 and HAIP s5 (`haip-vp`, and
/// `haip` as earlier HAIP drafts named it).
const SCHEMES: &[&str] = &["openid4vp", "haip-vp", "haip"];
/// The Client Identifier prefixes this wallet trusts (OpenID4VP 1.0 s5.9.3), as a parsed
/// identifier: the prefix is part of the identifier, and everything after it is the
/// prefix-specific part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientIdPrefix<'a> {
    /// HAIP s5: base64url SHA-256 of the DER leaf certificate in `x5c`.
    X509Hash(&'a str),
    /// An Entity Identifier (OpenID Federation 1.0 s1.2), resolved through the Key Registry,
    /// which is this wallet's one Trust Anchor.
    OpenIdFederation(&'a str),
}

impl<'a> ClientIdPrefix<'a> {
    pub(crate) fn parse(client_id: &'a str) -> Result<Self, PresentationError> {
        if let Some(hash) = client_id.strip_prefix(X509_HASH_PREFIX) {
            return Ok(Self::X509Hash(hash));
        }
        match client_id.strip_prefix(OPENID_FEDERATION_PREFIX) {
            Some(entity) if !entity.is_empty() => Ok(Self::OpenIdFederation(entity)),
            _ => Err(PresentationError::UnsupportedClientIdPrefix(
                client_id.to_owned(),
            )),
        }
    }
}
/// Parameters that, outside a request object, mean the request came unsigned (OpenID4VP 1.0
/// s5.1).
const CLEAR_REQUEST_PARAMETERS: &[&str] = &[
    "response_type",
    "response_mode",
    "dcql_query",
    "nonce",
    "response_uri",
    "redirect_uri",
    "client_metadata",
];

/// How the request object is obtained (RFC 9101 s4, s5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RequestSource {
    /// `request_uri`, fetched with GET or, for `request_uri_method=post`, POST (s5.10).
    Reference { uri: String, post: bool },
    /// `request`: the signed request object itself.
    Value(String),
}

/// What the URI the holder scanned or clicked says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthorizationRequest {
    pub client_id: String,
    pub source: RequestSource,
}

/// Parses an `openid4vp://` (or `haip-vp://`) authorization request by reference or by value.
pub(crate) fn parse_uri(uri: &str) -> Result<AuthorizationRequest, PresentationError> {
    let invalid = |reason: &str| PresentationError::InvalidRequest(reason.to_owned());
    let url = reqwest::Url::parse(uri.trim()).map_err(|_| invalid("not a URI"))?;
    if !SCHEMES.contains(&url.scheme()) {
        return Err(invalid("the scheme is not openid4vp or haip-vp"));
    }
    let mut parameters = Map::new();
    for (name, value) in url.query_pairs() {
        // RFC 6749 s3.1: a parameter must not appear more than once.
        if parameters
            .insert(name.clone().into_owned(), json!(value))
            .is_some()
        {
            return Err(invalid(&format!("{name} appears more than once")));
        }
    }
    let text = |name: &str| parameters.get(name).and_then(Value::as_str);
    let client_id = text("client_id").ok_or_else(|| invalid("client_id is missing"))?;
    let source = match (text("request_uri"), text("request")) {
        (Some(_), Some(_)) => return Err(invalid("both request and request_uri")),
        (Some(request_uri), None) => {
            // OpenID4VP 1.0 s5.10: absent means get; anything but get and post is refused.
            let post = match text("request_uri_method") {
                None | Some("get") => false,
                Some("post") => true,
                Some(other) => {
                    return Err(PresentationError::InvalidRequestUriMethod(other.to_owned()));
                }
            };
            check_endpoint(request_uri, "request_uri")?;
            RequestSource::Reference {
                uri: request_uri.to_owned(),
                post,
            }
        }
        (None, Some(request)) => RequestSource::Value(request.to_owned()),
        (None, None)
            if CLEAR_REQUEST_PARAMETERS
                .iter()
                .any(|name| text(name).is_some()) =>
        {
            return Err(PresentationError::UnsignedRequest);
        }
        (None, None) => return Err(invalid("neither request nor request_uri")),
    };
    Ok(AuthorizationRequest {
        client_id: client_id.to_owned(),
        source,
    })
}

/// An endpoint of the verifier: https, or http on a loopback address (development and tests;
/// production routes public https URLs to loopback through `Origins`, never the reverse).
pub(crate) fn check_endpoint(url: &str, name: &str) -> Result<reqwest::Url, PresentationError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| PresentationError::InvalidRequest(format!("{name} is not a URL")))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let allowed = match parsed.scheme() {
        "https" => !host.is_empty(),
        "http" => loopback,
        _ => false,
    };
    if !allowed || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(PresentationError::InvalidRequest(format!(
            "{name} must be an https URL (http only on loopback)"
        )));
    }
    Ok(parsed)
}

/// What the wallet tells the verifier about itself when it fetches by POST (OpenID4VP 1.0
/// s5.10.1, s10): what it verifies and how it can be answered.
fn wallet_metadata() -> Value {
    json!({
        "vp_formats_supported": {"dc+sd-jwt": {
            "sd-jwt_alg_values": ["ES256"],
            "kb-jwt_alg_values": ["ES256"]
        }},
        "request_object_signing_alg_values_supported": ["ES256"],
        "client_id_prefixes_supported": ["x509_hash", "openid_federation"],
        "response_modes_supported": ["direct_post.jwt"],
        "response_types_supported": ["vp_token"],
    })
}

/// Fetches the request object; for POST, with a fresh `wallet_nonce` that is returned so that
/// the request object can be checked to echo it.
pub(crate) async fn fetch_request_object(
    wallet: &Wallet,
    request_uri: &str,
    post: bool,
) -> Result<(String, Option<String>), PresentationError> {
    let located = wallet.locate(request_uri);
    let unreachable = |reason: String| PresentationError::Unreachable {
        url: request_uri.to_owned(),
        reason,
    };
    wallet
        .config()
        .outbound
        .check(&located)
        .map_err(|refusal| unreachable(refusal.to_string()))?;
    let builder = if post {
        wallet.http().post(&located)
    } else {
        wallet.http().get(&located)
    };
    let builder = builder.header(
        reqwest::header::ACCEPT,
        format!("application/{REQUEST_OBJECT_TYP}"),
    );
    let wallet_nonce = post.then(|| base64url::random(32)).transpose()?;
    let builder = match &wallet_nonce {
        Some(nonce) => builder.form(&[
            ("wallet_metadata", wallet_metadata().to_string()),
            ("wallet_nonce", nonce.clone()),
        ]),
        None => builder,
    };
    let response = builder
        .send()
        .await
        .map_err(|err| unreachable(err.to_string()))?;
    let status = response.status();
    let body = read_bounded(response, wallet.config().max_response_bytes)
        .await
        .map_err(unreachable)?;
    if !status.is_success() {
        return Err(PresentationError::VerifierRefused {
            url: request_uri.to_owned(),
            status: status.as_u16(),
            body: printable_prefix(&body),
        });
    }
    let text = String::from_utf8(body)
        .map_err(|_| PresentationError::InvalidRequestObject("is not UTF-8".into()))?;
    Ok((text.trim().to_owned(), wallet_nonce))
}

/// Reads at most `limit` bytes of a response body.
pub(crate) async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| err.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(format!("response larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The start of an error body, for a message: printable ASCII only, bounded.
pub(crate) fn printable_prefix(body: &[u8]) -> String {
    body.iter()
        .take(300)
        .map(|&byte| {
            if (0x20..0x7f).contains(&byte) {
                char::from(byte)
            } else {
                '?'
            }
        })
        .collect()
}

/// A request object whose signature verified with the key its Client Identifier names, and
/// whose parameters this wallet can answer.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedRequest {
    pub client_id: String,
    /// The registry entity an `openid_federation` identifier names; `None` for `x509_hash`,
    /// whose entity comes from the wallet's directory.
    pub entity_id: Option<String>,
    /// The key that signed the request: the registry must list it for the verifier entity.
    pub signing_key: PublicJwk,
    pub expires_at: i64,
    pub nonce: String,
    pub state: Option<String>,
    pub response_uri: String,
    pub dcql_query: DcqlQuery,
    /// Where and how the response is encrypted (OpenID4VP 1.0 s8.3).
    pub recipient: PublicJwk,
    pub enc: ContentEncryption,
}

/// Verifies a request object for the Client Identifier `client_id` of the URI.
/// `federation_keys` are the signing keys the registry lists, valid now, for the entity of an
/// `openid_federation` identifier (the caller resolved it); unused for `x509_hash`.
pub(crate) fn verify_request_object(
    token: &str,
    client_id: &str,
    federation_keys: Option<&PublicJwkSet>,
    wallet_nonce: Option<&str>,
    now: i64,
    skew_seconds: i64,
) -> Result<VerifiedRequest, PresentationError> {
    let header = unverified_header(token)?;
    // OpenID4VP 1.0 s5.9.3: the prefix is part of the identifier and says how the request
    // object's key is found.
    let (signing_key, entity_id) = match ClientIdPrefix::parse(client_id)? {
        ClientIdPrefix::X509Hash(expected_hash) => {
            let leaf_der = leaf_certificate(&header)?;
            // s5.9.3: the identifier is base64url(SHA-256(DER of the leaf)).
            if base64url::encode(Sha256::digest(&leaf_der)) != expected_hash {
                return Err(PresentationError::X509HashMismatch {
                    client_id: client_id.to_owned(),
                });
            }
            (certificate_key(&leaf_der, now)?, None)
        }
        ClientIdPrefix::OpenIdFederation(entity) => {
            // s5.9.3: the request must be signed, with a key of the Entity (OpenID Federation
            // 1.0 s12.1: a key of the Relying Party's `jwks`, named by `kid`). Here the keys
            // are the registry's, from its verified entity statement; x5c plays no part.
            let keys = federation_keys.ok_or_else(|| {
                PresentationError::Internal("federation keys were not resolved".into())
            })?;
            let kid = header.get("kid").and_then(Value::as_str).ok_or_else(|| {
                PresentationError::InvalidRequestObject(
                    "has no kid, which openid_federation needs".into(),
                )
            })?;
            let key = keys
                .find(kid)
                .ok_or_else(|| PresentationError::RequestKeyNotRegistered {
                    entity: entity.to_owned(),
                    kid: kid.to_owned(),
                })?;
            (key.clone(), Some(entity.to_owned()))
        }
    };
    // RFC 9101 s6.2, OpenID4VP 1.0 s5: signed by the leaf key, typ oauth-authz-req+jwt (RFC
    // 8725 s3.11), aud the static-discovery audience (s5.8), exp required (SYSTEM.md s5).
    let mut validation = jwt::Validation::new(REQUEST_OBJECT_TYP)
        .audience(SELF_ISSUED_AUDIENCE)
        .at(now);
    validation.skew_seconds = skew_seconds;
    let claims = jwt::verify(token, &validation, &signing_key)
        .map_err(PresentationError::RequestSignature)?
        .into_inner()
        .claims;
    // RFC 9101 s5: the client_id inside is the one the request was made with.
    let inside = claims
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if inside != client_id {
        return Err(PresentationError::ClientIdMismatch {
            outside: client_id.to_owned(),
            inside: inside.to_owned(),
        });
    }
    if claims
        .get("iss")
        .is_some_and(|iss| iss.as_str() != Some(client_id))
    {
        return Err(PresentationError::InvalidRequestObject(
            "iss is not the client_id".into(),
        ));
    }
    // OpenID4VP 1.0 s5.10.1: the wallet_nonce we sent must come back, so that a request
    // object recorded earlier cannot be replayed to us.
    if let Some(sent) = wallet_nonce
        && claims.get("wallet_nonce").and_then(Value::as_str) != Some(sent)
    {
        return Err(PresentationError::WalletNonceMismatch);
    }
    let expires_at = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| PresentationError::InvalidRequestObject("exp is not an integer".into()))?;
    let mut verified = parameters(&claims, client_id, signing_key, expires_at)?;
    verified.entity_id = entity_id;
    Ok(verified)
}

/// The protected header, decoded without verification: to refuse `alg: none` with a precise
/// error and to find `x5c`.
fn unverified_header(token: &str) -> Result<Map<String, Value>, PresentationError> {
    let parts: Vec<&str> = token.split('.').collect();
    let header: Map<String, Value> = parts
        .first()
        .and_then(|part| base64url::decode(part, "request object header").ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| PresentationError::InvalidRequestObject("is not a JWS".into()))?;
    let unsigned = header.get("alg").and_then(Value::as_str) == Some("none")
        || parts.len() != 3
        || parts.get(2).is_some_and(|signature| signature.is_empty());
    if unsigned {
        return Err(PresentationError::UnsignedRequest);
    }
    Ok(header)
}

/// The DER of the `x5c` leaf (RFC 7515 s4.1.6: standard base64, leaf first).
fn leaf_certificate(header: &Map<String, Value>) -> Result<Vec<u8>, PresentationError> {
    let leaf = header
        .get("x5c")
        .and_then(Value::as_array)
        .and_then(|chain| chain.first())
        .and_then(Value::as_str)
        .ok_or_else(|| PresentationError::Certificate("x5c is missing or empty".into()))?;
    base64::engine::general_purpose::STANDARD
        .decode(leaf)
        .map_err(|_| PresentationError::Certificate("x5c[0] is not base64".into()))
}

/// The leaf's public key, when the certificate is in force at `now`. Trust in the key comes
/// from the registry, not from a CA (SYSTEM.md s1: the registry is the one trust anchor), so
/// the chain above the leaf is not evaluated.
fn certificate_key(der: &[u8], now: i64) -> Result<PublicJwk, PresentationError> {
    let certificate = |reason: String| PresentationError::Certificate(reason);
    let leaf = X509::from_der(der).map_err(|err| certificate(format!("leaf: {err}")))?;
    let now_asn1 = Asn1Time::from_unix(now).map_err(|err| certificate(err.to_string()))?;
    if leaf.not_before() > now_asn1 || leaf.not_after() < now_asn1 {
        return Err(certificate("the leaf certificate is not in force".into()));
    }
    let pem = leaf
        .public_key()
        .and_then(|key| key.public_key_to_pem())
        .map_err(|err| certificate(format!("leaf key: {err}")))?;
    PublicJwk::from_spki_pem(&String::from_utf8_lossy(&pem))
        .map_err(|err| certificate(format!("leaf key: {err}")))
}

/// The request parameters the wallet answers (OpenID4VP 1.0 s5.1, s8.2, s8.3).
fn parameters(
    claims: &Map<String, Value>,
    client_id: &str,
    signing_key: PublicJwk,
    expires_at: i64,
) -> Result<VerifiedRequest, PresentationError> {
    let invalid = |reason: &str| PresentationError::InvalidRequestObject(reason.to_owned());
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("response_type") != Some("vp_token") {
        return Err(invalid("response_type is not vp_token"));
    }
    match text("response_mode") {
        Some("direct_post.jwt") => {}
        other => {
            return Err(PresentationError::UnsupportedResponseMode(
                other.unwrap_or("(none)").to_owned(),
            ));
        }
    }
    // s8.2: with response_uri, redirect_uri must not be present.
    if claims.contains_key("redirect_uri") {
        return Err(invalid("has redirect_uri beside response_uri"));
    }
    // s5.1: a wallet that does not support transaction data must refuse the request.
    if claims.contains_key("transaction_data") {
        return Err(invalid(
            "has transaction_data, which this wallet does not support",
        ));
    }
    let response_uri = text("response_uri").ok_or_else(|| invalid("has no response_uri"))?;
    check_endpoint(response_uri, "response_uri")?;
    let nonce = text("nonce")
        .filter(|nonce| !nonce.is_empty())
        .ok_or_else(|| invalid("has no nonce"))?;
    let state = match claims.get("state") {
        None => None,
        Some(Value::String(state)) => Some(state.clone()),
        Some(_) => return Err(invalid("state is not a string")),
    };
    let dcql_query = DcqlQuery::parse(
        claims
            .get("dcql_query")
            .cloned()
            .ok_or_else(|| invalid("has no dcql_query"))?,
    )?;
    let metadata = claims
        .get("client_metadata")
        .and_then(Value::as_object)
        .ok_or_else(|| PresentationError::ResponseEncryption("no client_metadata".into()))?;
    let (recipient, enc) = response_encryption(metadata)?;
    Ok(VerifiedRequest {
        client_id: client_id.to_owned(),
        entity_id: None,
        signing_key,
        expires_at,
        nonce: nonce.to_owned(),
        state,
        response_uri: response_uri.to_owned(),
        dcql_query,
        recipient,
        enc,
    })
}

/// OpenID4VP 1.0 s8.3: the first `jwks` key we can encrypt to (EC P-256, `alg` ECDH-ES, the JWE
/// `alg` must equal the key's), and the first `enc` of `encrypted_response_enc_values_supported`
/// we implement, A128GCM when the member is absent.
fn response_encryption(
    metadata: &Map<String, Value>,
) -> Result<(PublicJwk, ContentEncryption), PresentationError> {
    let unusable = |reason: &str| PresentationError::ResponseEncryption(reason.to_owned());
    let keys = metadata
        .get("jwks")
        .and_then(|jwks| jwks.get("keys"))
        .and_then(Value::as_array)
        .ok_or_else(|| unusable("client_metadata has no jwks"))?;
    let recipient = keys
        .iter()
        .filter_map(|key| key.as_object().cloned())
        .filter(|key| key.get("alg").and_then(Value::as_str) == Some("ECDH-ES"))
        .filter_map(|key| PublicJwk::from_object(key).ok())
        .find(|key| key.curve() == Some(Curve::P256) && key.key_use() != Some(KeyUse::Sig))
        .ok_or_else(|| unusable("no ECDH-ES P-256 key in jwks"))?;
    let enc = match metadata.get("encrypted_response_enc_values_supported") {
        None => ContentEncryption::A128Gcm,
        Some(Value::Array(values)) => values
            .iter()
            .filter_map(Value::as_str)
            .find_map(|name| {
                ContentEncryption::ALL
                    .iter()
                    .copied()
                    .find(|enc| enc.name() == name)
            })
            .ok_or_else(|| {
                unusable("no supported value in encrypted_response_enc_values_supported")
            })?,
        Some(_) => {
            return Err(unusable(
                "encrypted_response_enc_values_supported is not an array",
            ));
        }
    };
    Ok((recipient, enc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_uris_by_reference_and_value_parse() {
        let parsed = parse_uri(
            "openid4vp://authorize?client_id=x509_hash%3Aabc&request_uri=https%3A%2F%2Fv.test%2Frequest%2F1&request_uri_method=post",
        )
        .unwrap();
        assert_eq!(parsed.client_id, "x509_hash:abc");
        assert_eq!(
            parsed.source,
            RequestSource::Reference {
                uri: "https://v.test/request/1".into(),
                post: true
            }
        );
        let parsed = parse_uri("haip-vp://?client_id=x509_hash%3Aabc&request=e30.e30.sig").unwrap();
        assert_eq!(parsed.source, RequestSource::Value("e30.e30.sig".into()));
    }

    #[test]
    fn malformed_request_uris_are_refused() {
        let cases = [
            (
                "https://v.test/?client_id=a&request_uri=https://v.test/r",
                "invalid_request",
            ),
            (
                "openid4vp://?request_uri=https://v.test/r",
                "invalid_request",
            ),
            (
                "openid4vp://?client_id=a&client_id=b&request_uri=https://v.test/r",
                "invalid_request",
            ),
            (
                "openid4vp://?client_id=a&request_uri=https://v.test/r&request_uri_method=put",
                "invalid_request_uri_method",
            ),
            (
                "openid4vp://?client_id=a&request_uri=http://v.test/r",
                "invalid_request",
            ),
            (
                "openid4vp://?client_id=a&request_uri=file:///etc/passwd",
                "invalid_request",
            ),
            (
                "openid4vp://?client_id=a&response_type=vp_token&nonce=n&response_uri=https://v.test/r",
                "unsigned_request",
            ),
        ];
        for (uri, code) in cases {
            let error = parse_uri(uri).expect_err(uri);
            assert_eq!(error.code(), code, "{uri}: {error}");
        }
    }

    #[test]
    fn loopback_http_is_the_only_clear_endpoint() {
        assert!(check_endpoint("http://127.0.0.1:8080/r", "x").is_ok());
        assert!(check_endpoint("http://[::1]:8080/r", "x").is_ok());
        assert!(check_endpoint("http://localhost/r", "x").is_ok());
        assert!(check_endpoint("https://verifier.example/r", "x").is_ok());
        assert!(check_endpoint("http://verifier.example/r", "x").is_err());
        assert!(check_endpoint("https://user:pw@verifier.example/r", "x").is_err());
        assert!(check_endpoint("javascript:alert(1)", "x").is_err());
    }

    #[test]
    fn client_identifier_prefixes_are_x509_hash_and_openid_federation_only() {
        assert_eq!(
            ClientIdPrefix::parse("x509_hash:abc").unwrap(),
            ClientIdPrefix::X509Hash("abc")
        );
        assert_eq!(
            ClientIdPrefix::parse("openid_federation:https://v.test").unwrap(),
            ClientIdPrefix::OpenIdFederation("https://v.test")
        );
        for refused in [
            "openid_federation:",
            "https://v.test",
            "redirect_uri:https://v.test/cb",
            "decentralized_identifier:did:example:1",
            "x509_san_dns:v.test",
        ] {
            let error = ClientIdPrefix::parse(refused).unwrap_err();
            assert_eq!(error.code(), "unsupported_client_id_prefix", "{refused}");
        }
    }

    #[test]
    fn unsigned_request_objects_are_refused() {
        let header = base64url::encode(br#"{"alg":"none","typ":"oauth-authz-req+jwt"}"#);
        let payload = base64url::encode(br#"{"client_id":"x509_hash:abc"}"#);
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            let error =
                verify_request_object(&token, "x509_hash:abc", None, None, 0, 60).unwrap_err();
            assert!(
                matches!(error, PresentationError::UnsignedRequest),
                "{error}"
            );
        }
    }

    #[test]
    fn response_encryption_takes_the_verifiers_order_and_defaults_to_a128gcm() {
        let key = json!({"kty": "EC", "crv": "P-256", "alg": "ECDH-ES",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        let metadata = |extra: Value| {
            let mut object = json!({"jwks": {"keys": [key.clone()]}});
            if let (Some(object), Value::Object(extra)) = (object.as_object_mut(), extra) {
                object.extend(extra);
            }
            object.as_object().cloned().unwrap()
        };
        let (_, enc) = response_encryption(&metadata(json!({}))).unwrap();
        assert_eq!(enc, ContentEncryption::A128Gcm);
        let (_, enc) = response_encryption(&metadata(
            json!({"encrypted_response_enc_values_supported": ["A192GCM", "A256GCM", "A128GCM"]}),
        ))
        .unwrap();
        assert_eq!(enc, ContentEncryption::A256Gcm);
        let error = response_encryption(&metadata(
            json!({"encrypted_response_enc_values_supported": ["A128CBC-HS256"]}),
        ))
        .unwrap_err();
        assert_eq!(error.code(), "unsupported_response_encryption");
        let signing_only = json!({"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "alg": "ES256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}});
        assert!(response_encryption(signing_only.as_object().unwrap()).is_err());
    }

    /// A request object's claims that `parameters` accepts; each case below breaks one.
    fn valid_claims() -> Map<String, Value> {
        json!({
            "response_type": "vp_token",
            "response_mode": "direct_post.jwt",
            "response_uri": "https://verifier.example/response/1",
            "nonce": "n-0S6_WzA2Mj",
            "state": "s-1",
            "dcql_query": {"credentials": [{"id": "pid", "format": "dc+sd-jwt",
                "meta": {"vct_values": ["https://issuer.example/vct/pid"]},
                "claims": [{"path": ["given_name"]}]}]},
            "client_metadata": {"jwks": {"keys": [{"kty": "EC", "crv": "P-256",
                "alg": "ECDH-ES", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}},
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    #[test]
    fn request_parameters_the_wallet_cannot_honour_are_refused() {
        use immerse_jose::Signer;
        let key = immerse_jose::SoftwareSigner::generate()
            .unwrap()
            .public_jwk()
            .clone();
        let client_id = "x509_hash:abc";
        assert!(parameters(&valid_claims(), client_id, key.clone(), 60).is_ok());
        let cases: [(&str, Option<Value>, &str); 9] = [
            (
                "response_type",
                Some(json!("code")),
                "invalid_request_object",
            ),
            ("response_type", None, "invalid_request_object"),
            (
                "response_mode",
                Some(json!("fragment")),
                "unsupported_response_mode",
            ),
            // OpenID4VP 1.0 s8.2: redirect_uri must not come with response_uri.
            (
                "redirect_uri",
                Some(json!("https://verifier.example/cb")),
                "invalid_request_object",
            ),
            // s5.1: a wallet without transaction data support must refuse it.
            (
                "transaction_data",
                Some(json!(["e30"])),
                "invalid_request_object",
            ),
            ("response_uri", None, "invalid_request_object"),
            ("nonce", None, "invalid_request_object"),
            ("nonce", Some(json!("")), "invalid_request_object"),
            ("client_metadata", None, "unsupported_response_encryption"),
        ];
        for (name, value, code) in cases {
            let mut claims = valid_claims();
            match &value {
                Some(value) => claims.insert(name.into(), value.clone()),
                None => claims.remove(name),
            };
            let error = parameters(&claims, client_id, key.clone(), 60).unwrap_err();
            assert_eq!(error.code(), code, "{name} = {value:?}: {error}");
        }
    }

    #[test]
    fn a_leaf_certificate_out_of_force_is_refused() {
        use openssl::{ec, hash::MessageDigest, nid::Nid, pkey::PKey, x509};
        let group = ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(ec::EcKey::generate(&group).unwrap()).unwrap();
        let mut builder = x509::X509Builder::new().unwrap();
        builder.set_pubkey(&key).unwrap();
        let now = jwt::now();
        builder
            .set_not_before(&Asn1Time::from_unix(now - 60).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::from_unix(now + 3600).unwrap())
            .unwrap();
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        let der = builder.build().to_der().unwrap();
        assert!(certificate_key(&der, now).is_ok());
        for outside in [now - 120, now + 7200] {
            let error = certificate_key(&der, outside).unwrap_err();
            assert!(
                matches!(&error, PresentationError::Certificate(reason) if reason.contains("not in force")),
                "{error}"
            );
        }
    }
}
