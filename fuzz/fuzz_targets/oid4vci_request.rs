//! Arbitrary bytes as what a wallet sends the issuer (OpenID4VCI 1.0), through the real
//! router: the token request form (s6.1), the pushed authorization request (RFC 9126) and the
//! authorization request query, with the client attestation, its PoP and the DPoP proof taken
//! from the lines before the first blank line; and the credential request (s8.2, as JSON or
//! as `application/jwt`), the notification and the deferred credential request bodies. Those
//! three need a DPoP-bound access token, so the harness holds one (stored as a token endpoint
//! would store it) and signs a fresh DPoP proof for every request: the fuzzed body is what
//! reaches the request parsers and the key proof checks.
//!
//! The issuer has a fresh in-memory store and a registry it cannot reach, so a client
//! attestation that names a trusted attester fails closed. An error or an answer, never a
//! panic, and never a 500: a wallet's bytes are never the server's fault.
#![no_main]
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use hyper::service::Service;
use hyper_util::service::TowerToHyperService;
use immerse_issuer::{Config, CredentialConfiguration, DPOP_TYP, Issuer, NewOffer};
use immerse_jose::jws::SigningHeader;
use immerse_jose::{Signer, SoftwareSigner, base64url, jwt};
use immerse_registry::client::{ClientOptions, RegistryClient};
use immerse_store::{AccessTokenRow, Store};
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use tokio::runtime::Runtime;

const ISSUER: &str = "https://issuer.example";
const ATTESTER: &str = "https://attester.example";
/// Nothing listens here: every registry lookup is refused at once.
const UNREACHABLE_REGISTRY: &str = "http://127.0.0.1:9";
const ACCESS_TOKEN: &str = "fuzz-access-token";

struct Harness {
    runtime: Runtime,
    router: axum::Router,
    /// The key the access token is bound to.
    dpop: SoftwareSigner,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dpop = SoftwareSigner::generate().expect("DPoP key");
    let issuer = runtime.block_on(async {
        let registry_key = SoftwareSigner::generate().expect("registry key");
        let registry = RegistryClient::new(
            UNREACHABLE_REGISTRY,
            "https://registry.example",
            registry_key.public_jwk().clone(),
            ClientOptions::default(),
        )
        .expect("registry client");
        let mut config = Config::new(ISSUER);
        config.configurations.push(CredentialConfiguration {
            id: "pid".into(),
            vct: format!("{ISSUER}/vct/pid"),
            scope: "pid".into(),
            claims: vec!["given_name".into(), "family_name".into()],
            lifetime_seconds: 86_400,
            display_name: "Person identification".into(),
            selectively_disclosable: None,
        });
        config.trusted_attesters.push(ATTESTER.into());
        config
            .redirect_uris
            .push("https://wallet.example/cb".into());
        // A fresh server nonce per proof would double every request; the proofs are the
        // harness's own, so nothing is lost by not asking for one.
        config.require_dpop_nonce = false;
        let signer = Arc::new(SoftwareSigner::generate().expect("issuer key"));
        let store = Store::connect_in_memory().await.expect("in-memory store");
        let issuer = Issuer::new(config, store, signer, registry).expect("issuer");
        let offer: NewOffer = serde_json::from_value(json!({
            "credential_configuration_ids": ["pid"],
            "claims": {"given_name": "Erika", "family_name": "Mustermann"},
        }))
        .expect("offer");
        let offer = issuer.create_offer(offer).await.expect("offer created");
        let token_hash = openssl::sha::sha256(ACCESS_TOKEN.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        issuer
            .store()
            .insert_access_token(&AccessTokenRow {
                token_hash,
                offer_id: offer.offer_id,
                client_id: "wallet".into(),
                jkt: dpop.public_jwk().thumbprint_b64(),
                expires_at: i64::MAX / 2,
                credential_identifiers: None,
                configuration_ids: json!(["pid"]).to_string(),
            })
            .await
            .expect("access token stored");
        issuer
    });
    Harness {
        router: immerse_issuer::http::router(issuer),
        runtime,
        dpop,
    }
});

/// A DPoP proof for `POST {ISSUER}/{endpoint}` with the access token; a software key signs at
/// once, so one poll is enough.
fn dpop_proof(key: &SoftwareSigner, endpoint: &str) -> String {
    static JTI: AtomicU64 = AtomicU64::new(0);
    let claims = json!({
        "jti": format!("jti-{}", JTI.fetch_add(1, Ordering::Relaxed)),
        "htm": "POST",
        "htu": format!("{ISSUER}/{endpoint}"),
        "iat": jwt::now(),
        "ath": base64url::encode(openssl::sha::sha256(ACCESS_TOKEN.as_bytes())),
    });
    let header = SigningHeader::new(DPOP_TYP).embed_jwk();
    let future = jwt::sign(key, &header, &claims);
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(proof) => proof.expect("the DPoP key signs"),
        Poll::Pending => unreachable!("a software key signs without waiting"),
    }
}

/// One request through the router; the answer must not be a server error.
async fn send(router: &axum::Router, request: Request<Body>) {
    let target = format!("{} {}", request.method(), request.uri());
    let response = TowerToHyperService::new(router.clone())
        .call(request)
        .await
        .expect("the router is infallible");
    assert_ne!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "{target}"
    );
}

/// The client authentication headers of the token and PAR endpoints, from the fuzzer.
struct ClientHeaders<'a> {
    attestation: Option<&'a [u8]>,
    pop: Option<&'a [u8]>,
    dpop: Option<&'a [u8]>,
}

fn form(path: &str, headers: &ClientHeaders<'_>, body: &[u8]) -> Request<Body> {
    let mut request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_vec()))
        .expect("request");
    for (name, value) in [
        ("oauth-client-attestation", headers.attestation),
        ("oauth-client-attestation-pop", headers.pop),
        ("dpop", headers.dpop),
    ] {
        if let Some(Ok(value)) = value.map(HeaderValue::from_bytes) {
            request.headers_mut().insert(name, value);
        }
    }
    request
}

fn resource(
    key: &SoftwareSigner,
    endpoint: &str,
    content_type: &str,
    body: &[u8],
) -> Request<Body> {
    Request::post(format!("/{endpoint}"))
        .header(header::AUTHORIZATION, format!("DPoP {ACCESS_TOKEN}"))
        .header("dpop", dpop_proof(key, endpoint))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_vec()))
        .expect("request")
}

fuzz_target!(|data: &[u8]| {
    let harness = &*HARNESS;
    // "attestation\npop\ndpop\n\nbody"; without a blank line, all of it is the body.
    let (head, body) = match data.windows(2).position(|pair| pair == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (&[][..], data),
    };
    let mut lines = head.split(|byte| *byte == b'\n');
    let headers = ClientHeaders {
        attestation: lines.next(),
        pop: lines.next(),
        dpop: lines.next(),
    };
    let router = &harness.router;
    harness.runtime.block_on(async {
        send(router, form("/token", &headers, body)).await;
        send(router, form("/par", &headers, body)).await;
        if let Ok(query) = std::str::from_utf8(body)
            && let Ok(request) = Request::get(format!("/authorize?{query}")).body(Body::empty())
        {
            send(router, request).await;
        }
        let key = &harness.dpop;
        for content_type in ["application/json", "application/jwt"] {
            send(router, resource(key, "credential", content_type, body)).await;
        }
        let json = "application/json";
        send(router, resource(key, "notification", json, body)).await;
        send(router, resource(key, "deferred_credential", json, body)).await;
    });
});
