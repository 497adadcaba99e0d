//! The relying party's web page in headless Chromium (Debian's chromium and chromium-driver,
//! through crates/webdriver): entry link, QR code and wallet link, then the verified claims.
mod common;

use std::time::{Duration, Instant};

use common::{API_TOKEN, Options, World, default_query};
use immerse_webdriver::Session;
use serde_json::{Value, json};

async fn entry_link(world: &World) -> String {
    let response = world
        .http
        .post(format!("{}/v1/pages", world.base))
        .bearer_auth(API_TOKEN)
        .json(&json!({"dcql_query": default_query()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["url"].as_str().unwrap().to_owned()
}

/// The request_uri inside an `openid4vp://` link.
fn request_uri_of(link: &str) -> String {
    let url = reqwest::Url::parse(link).unwrap();
    url.query_pairs()
        .find(|(name, _)| name == "request_uri")
        .map(|(_, value)| value.into_owned())
        .unwrap()
}

/// Polls the page until its text contains `needle` (bounded by `deadline`); returns the text.
async fn wait_for_text(browser: &Session, needle: &str, deadline: Duration) -> String {
    let started = Instant::now();
    loop {
        let text = browser.page_text().await.unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(started.elapsed() < deadline, "{needle:?} not shown: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls a DOM property of the element at `selector` until `accept` takes it.
async fn wait_for_property<T>(
    browser: &Session,
    selector: &str,
    name: &str,
    deadline: Duration,
    accept: impl Fn(&Value) -> Option<T>,
) -> T {
    let started = Instant::now();
    let element = browser.find(selector).await.unwrap();
    loop {
        let value = browser.property(&element, name).await.unwrap();
        if let Some(accepted) = accept(&value) {
            return accepted;
        }
        assert!(started.elapsed() < deadline, "{selector} {name} = {value}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn in_chromium_the_page_shows_a_qr_code_and_link_then_the_verified_claims() {
    let Some(chromium) =
        immerse_webdriver::launch_or_skip("verifier page in headless Chromium").await
    else {
        return;
    };
    let world = World::start(Options::default()).await;
    let browser = chromium.session().await.unwrap();
    let deadline = Duration::from_secs(20);

    // Without an entry link the page says so.
    browser
        .navigate(&format!("{}/rp/", world.base))
        .await
        .unwrap();
    wait_for_text(&browser, "needs the entry link", deadline).await;

    browser.navigate(&entry_link(&world).await).await.unwrap();
    assert_eq!(
        browser.current_url().await.unwrap(),
        format!("{}/rp/", world.base)
    );
    let href = wait_for_property(&browser, "#link", "href", deadline, |href| {
        href.as_str()
            .filter(|href| href.starts_with("openid4vp://"))
            .map(str::to_owned)
    })
    .await;
    // The QR code rendered: the CSP let the SVG data image load.
    let width = wait_for_property(&browser, "#qr", "naturalWidth", deadline, |width| {
        width.as_u64().filter(|width| *width > 0)
    })
    .await;
    assert!(width >= 256, "{width}");
    wait_for_text(&browser, "Waiting for the wallet", deadline).await;

    // A wallet on another device answers.
    let request_uri = request_uri_of(&href);
    let id = request_uri.rsplit('/').next().unwrap();
    let session = world.fetch_session(id, &request_uri).await;
    let sd_jwt = world.issue(&world.credential()).await;
    let vp = world.present(&sd_jwt, &session).await;
    let (status, body) = world.respond(&session, json!({"pid": [vp]})).await;
    assert_eq!(status, 200, "{body}");

    let text = wait_for_text(&browser, "Verified.", deadline).await;
    for expected in ["pid.given_name", "Erika", "pid.address.locality", "Berlin"] {
        assert!(text.contains(expected), "{expected} not in {text}");
    }
    assert!(!text.contains("birthdate"), "not disclosed");
    browser.close().await.unwrap();
}
