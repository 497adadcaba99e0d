//! Arbitrary bytes as what a wallet sends the verifier (OpenID4VP 1.0): the form body of a
//! `direct_post` / `direct_post.jwt` response and of a `request_uri` POST, through the real
//! router, and the parsed response handed to [`Verifier::handle_response`]: a `vp_token` in
//! clear with the session's state, a wallet error response, a JWE as received, and the bytes
//! encrypted to the session's key as the JWE payload (`state` filled in when the fuzzer left it
//! out), so that decryption succeeds and the payload and `vp_token` checks run. The verifier
//! has a fresh in-memory store and a registry it cannot reach, so a presentation that gets as
//! far as the issuer key fails closed.
//!
//! An error or an answer, never a panic, and never a 500: a wallet's bytes are never the
//! server's fault.
#![no_main]
use std::sync::{Arc, LazyLock};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hyper::service::Service;
use hyper_util::service::TowerToHyperService;
use immerse_jose::jwe::{ContentEncryption, KeyManagement};
use immerse_jose::{PublicJwk, Signer, SoftwareSigner, base64url, jwe};
use immerse_registry::client::{ClientOptions, RegistryClient};
use immerse_store::Store;
use immerse_verifier::{
    ClientIdentity, Config, NewRequest, RequestUriFetch, Verifier, WalletResponse,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;

/// Nothing listens here: every registry lookup is refused at once.
const UNREACHABLE_REGISTRY: &str = "http://127.0.0.1:9";

/// One pending session, as the wallet learns it from the request object.
struct Session {
    id: String,
    state: String,
    /// The per-request ECDH-ES key of a `direct_post.jwt` session.
    encryption_key: Option<PublicJwk>,
}

struct Harness {
    runtime: Runtime,
    verifier: Arc<Verifier>,
    router: axum::Router,
    clear: Session,
    encrypted: Session,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let verifier = runtime.block_on(async {
        let registry_key = SoftwareSigner::generate().expect("registry key");
        let registry = RegistryClient::new(
            UNREACHABLE_REGISTRY,
            "https://registry.example",
            registry_key.public_jwk().clone(),
            ClientOptions::default(),
        )
        .expect("registry client");
        let mut config = Config::new("https://verifier.example");
        config.allow_direct_post = true;
        // Sessions outlive any fuzzing run.
        config.request_ttl_seconds = 10 * 365 * 86_400;
        let signer = Arc::new(SoftwareSigner::generate().expect("request-signing key"));
        let identity = ClientIdentity::openid_federation(signer, "https://verifier.example")
            .expect("client identity");
        let store = Store::connect_in_memory().await.expect("in-memory store");
        Arc::new(Verifier::new(config, identity, store, registry).expect("verifier"))
    });
    let clear = runtime.block_on(session(&verifier, "direct_post"));
    let encrypted = runtime.block_on(session(&verifier, "direct_post.jwt"));
    Harness {
        router: immerse_verifier::http::router(verifier.clone()),
        runtime,
        verifier,
        clear,
        encrypted,
    }
});

async fn session(verifier: &Verifier, response_mode: &str) -> Session {
    let request: NewRequest = serde_json::from_value(json!({
        "dcql_query": {"credentials": [{
            "id": "pid",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": ["https://issuer.example/vct/pid"]},
            "claims": [{"path": ["given_name"]}, {"path": ["address", "country"]}],
        }]},
        "response_mode": response_mode,
    }))
    .expect("new request");
    let created = verifier
        .create_request("relying-party", request)
        .await
        .expect("request created");
    let object = verifier
        .request_object(&created.id, RequestUriFetch::Get)
        .await
        .expect("request object");
    let payload = object.split('.').nth(1).expect("a compact JWS");
    let claims: Map<String, Value> =
        serde_json::from_slice(&base64url::decode(payload, "payload").expect("base64url"))
            .expect("request object claims");
    let encryption_key = claims
        .get("client_metadata")
        .and_then(|metadata| metadata.pointer("/jwks/keys/0"))
        .cloned()
        .map(|jwk| PublicJwk::try_from(jwk).expect("the response encryption key"));
    Session {
        id: created.id,
        state: claims["state"].as_str().expect("state").to_owned(),
        encryption_key,
    }
}

/// One request through the router; the answer must not be a server error.
async fn post_form(router: &axum::Router, path: &str, body: &[u8]) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_vec()))
        .expect("request");
    let response = TowerToHyperService::new(router.clone())
        .call(request)
        .await
        .expect("the router is infallible");
    assert_ne!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "POST {path}"
    );
}

/// `handle_response` directly; a refusal must be the wallet's fault, not the server's.
async fn answer(verifier: &Verifier, session: &Session, response: WalletResponse) {
    if let Err(err) = verifier.handle_response(&session.id, response).await {
        assert_ne!(err.error_code(), "server_error", "{err}");
    }
}

/// The bytes as the plaintext of a `direct_post.jwt` response to `session`.
fn sealed(session: &Session, key: &PublicJwk, data: &[u8]) -> Option<String> {
    let plaintext = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(mut payload)) => {
            payload
                .entry("state")
                .or_insert_with(|| json!(session.state));
            Value::Object(payload).to_string().into_bytes()
        }
        _ => data.to_vec(),
    };
    jwe::encrypt_compact(
        &plaintext,
        key,
        KeyManagement::EcdhEs,
        ContentEncryption::A128Gcm,
        &Map::new(),
    )
    .ok()
}

fuzz_target!(|data: &[u8]| {
    let harness = &*HARNESS;
    let (clear, encrypted) = (&harness.clear, &harness.encrypted);
    harness.runtime.block_on(async {
        for session in [clear, encrypted] {
            post_form(&harness.router, &format!("/response/{}", session.id), data).await;
        }
        post_form(&harness.router, &format!("/request/{}", encrypted.id), data).await;

        let verifier = &*harness.verifier;
        let text = String::from_utf8_lossy(data).into_owned();
        let fetch = RequestUriFetch::Post {
            wallet_metadata: Some(text.clone()),
            wallet_nonce: None,
        };
        if let Err(err) = verifier.request_object(&encrypted.id, fetch).await {
            assert_ne!(err.error_code(), "server_error", "{err}");
        }
        let clear_response = WalletResponse::Clear {
            vp_token: text.clone(),
            state: Some(clear.state.clone()),
        };
        answer(verifier, clear, clear_response).await;
        let declined = WalletResponse::Error {
            error: text.clone(),
            error_description: None,
            state: Some(clear.state.clone()),
        };
        answer(verifier, clear, declined).await;
        answer(verifier, encrypted, WalletResponse::Encrypted(text)).await;
        if let Some(key) = &encrypted.encryption_key
            && let Some(jwe) = sealed(encrypted, key, data)
        {
            answer(verifier, encrypted, WalletResponse::Encrypted(jwe)).await;
        }
    });
});
