//! The HTTP edge speaks OAuth errors: status, `error` code and description, no-store. Every
//! refusal of a malformed or unauthenticated request is typed, stores nothing, and is audited
//! only as a count under `anonymous` with the peer address.
mod common;

use common::*;
use immerse_registry::auth::{Scope, create_admin_token};
use immerse_registry::http::MAX_BODY_BYTES;
use immerse_registry::{ANONYMOUS, MAX_AUDIT_DETAIL, Peer, Registry};
use immerse_store::AuditRow;
use serde_json::{Value, json};

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
    let base = serve_with_peers(registry.clone()).await;
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
    let base = serve_with_peers(registry).await;
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
            Peer::UNKNOWN,
            entity,
            first_key(
                proof(&key, entity, "jti-1", clock.now()).await,
                &enrolment.enrolment_secret,
            ),
        )
        .await
        .unwrap();
    let kid = public(&key).thumbprint_b64();
    let base = serve_with_peers(registry.clone()).await;
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

const ISSUER: &str = "https://issuer.test";
const ISSUER_SEGMENT: &str = "https%3A%2F%2Fissuer.test";

/// One client for all requests, since building one loads the TLS roots, which is slow. It keeps
/// no idle connections: each test has its own runtime, and a pooled connection would outlive it.
static CLIENT: std::sync::LazyLock<reqwest::Client> = std::sync::LazyLock::new(|| {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
});

/// Sends a request with a raw body; returns the status and the JSON answer, which every
/// refusal must be (a typed `{"error", "error_description"}`, never axum's plain text).
async fn send(
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = CLIENT
        .request(method, url)
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("HTTP {status} answered {text:?}, not JSON: {err}"));
    (status, body)
}

fn error_of(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"].as_str().unwrap_or("<none>"))
}

async fn audit_trail(registry: &Registry) -> Vec<AuditRow> {
    registry.audit_records(1000).await.unwrap()
}

/// A registry with an admin token and `ISSUER` holding one signing key added by the admin.
async fn with_issuer(clock: &TestClock) -> (Registry, String, immerse_jose::SoftwareSigner) {
    let registry = registry(clock).await;
    let admin = create_admin_token(registry.store(), &[Scope::Admin], "test", None, clock.now())
        .await
        .unwrap();
    enrol(&registry, ISSUER).await;
    let key = immerse_jose::SoftwareSigner::generate().unwrap();
    add_signing_key(&registry, &key).await;
    (registry, admin, key)
}

async fn add_signing_key(registry: &Registry, key: &immerse_jose::SoftwareSigner) {
    let request =
        serde_json::from_value(json!({"jwk": public(key).to_object(), "alg": "ES256"})).unwrap();
    registry
        .add_key("admin:test", ISSUER, request)
        .await
        .unwrap();
}

/// Every route that names an entity, with `{id}` and `{kid}` to fill in.
const ENTITY_ROUTES: [(&str, &str); 11] = [
    ("GET", "/v1/entities/{id}/jwks"),
    ("GET", "/v1/entities/{id}/statement"),
    ("GET", "/v1/entities/{id}/historical-keys"),
    ("POST", "/v1/entities/{id}/keys"),
    ("POST", "/v1/entities/{id}/keys/{kid}/retire"),
    ("POST", "/admin/v1/entities/{id}/enrolment-secret"),
    ("POST", "/admin/v1/entities/{id}/suspend"),
    ("POST", "/admin/v1/entities/{id}/reactivate"),
    ("POST", "/admin/v1/entities/{id}/keys"),
    ("POST", "/admin/v1/entities/{id}/keys/{kid}/retire"),
    ("POST", "/admin/v1/entities/{id}/keys/{kid}/revoke"),
];

fn route(template: &str, id: &str, kid: &str) -> String {
    template.replace("{id}", id).replace("{kid}", kid)
}

