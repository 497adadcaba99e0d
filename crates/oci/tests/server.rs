//! The client against tiny local servers: the Bearer token challenge flow, Basic challenges,
//! and a registry that lies about content, sizes and digests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use immerse_oci::manifest::{OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use immerse_oci::{
    Credentials, Descriptor, Digest, ImageIndex, ImageManifest, OciError, RegistryClient,
};

async fn serve(router: Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    port
}

fn client(port: u16, credentials: Credentials) -> RegistryClient {
    RegistryClient::builder(&format!("127.0.0.1:{port}"))
        .plain_http(true)
        .credentials(credentials)
        .build()
        .unwrap()
}

fn user() -> Credentials {
    Credentials::Basic {
        username: "user".into(),
        password: "pass".into(),
    }
}

fn manifest_bytes(note: &str) -> Vec<u8> {
    let mut m = ImageManifest::new(Descriptor::for_content(OCI_CONFIG, b"{}"), vec![]);
    m.annotations = Some([("note".to_owned(), note.to_owned())].into());
    m.to_json()
}

struct TokenServer {
    port: AtomicUsize,
    token_requests: AtomicUsize,
}

fn bearer_ok(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        == Some("Bearer good-token")
}

fn challenge(state: &TokenServer, scope: &str) -> Response {
    let realm = format!(
        "http://127.0.0.1:{}/token",
        state.port.load(Ordering::SeqCst)
    );
    let value = format!(r#"Bearer realm="{realm}",service="test-registry",scope="{scope}""#);
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, value)],
    )
        .into_response()
}

#[tokio::test]
async fn bearer_challenge_is_answered_with_a_token_and_cached() {
    let state = Arc::new(TokenServer {
        port: AtomicUsize::new(0),
        token_requests: AtomicUsize::new(0),
    });
    let router = Router::new()
        .route(
            "/v2/",
            get(
                |State(s): State<Arc<TokenServer>>, h: HeaderMap| async move {
                    if bearer_ok(&h) {
                        StatusCode::OK.into_response()
                    } else {
                        challenge(&s, "registry:catalog:*")
                    }
                },
            ),
        )
        .route(
            "/v2/r/manifests/{reference}",
            get(
                |State(s): State<Arc<TokenServer>>, h: HeaderMap| async move {
                    if bearer_ok(&h) {
                        ([(header::CONTENT_TYPE, OCI_MANIFEST)], manifest_bytes("m"))
                            .into_response()
                    } else {
                        challenge(&s, "repository:r:pull")
                    }
                },
            ),
        )
        .route(
            "/v2/evil/manifests/{reference}",
            get(|| async {
                let value = r#"Bearer realm="http://auth.example/token",service="x""#;
                (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, value)],
                )
            }),
        )
        .route(
            "/v2/elsewhere/manifests/{reference}",
            get(|State(s): State<Arc<TokenServer>>| async move {
                // Loopback, so allowed over http, but another host than the registry's.
                let port = s.port.load(Ordering::SeqCst);
                let value = format!(r#"Bearer realm="http://localhost:{port}/token",service="x""#);
                (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, value)],
                )
                    .into_response()
            }),
        )
        .route(
            "/token",
            get(
                |State(s): State<Arc<TokenServer>>,
                 h: HeaderMap,
                 Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    s.token_requests.fetch_add(1, Ordering::SeqCst);
                    // "user:pass" in Basic form.
                    let basic = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
                        == Some("Basic dXNlcjpwYXNz");
                    if !basic
                        || q.get("service").map(String::as_str) != Some("test-registry")
                        || !q.contains_key("scope")
                    {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    axum::Json(serde_json::json!({"token": "good-token", "expires_in": 300}))
                        .into_response()
                },
            ),
        )
        .with_state(state.clone());
    let port = serve(router).await;
    state.port.store(port as usize, Ordering::SeqCst);

    let c = client(port, user());
    c.ping().await.unwrap();
    let repo = c.repository("r").unwrap();
    repo.get_manifest("latest").await.unwrap();
    repo.get_manifest("latest").await.unwrap();
    assert_eq!(
        state.token_requests.load(Ordering::SeqCst),
        2,
        "one token per scope, then cached"
    );

    let anonymous = client(port, Credentials::Anonymous);
    let err = anonymous
        .repository("r")
        .unwrap()
        .get_manifest("latest")
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Auth(_)), "{err}");

    let err = c
        .repository("evil")
        .unwrap()
        .get_manifest("latest")
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::InvalidUrl { .. }),
        "a plain-http realm off loopback is refused: {err}"
    );

    // A realm on another host would receive the credentials: refused, nothing sent there.
    let before = state.token_requests.load(Ordering::SeqCst);
    let err = c
        .repository("elsewhere")
        .unwrap()
        .get_manifest("latest")
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::InvalidUrl { reason, .. } if reason.contains("registry's host")),
        "{err}"
    );
    assert_eq!(state.token_requests.load(Ordering::SeqCst), before);
    // Unless the operator names that host.
    let trusting = RegistryClient::builder(&format!("127.0.0.1:{port}"))
        .plain_http(true)
        .credentials(user())
        .token_realm_host("localhost")
        .build()
        .unwrap();
    let err = trusting
        .repository("elsewhere")
        .unwrap()
        .get_manifest("latest")
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Auth(_)), "{err}");
    assert_eq!(state.token_requests.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn basic_challenge_is_answered_with_credentials() {
    let router = Router::new().route(
        "/v2/",
        get(|h: HeaderMap| async move {
            if h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
                == Some("Basic dXNlcjpwYXNz")
            {
                StatusCode::OK.into_response()
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, r#"Basic realm="registry""#)],
                )
                    .into_response()
            }
        }),
    );
    let port = serve(router).await;
    client(port, user()).ping().await.unwrap();
    assert!(matches!(
        client(port, Credentials::Anonymous).ping().await,
        Err(OciError::Auth(_))
    ));
    let wrong = Credentials::Basic {
        username: "user".into(),
        password: "nope".into(),
    };
    assert!(matches!(
        client(port, wrong).ping().await,
        Err(OciError::Auth(_))
    ));
}

