//! The relying party's web page: entry by a one-time link that the relying party's backend gets
//! with its API token, a page-session cookie the page's API takes (never the token), a strict
//! Content-Security-Policy. The flow in headless Chromium is in `page_browser.rs`.
mod common;

use base64::Engine;
use common::{API_TOKEN, Options, World, default_query};
use immerse_verifier::PAGE_COOKIE;
use serde_json::{Value, json};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `POST /v1/pages` with the API token; returns the status and body.
async fn create_page(world: &World, token: &str, template: Value) -> (u16, Value) {
    let response = world
        .http
        .post(format!("{}/v1/pages", world.base))
        .bearer_auth(token)
        .json(&template)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn entry_link(world: &World) -> String {
    let (status, body) =
        create_page(world, API_TOKEN, json!({"dcql_query": default_query()})).await;
    assert_eq!(status, 200, "{body}");
    body["url"].as_str().unwrap().to_owned()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Opens the entry link; returns the page-session cookie pair (`name=value`).
async fn enter(world: &World) -> String {
    let response = no_redirects()
        .get(entry_link(world).await)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/rp/");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn page_links_are_only_for_the_relying_party_and_valid_templates() {
    let world = World::start(Options::default()).await;
    let (status, body) = create_page(&world, "wrong", json!({"dcql_query": default_query()})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    for template in [
        json!({"dcql_query": {"credentials": []}}),
        json!({"dcql_query": default_query(), "same_device": true}),
        json!({"dcql_query": default_query(),
            "transaction_data": [{"type": "payment", "credential_ids": ["other"]}]}),
    ] {
        let (status, body) = create_page(&world, API_TOKEN, template.clone()).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{template}"
        );
    }
}

#[tokio::test]
async fn an_entry_link_opens_one_page_session_once() {
    let world = World::start(Options::default()).await;
    let link = entry_link(&world).await;
    assert!(
        link.starts_with(&format!("{}/rp/enter?code=", world.base)),
        "{link}"
    );
    let response = no_redirects().get(&link).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with(&format!("{PAGE_COOKIE}=")), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/rp"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains(API_TOKEN),
        "the API token never reaches the browser"
    );
    assert_eq!(response.headers()["referrer-policy"], "no-referrer");
    // Single use: the same link again opens nothing.
    let again = no_redirects().get(&link).send().await.unwrap();
    assert_eq!(again.status(), 401);
    assert!(again.headers().get("set-cookie").is_none());
    let forged = no_redirects()
        .get(format!("{}/rp/enter?code=guessed", world.base))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn the_page_is_served_under_a_strict_csp_without_inline_script_or_style() {
    let world = World::start(Options::default()).await;
    let response = world
        .http
        .get(format!("{}/rp/", world.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-security-policy"], CSP);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let html = response.text().await.unwrap();
    // Every script is loaded from the page's origin; no inline script, handler or style.
    assert_eq!(html.matches("<script").count(), 1);
    assert!(html.contains("<script src=\"app.js\" defer></script>"));
    let lower = html.to_ascii_lowercase();
    assert!(
        !lower
            .split_whitespace()
            .any(|word| word.starts_with("on") && word.contains('=')),
        "inline event handler"
    );
    for inline in ["style=", "<style", "javascript:"] {
        assert!(!lower.contains(inline), "inline {inline:?}");
    }
    for (path, content_type) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
    ] {
        let asset = world
            .http
            .get(format!("{}/rp/{path}", world.base))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.headers()["content-type"], content_type);
        assert_eq!(asset.headers()["content-security-policy"], CSP);
    }
}

#[tokio::test]
async fn the_page_api_takes_the_page_cookie_and_never_the_api_token() {
    let world = World::start(Options::default()).await;
    let url = format!("{}/rp/api/requests", world.base);
    let bare = world.http.post(&url).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    let with_token = world
        .http
        .post(&url)
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 401);
    let forged = world
        .http
        .post(&url)
        .header("cookie", format!("{PAGE_COOKIE}=forged"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn the_page_api_creates_a_request_with_a_qr_code_and_reads_its_verified_result() {
    let world = World::start(Options::default()).await;
    let cookie = enter(&world).await;
    let created: Value = world
        .http
        .post(format!("{}/rp/api/requests", world.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let link = created["authorization_request"].as_str().unwrap();
    assert!(
        link.starts_with("openid4vp://authorize?client_id=x509_hash%3A"),
        "{link}"
    );
    let svg = created["qr_svg_data_url"]
        .as_str()
        .unwrap()
        .strip_prefix("data:image/svg+xml;base64,")
        .unwrap();
    let svg = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(svg)
            .unwrap(),
    )
    .unwrap();
    assert!(svg.contains("<svg") && !svg.contains("<script"), "{svg}");

    let read = || async {
        world
            .http
            .get(format!("{}/rp/api/requests/{id}", world.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert_eq!(read().await["status"], "pending");
    let session = world
        .fetch_session(id, &format!("{}/request/{id}", world.base))
        .await;
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world.present(&sd_jwt, &session).await;
    let (status, body) = world.respond(&session, json!({"pid": [vp]})).await;
    assert_eq!(status, 200, "{body}");
    let result = read().await;
    assert_eq!(result["status"], "verified", "{result}");
    assert_eq!(result["credentials"]["pid"][0]["given_name"], "Erika");
}
