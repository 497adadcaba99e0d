//! The HTTP edge speaks OAuth errors: status, `error` code and description, no-store.
mod common;

use common::*;
use immerse_registry::auth::{Scope, create_admin_token};
use serde_json::{Value, json};

async fn serve(registry: immerse_registry::Registry) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        async move { axum::serve(listener, immerse_registry::http::router(registry)).await },
    );
    format!("http://{address}")
}

async fn post(url: String, token: Option<&str>, body: Value) -> (u16, Value, Option<String>) {
    let mut request = reqwest::Client::new().post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap(), cache)
}

#[tokio::test]
async fn refusals_are_oauth_errors_and_auth_comes_before_the_body() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    let admin = create_admin_token(registry.store(), &[Scope::Admin], "test", None, clock.now())
        .await
        .unwrap();
    let auditor = create_admin_token(
        registry.store(),
        &[Scope::Audit],
        "audit",
        None,
        clock.now(),
    )
    .await
    .unwrap();
    let base = serve(registry.clone()).await;
    let entity = json!({"id": "https://issuer.test", "role": "issuer", "display_name": "Issuer"});

    let (status, body, _) = post(
        format!("{base}/admin/v1/entities"),
        None,
        json!({"garbage": true}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let (status, body, _) = post(
        format!("{base}/admin/v1/entities"),
        Some("imr_wrong"),
        entity.clone(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let (status, body, _) = post(
        format!("{base}/admin/v1/entities"),
        Some(&auditor),
        entity.clone(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_scope"))
    );
    let (status, body, _) = post(
        format!("{base}/admin/v1/entities"),
        Some(&admin),
        json!({"id": 1}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    let (status, body, cache) = post(
        format!("{base}/admin/v1/entities"),
        Some(&admin),
        entity.clone(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        cache.as_deref(),
        Some("no-store"),
        "the enrolment secret must not be cached"
    );
    let (status, body, _) = post(format!("{base}/admin/v1/entities"), Some(&admin), entity).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")));

    let key = immerse_jose::SoftwareSigner::generate().unwrap();
    let submission = json!({"proof": proof(&key, "https://issuer.test", "j", clock.now()).await, "enrolment_secret": "ime_wrong"});
    let (status, body, cache) = post(
        format!("{base}/v1/entities/https%3A%2F%2Fissuer.test/keys"),
        None,
        submission,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("unknown")
    );
    assert_eq!(cache.as_deref(), Some("no-store"));

    let status = reqwest::get(format!("{base}/v1/entities/https%3A%2F%2Fnobody.test/jwks"))
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 404);
}

#[tokio::test]
async fn published_documents_carry_etags_and_answer_304() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    enrol(&registry, "https://issuer.test").await;
    let base = serve(registry).await;
    let url = format!("{base}/v1/entities/https%3A%2F%2Fissuer.test/statement");
    let first = reqwest::get(&url).await.unwrap();
    assert_eq!(first.headers()["cache-control"], "public, max-age=60");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = reqwest::Client::new()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 304);
}

#[tokio::test]
async fn self_service_retirement_speaks_oauth_errors() {
    let clock = TestClock::new();
    let registry = registry(&clock).await;
    let entity = "https://issuer.test";
    let enrolment = enrol(&registry, entity).await;
    let key = immerse_jose::SoftwareSigner::generate().unwrap();
    registry
        .submit_key(
            entity,
            first_key(
                proof(&key, entity, "jti-1", clock.now()).await,
                &enrolment.enrolment_secret,
            ),
        )
        .await
        .unwrap();
    let kid = public(&key).thumbprint_b64();
    let base = serve(registry.clone()).await;
    let url = format!("{base}/v1/entities/https%3A%2F%2Fissuer.test/keys/{kid}/retire");

    let (status, body, _) = post(url.clone(), None, json!({"proof": "a.b.c", "extra": 1})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let stranger = immerse_jose::SoftwareSigner::generate().unwrap();
    let forged = retirement(&stranger, entity, &kid, "r-1", clock.now()).await;
    let (status, body, _) = post(url.clone(), None, json!({ "proof": forged })).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_proof"))
    );

    let request = retirement(&key, entity, &kid, "r-2", clock.now()).await;
    let (status, body, _) = post(url, None, json!({ "proof": request })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "retired");
}