/// A registry that serves other bytes than the ones asked for.
fn lying_router() -> Router {
    Router::new()
        .route(
            "/v2/paged/referrers/{digest}",
            get(
                |Path(digest): Path<String>,
                 Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let second = q.contains_key("last");
                    let mut d =
                        Descriptor::for_content(OCI_MANIFEST, if second { b"b" } else { b"a" });
                    d.artifact_type = Some("application/a".into());
                    let body = ImageIndex::new(vec![d]).to_json();
                    let ct = (header::CONTENT_TYPE, OCI_INDEX.to_owned());
                    if second {
                        ([ct], body).into_response()
                    } else {
                        let link = format!(r#"</v2/paged/referrers/{digest}?last=a>; rel="next""#);
                        ([ct, (header::LINK, link)], body).into_response()
                    }
                },
            ),
        )
        .route(
            "/v2/endless/referrers/{digest}",
            get(|Path(digest): Path<String>| async move {
                let link = format!(r#"</v2/endless/referrers/{digest}>; rel="next""#);
                let ct = (header::CONTENT_TYPE, OCI_INDEX.to_owned());
                (
                    [ct, (header::LINK, link)],
                    ImageIndex::new(vec![]).to_json(),
                )
            }),
        )
        .route(
            "/v2/offsite/referrers/{digest}",
            get(|| async {
                let link = r#"<http://other.example/v2/x>; rel="next""#;
                (
                    [(header::CONTENT_TYPE, OCI_INDEX), (header::LINK, link)],
                    ImageIndex::new(vec![]).to_json(),
                )
            }),
        )
        .route(
            "/v2/r/manifests/{reference}",
            get(|Path(reference): Path<String>| async move {
                let good = manifest_bytes("good");
                let evil = manifest_bytes("evil");
                let oci = (header::CONTENT_TYPE, OCI_MANIFEST.to_owned());
                match reference.as_str() {
                    "tag-lie" => (
                        [
                            oci,
                            (
                                "Docker-Content-Digest".parse().unwrap(),
                                Digest::of(&evil).to_string(),
                            ),
                        ],
                        good,
                    )
                        .into_response(),
                    "huge" => ([oci], vec![b' '; 5 * 1024 * 1024]).into_response(),
                    "index-as-manifest" => {
                        ([(header::CONTENT_TYPE, OCI_INDEX.to_owned())], good).into_response()
                    }
                    // Asked by digest (of "good"): answer with other content.
                    _ => ([oci], evil).into_response(),
                }
            }),
        )
        .route(
            "/v2/r/blobs/{digest}",
            get(|Path(digest): Path<String>| async move {
                if digest == Digest::of(b"long").to_string() {
                    b"longer than said".to_vec()
                } else {
                    b"ABCD".to_vec()
                }
            }),
        )
        .route(
            "/v2/r/referrers/{digest}",
            get(|| async {
                let mut a = Descriptor::for_content(OCI_MANIFEST, b"a");
                a.artifact_type = Some("application/a".into());
                let mut b = Descriptor::for_content(OCI_MANIFEST, b"b");
                b.artifact_type = Some("application/b".into());
                // No OCI-Filters-Applied header: the client must filter itself.
                (
                    [(header::CONTENT_TYPE, OCI_INDEX)],
                    ImageIndex::new(vec![a, b]).to_json(),
                )
            }),
        )
}

#[tokio::test]
async fn lying_registry_is_caught() {
    let port = serve(lying_router()).await;
    let c = client(port, Credentials::Anonymous);
    let repo = c.repository("r").unwrap();

    let good = Digest::of(&manifest_bytes("good"));
    let err = repo.get_manifest(&good.to_string()).await.unwrap_err();
    assert!(
        matches!(err, OciError::DigestMismatch { .. }),
        "wrong content for a digest: {err}"
    );
    let err = repo.get_manifest("tag-lie").await.unwrap_err();
    assert!(
        matches!(err, OciError::DigestMismatch { .. }),
        "Docker-Content-Digest disagrees: {err}"
    );
    let err = repo.get_manifest("huge").await.unwrap_err();
    assert!(
        matches!(
            err,
            OciError::TooLarge {
                what: "manifest",
                ..
            }
        ),
        "{err}"
    );
    let err = repo.get_manifest("index-as-manifest").await.unwrap_err();
    assert!(matches!(err, OciError::MediaTypeMismatch { .. }), "{err}");

    let wrong = Descriptor::for_content("application/octet-stream", b"abcd");
    assert!(matches!(
        repo.get_blob(&wrong).await,
        Err(OciError::DigestMismatch { .. })
    ));
    let long = Descriptor::for_content("application/octet-stream", b"long");
    assert!(matches!(
        repo.get_blob(&long).await,
        Err(OciError::SizeMismatch { .. })
    ));
    let over_limit = RegistryClient::builder(&format!("127.0.0.1:{port}"))
        .plain_http(true)
        .max_blob_bytes(2)
        .build()
        .unwrap();
    let err = over_limit
        .repository("r")
        .unwrap()
        .get_blob(&wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::TooLarge { what: "blob", .. }),
        "{err}"
    );
}