#[tokio::test]
async fn malformed_entity_ids_are_refused_on_every_route_before_anything_else() {
    let clock = TestClock::new();
    let (registry, _, key) = with_issuer(&clock).await;
    let kid = public(&key).thumbprint_b64();
    let base = serve_with_peers(registry.clone()).await;
    let log_before = registry.verify_integrity().await.unwrap().tree_size;
    let trail_before = audit_trail(&registry).await.len();
    // Percent-encoded path segments, each refused by the validator `create_entity` uses.
    let long = format!("https%3A%2F%2F{}.test", "a".repeat(300));
    let huge = format!("https%3A%2F%2F{}.test", "a".repeat(16 * 1024));
    let ids = [
        ("http%3A%2F%2Fissuer.test", "entity id"),
        ("https%3A%2F%2F", "entity id"),
        ("https%3A%2F%2F%2Fissuer.test", "entity id"),
        ("https%3A%2F%2Fissuer.test%3Fq%3D1", "entity id"),
        ("https%3A%2F%2Fissuer.test%23top", "entity id"),
        ("https%3A%2F%2Fissuer.test%20x", "entity id"),
        ("https%3A%2F%2F%C3%A9.test", "entity id"),
        (long.as_str(), "entity id"),
        (huge.as_str(), "entity id"),
        ("https%3A%2F%2F%FF.test", "path"),
    ];
    let mut counted = 0;
    for (id, complaint) in ids {
        for (method, template) in ENTITY_ROUTES {
            // No admin token: the id is judged first, so the answer is 400 and not 401.
            let url = format!("{base}{}", route(template, id, &kid));
            let answer = send(method.parse().unwrap(), &url, None, b"{}".to_vec()).await;
            assert_eq!(
                error_of(&answer),
                (400, "invalid_request"),
                "{method} {template} {id:.40}"
            );
            let description = answer.1["error_description"].as_str().unwrap();
            assert!(description.contains(complaint), "{description}");
            assert!(
                description.len() < 400,
                "the answer repeats at most a bounded excerpt"
            );
            counted += 1;
        }
    }
    assert_eq!(
        registry.verify_integrity().await.unwrap().tree_size,
        log_before
    );
    assert_eq!(
        audit_trail(&registry).await.len(),
        trail_before,
        "no row per refusal"
    );
    assert_eq!(
        registry.flush_refusals().await.unwrap(),
        1,
        "one counter: one peer, one reason"
    );
    let row = &audit_trail(&registry).await[0];
    assert_eq!(
        (
            row.actor.as_str(),
            row.action.as_str(),
            row.error_code.as_deref()
        ),
        (ANONYMOUS, "request.path", Some("invalid_request"))
    );
    assert!(
        row.detail.starts_with(&format!(
            "peer 127.0.0.1: {counted} unauthenticated refusal"
        )),
        "{}",
        row.detail
    );
    assert!(row.detail.len() <= MAX_AUDIT_DETAIL);
}

#[tokio::test]
async fn malformed_kids_are_refused_before_the_token_and_the_body() {
    let clock = TestClock::new();
    let (registry, admin, _) = with_issuer(&clock).await;
    let base = serve_with_peers(registry.clone()).await;
    let log_before = registry.verify_integrity().await.unwrap().tree_size;
    let too_long = "A".repeat(129);
    let kids = [
        too_long.as_str(),
        "abc.def",
        "abc%20def",
        "abc%2Fdef",
        "%C3%A9",
    ];
    for kid in kids {
        for (method, template) in ENTITY_ROUTES.iter().filter(|(_, t)| t.contains("{kid}")) {
            for token in [None, Some(admin.as_str())] {
                let url = format!("{base}{}", route(template, ISSUER_SEGMENT, kid));
                let answer = send(method.parse().unwrap(), &url, token, b"{".to_vec()).await;
                assert_eq!(
                    error_of(&answer),
                    (400, "invalid_request"),
                    "{template} {kid:.20}"
                );
                assert!(
                    answer.1["error_description"]
                        .as_str()
                        .unwrap()
                        .contains("kid")
                );
            }
        }
    }
    assert_eq!(
        registry.verify_integrity().await.unwrap().tree_size,
        log_before
    );
    assert!(
        registry
            .keys(ISSUER)
            .await
            .unwrap()
            .iter()
            .all(|key| key.status == immerse_registry::model::KeyStatus::Active)
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_a_typed_413() {
    let clock = TestClock::new();
    let (registry, admin, key) = with_issuer(&clock).await;
    let kid = public(&key).thumbprint_b64();
    let base = serve_with_peers(registry.clone()).await;
    let log_before = registry.verify_integrity().await.unwrap().tree_size;
    let trail_before = audit_trail(&registry).await.len();
    let oversized = format!(r#"{{"proof":"{}"}}"#, "a".repeat(MAX_BODY_BYTES)).into_bytes();
    let cases = [
        (format!("/v1/entities/{ISSUER_SEGMENT}/keys"), None, 413),
        (
            format!("/v1/entities/{ISSUER_SEGMENT}/keys/{kid}/retire"),
            None,
            413,
        ),
        (
            format!("/admin/v1/entities/{ISSUER_SEGMENT}/keys"),
            Some(admin.as_str()),
            413,
        ),
        // Without a token the body is never read: the answer is about the token.
        (
            format!("/admin/v1/entities/{ISSUER_SEGMENT}/keys"),
            None,
            401,
        ),
        ("/admin/v1/entities".to_owned(), None, 401),
    ];
    for (path, token, status) in cases {
        let answer = send(
            reqwest::Method::POST,
            &format!("{base}{path}"),
            token,
            oversized.clone(),
        )
        .await;
        let code = if status == 401 {
            "invalid_token"
        } else {
            "invalid_request"
        };
        assert_eq!(error_of(&answer), (status, code), "{path}");
        if status == 413 {
            let description = answer.1["error_description"].as_str().unwrap();
            assert!(
                description.contains(&MAX_BODY_BYTES.to_string()),
                "{description}"
            );
        }
    }
    // Just under the limit the body is read, and refused for what it says.
    let padding = MAX_BODY_BYTES - r#"{"proof":""}"#.len();
    let fits = format!(r#"{{"proof":"{}"}}"#, "a".repeat(padding)).into_bytes();
    let answer = send(
        reqwest::Method::POST,
        &format!("{base}/v1/entities/{ISSUER_SEGMENT}/keys"),
        None,
        fits,
    )
    .await;
    assert_eq!(error_of(&answer), (400, "invalid_proof"));

    assert_eq!(
        registry.verify_integrity().await.unwrap().tree_size,
        log_before
    );
    assert_eq!(registry.keys(ISSUER).await.unwrap().len(), 1);
    assert_eq!(
        audit_trail(&registry).await.len(),
        trail_before,
        "no row per refusal"
    );
    registry.flush_refusals().await.unwrap();
    let rows = audit_trail(&registry).await;
    let counted: Vec<_> = rows[..rows.len() - trail_before]
        .iter()
        .map(|row| {
            (
                row.actor.as_str(),
                row.action.as_str(),
                row.error_code.as_deref(),
            )
        })
        .collect();
    // The operator's oversized body is answered but not counted as anonymous.
    assert_eq!(counted.len(), 3, "{counted:?}");
    for expected in [
        (ANONYMOUS, "request.body", Some("invalid_request")),
        (ANONYMOUS, "admin.authenticate", Some("invalid_token")),
        (ANONYMOUS, "key.submit", Some("invalid_proof")),
    ] {
        assert!(counted.contains(&expected), "{expected:?} in {counted:?}");
    }
    let body_row = rows
        .iter()
        .find(|row| row.action == "request.body")
        .unwrap();
    assert!(
        body_row
            .detail
            .starts_with("peer 127.0.0.1: 2 unauthenticated"),
        "{}",
        body_row.detail
    );
}

#[tokio::test]
async fn unauthenticated_refusals_are_counted_under_the_peer_never_the_name_the_caller_chose() {
    let clock = TestClock::new();
    let (registry, _, key) = with_issuer(&clock).await;
    let kid = public(&key).thumbprint_b64();
    let base = serve_with_peers(registry.clone()).await;
    let log_before = registry.verify_integrity().await.unwrap().tree_size;
    let trail_before = audit_trail(&registry).await.len();
    let stranger = immerse_jose::SoftwareSigner::generate().unwrap();
    let good = proof(&stranger, ISSUER, "p-1", clock.now()).await;
    let (head, rest) = good.split_once('.').unwrap();
    let tampered = format!(
        "{head}.{}.{}",
        immerse_jose::base64url::encode("{}"),
        rest.split_once('.').unwrap().1
    );
    let victim = "https%3A%2F%2Fvictim.test";
    let refusals = [
        // A proof whose signature does not verify.
        (
            format!("/v1/entities/{ISSUER_SEGMENT}/keys"),
            json!({"proof": tampered, "enrolment_secret": "ime_x"}),
            (400, "invalid_proof"),
        ),
        // A self-signed proof for an entity that does not exist.
        (
            format!("/v1/entities/{victim}/keys"),
            json!({"proof": proof(&stranger, "https://victim.test", "p-2", clock.now()).await, "enrolment_secret": "ime_x"}),
            (404, "not_found"),
        ),
        // A guessed enrolment secret.
        (
            format!("/v1/entities/{ISSUER_SEGMENT}/keys"),
            json!({"proof": good, "enrolment_secret": "ime_guess"}),
            (400, "invalid_grant"),
        ),
        // A retirement signed by a key the entity does not have.
        (
            format!("/v1/entities/{ISSUER_SEGMENT}/keys/{kid}/retire"),
            json!({"proof": retirement(&stranger, ISSUER, &kid, "r-1", clock.now()).await}),
            (400, "invalid_proof"),
        ),
        // A made-up admin token.
        (
            "/admin/v1/entities/https%3A%2F%2Fvictim.test/suspend".to_owned(),
            json!({}),
            (401, "invalid_token"),
        ),
    ];
    for round in 1..=3 {
        for (path, body, expected) in &refusals {
            let token = path.starts_with("/admin/").then_some("imr_made_up");
            let answer = send(
                reqwest::Method::POST,
                &format!("{base}{path}"),
                token,
                body.to_string().into_bytes(),
            )
            .await;
            assert_eq!(error_of(&answer), *expected, "{path} round {round}");
        }
    }
    assert_eq!(
        registry.verify_integrity().await.unwrap().tree_size,
        log_before
    );
    assert_eq!(registry.keys(ISSUER).await.unwrap().len(), 1);
    assert_eq!(
        audit_trail(&registry).await.len(),
        trail_before,
        "no row per refusal"
    );

    // The window closes on the next refusal after it: its counts are written without a flush.
    clock.advance(immerse_registry::REFUSAL_WINDOW_SECONDS);
    let (path, body, expected) = &refusals[0];
    let answer = send(
        reqwest::Method::POST,
        &format!("{base}{path}"),
        None,
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(error_of(&answer), *expected);
    let rows = audit_trail(&registry).await;
    let written = &rows[..rows.len() - trail_before];
    assert_eq!(
        written.len(),
        5,
        "one row per (action, reason, peer): {written:#?}"
    );
    for row in written {
        assert_eq!(row.actor, ANONYMOUS);
        assert_eq!((row.entity_id.as_deref(), row.kid.as_deref()), (None, None));
        assert!(
            row.detail
                .starts_with("peer 127.0.0.1: 3 unauthenticated refusal(s)"),
            "{}",
            row.detail
        );
        assert!(row.detail.len() <= MAX_AUDIT_DETAIL);
    }
    let mut actions: Vec<_> = written
        .iter()
        .map(|row| (row.action.as_str(), row.error_code.as_deref().unwrap()))
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            ("admin.authenticate", "invalid_token"),
            ("key.retire", "invalid_proof"),
            ("key.submit", "invalid_grant"),
            ("key.submit", "invalid_proof"),
            ("key.submit", "not_found"),
        ]
    );
    // No row is under a name the caller chose: not the entity it named, not the victim.
    assert!(
        rows.iter()
            .all(|row| !row.actor.contains("victim") && row.actor != ISSUER)
    );
    assert_eq!(
        registry.flush_refusals().await.unwrap(),
        1,
        "the new window holds the last one"
    );
}

#[tokio::test]
async fn authenticated_refusals_are_audited_one_row_each_under_the_principal() {
    let clock = TestClock::new();
    let (registry, admin, key) = with_issuer(&clock).await;
    let second = immerse_jose::SoftwareSigner::generate().unwrap();
    add_signing_key(&registry, &second).await;
    let second_kid = public(&second).thumbprint_b64();
    let base = serve_with_peers(registry.clone()).await;
    let url = format!("{base}/v1/entities/{ISSUER_SEGMENT}/keys/{second_kid}/retire");

    let request = retirement(&key, ISSUER, &second_kid, "r-1", clock.now()).await;
    let answer = send(
        reqwest::Method::POST,
        &url,
        None,
        json!({"proof": request}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    // A verified, fresh request for a key already retired: the entity's own refusal.
    let again = retirement(&key, ISSUER, &second_kid, "r-2", clock.now()).await;
    let answer = send(
        reqwest::Method::POST,
        &url,
        None,
        json!({"proof": again}).to_string().into_bytes(),
    )
    .await;
    assert_eq!(error_of(&answer), (409, "conflict"));
    let row = &audit_trail(&registry).await[0];
    assert_eq!(
        (
            row.actor.as_str(),
            row.action.as_str(),
            row.entity_id.as_deref(),
            row.kid.as_deref()
        ),
        (
            ISSUER,
            "key.retire",
            Some(ISSUER),
            Some(second_kid.as_str())
        )
    );
    assert_eq!(
        (row.outcome.as_str(), row.error_code.as_deref()),
        ("refused", Some("conflict"))
    );

    // An operator's refusal is its own row too, its detail cut to the stated bound.
    let long_kty = "K".repeat(4 * MAX_AUDIT_DETAIL);
    let answer = send(
        reqwest::Method::POST,
        &format!("{base}/admin/v1/entities/{ISSUER_SEGMENT}/keys"),
        Some(&admin),
        json!({"jwk": {"kty": long_kty}, "alg": "ES256"})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(error_of(&answer), (400, "invalid_key"));
    let row = &audit_trail(&registry).await[0];
    assert_eq!(
        (row.actor.as_str(), row.action.as_str()),
        ("admin:test", "key.add")
    );
    assert!(
        row.detail.len() <= MAX_AUDIT_DETAIL,
        "{} bytes",
        row.detail.len()
    );
    assert!(row.detail.ends_with("..."), "{}", row.detail);
    assert_eq!(
        registry.flush_refusals().await.unwrap(),
        0,
        "nothing was anonymous"
    );
}

#[tokio::test]
async fn in_process_callers_are_counted_as_an_unknown_peer() {
    let clock = TestClock::new();
    let (registry, _, _) = with_issuer(&clock).await;
    let stranger = immerse_jose::SoftwareSigner::generate().unwrap();
    let forged = retirement(&stranger, ISSUER, "kid", "r-1", clock.now()).await;
    assert!(
        registry
            .retire_own_key(Peer::UNKNOWN, ISSUER, "kid", &forged)
            .await
            .is_err()
    );
    assert!(
        registry
            .retire_own_key(Peer::UNKNOWN, "not-an-url", "kid", &forged)
            .await
            .is_err()
    );
    registry.flush_refusals().await.unwrap();
    let rows = audit_trail(&registry).await;
    assert!(
        rows[..2]
            .iter()
            .all(|row| row.actor == ANONYMOUS && row.detail.starts_with("peer unknown: 1 ")),
        "{rows:#?}"
    );
}