#[tokio::test]
async fn referrers_api_answers_are_filtered_client_side() {
    let port = serve(lying_router()).await;
    let c = client(port, Credentials::Anonymous);
    let repo = c.repository("r").unwrap();
    let subject = Digest::of(b"subject");
    assert_eq!(
        repo.referrers(&subject, None)
            .await
            .unwrap()
            .manifests
            .len(),
        2
    );
    assert_eq!(
        repo.referrers(&subject, Some(""))
            .await
            .unwrap()
            .manifests
            .len(),
        2
    );
    let only_a = repo
        .referrers(&subject, Some("application/a"))
        .await
        .unwrap();
    assert_eq!(only_a.manifests.len(), 1);
    assert_eq!(
        only_a.manifests[0].artifact_type.as_deref(),
        Some("application/a")
    );
}

#[tokio::test]
async fn referrers_pages_are_followed_within_bounds() {
    let port = serve(lying_router()).await;
    let c = client(port, Credentials::Anonymous);
    let subject = Digest::of(b"subject");
    let paged = c
        .repository("paged")
        .unwrap()
        .referrers(&subject, None)
        .await
        .unwrap();
    assert_eq!(paged.manifests.len(), 2, "both pages");
    let err = c
        .repository("endless")
        .unwrap()
        .referrers(&subject, None)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::TooLarge { .. }), "{err}");
    let err = c
        .repository("offsite")
        .unwrap()
        .referrers(&subject, None)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::InvalidUrl { .. }), "{err}");
}
