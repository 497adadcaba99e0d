//! The consent page in headless Chromium (through crates/webdriver) against the real verifier:
//! the holder sees the verifier's registered name and the claims, leaves an optional claim
//! out and approves, or declines and nothing reaches the verifier. Also the page's guards,
//! over plain HTTP.
mod presentation_support;

use std::sync::Arc;
use std::time::Duration;

use immerse_wallet::http::{ConsentPage, bind_loopback, serve};
use immerse_webdriver::{Session, launch_or_skip};
use presentation_support::{
    Setup, VERIFIER_NAME, default_allowances, query_with_optional_locality,
};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(20);

/// The consent page of `setup`'s wallet, served on a loopback port.
async fn start_page(setup: &Setup) -> Arc<ConsentPage> {
    let listener = bind_loopback("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let page = Arc::new(
        ConsentPage::new(setup.presenter.clone(), listener.local_addr().unwrap()).unwrap(),
    );
    tokio::spawn(serve(listener, page.clone()));
    page
}

/// A verifier request, handed to the wallet through its JSON API as the CLI does.
async fn pending_request(setup: &Setup, page: &ConsentPage) -> (String, Value) {
    let (session, uri) = setup.request(query_with_optional_locality()).await;
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/requests", page.base_url()))
        .bearer_auth(page.secret())
        .json(&json!({"uri": uri}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    (session, response.json().await.unwrap())
}

/// The browser, logged in, looking at the request from the verifier.
async fn open_consent(browser: &Session, page: &ConsentPage) {
    browser.navigate(&page.login_url()).await.unwrap();
    let name = browser
        .wait_for(".request .verifier-name", DEADLINE)
        .await
        .unwrap();
    assert_eq!(browser.text(&name).await.unwrap(), VERIFIER_NAME);
    // The secret left the address bar with the redirect.
    let url = browser.current_url().await.unwrap();
    assert!(!url.contains("secret"), "{url}");
}

async fn checkbox(browser: &Session, key: &str) -> (immerse_webdriver::Element, bool, bool) {
    let element = browser
        .find(&format!("input[name=\"claim:{key}\"]"))
        .await
        .unwrap();
    let checked = browser.property(&element, "checked").await.unwrap() == json!(true);
    let disabled = browser.property(&element, "disabled").await.unwrap() == json!(true);
    (element, checked, disabled)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_holder_leaves_an_optional_claim_out_and_approves() {
    let Some(chromium) = launch_or_skip("consent page approve").await else {
        return;
    };
    let setup = Setup::start(default_allowances(), true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let page = start_page(&setup).await;
    let (session, pending) = pending_request(&setup, &page).await;
    let browser = chromium.session().await.unwrap();
    open_consent(&browser, &page).await;

    let text = browser.page_text().await.unwrap();
    for expected in [
        "Credentials held",
        presentation_support::VCT,
        "Address the parcel",
        "Choose the nearest pick-up point",
        "given_name",
        "Erika",
        "address.locality",
        "Berlin",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not on the page:\n{text}"
        );
    }
    let keys: Vec<&str> = pending["credentials"][0]["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|claim| claim["key"].as_str().unwrap())
        .collect();
    // Required claims: checked, and the holder cannot uncheck them.
    for key in &keys[..2] {
        let (_, checked, disabled) = checkbox(&browser, key).await;
        assert!(checked && disabled, "{key}");
    }
    let (locality, checked, disabled) = checkbox(&browser, keys[2]).await;
    assert!(checked && !disabled);
    browser.click(&locality).await.unwrap();
    assert!(!checkbox(&browser, keys[2]).await.1, "unchecked");
    // The page's script keeps a summary of what will be shared.
    let summary = browser.find(".summary").await.unwrap();
    let summary = browser.text(&summary).await.unwrap();
    assert!(!summary.contains("address.locality"), "{summary}");

    let approve = browser.find("button.approve").await.unwrap();
    browser.click(&approve).await.unwrap();
    let done = match browser.wait_for(".done", DEADLINE).await {
        Ok(done) => done,
        Err(error) => panic!("{error}: {}", browser.page_text().await.unwrap_or_default()),
    };
    assert!(browser.text(&done).await.unwrap().contains(VERIFIER_NAME));

    let result = setup.result(&session).await;
    assert_eq!(result["status"], "verified", "{result}");
    let disclosed = &result["credentials"]["pid"][0];
    assert_eq!(disclosed["given_name"], "Erika");
    assert_eq!(disclosed["family_name"], "Mustermann");
    // The postal code is always disclosed by this issuer; the locality was left out.
    assert!(
        disclosed["address"].get("locality").is_none(),
        "{disclosed}"
    );
    browser.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_holder_declines_and_the_verifier_gets_nothing() {
    let Some(chromium) = launch_or_skip("consent page deny").await else {
        return;
    };
    let setup = Setup::start(default_allowances(), true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let page = start_page(&setup).await;
    let (session, _) = pending_request(&setup, &page).await;
    let browser = chromium.session().await.unwrap();
    open_consent(&browser, &page).await;

    let deny = browser.find("button.deny").await.unwrap();
    browser.click(&deny).await.unwrap();
    let empty = browser
        .wait_for("#requests .empty", DEADLINE)
        .await
        .unwrap();
    assert_eq!(
        browser.text(&empty).await.unwrap(),
        "No request is waiting."
    );
    assert!(setup.presenter.pending().is_empty());
    let result = setup.result(&session).await;
    assert_eq!(result["status"], "pending", "{result}");
    assert!(result.get("credentials").is_none());
    browser.close().await.unwrap();
}

#[tokio::test]
async fn the_page_and_api_refuse_strangers() {
    let setup = Setup::start(default_allowances(), true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let page = start_page(&setup).await;
    let (_, pending) = pending_request(&setup, &page).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = page.base_url();
    let status = |response: reqwest::Response| response.status().as_u16();

    // A non-loopback address is never bound.
    assert!(bind_loopback("0.0.0.0:0".parse().unwrap()).await.is_err());
    // No secret: neither the page nor the API.
    assert_eq!(
        status(http.get(format!("{base}/")).send().await.unwrap()),
        401
    );
    let api = http
        .get(format!("{base}/api/v1/credentials"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    assert_eq!(api.json::<Value>().await.unwrap()["error"], "invalid_token");
    let wrong = http
        .get(format!("{base}/api/v1/credentials"))
        .bearer_auth("not-the-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(status(wrong), 401);
    assert_eq!(
        status(
            http.get(format!("{base}/login?secret=nope"))
                .send()
                .await
                .unwrap()
        ),
        401
    );

    // The login sets a strict, HTTP-only cookie and redirects away from the secret.
    let login = http.get(page.login_url()).send().await.unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();

    let index = http
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 200);
    let csp = index.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(index.headers()["referrer-policy"], "same-origin");
    let html = index.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains("style="), "no inline style");

    // A rebound DNS name reaches the port but names another host.
    let rebound = http
        .get(format!("{base}/"))
        .header("host", "evil.example")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(status(rebound), 421);

    // Form POSTs need the CSRF token, and a same-origin Origin when one is sent.
    let id = pending["id"].as_str().unwrap();
    let deny = format!("{base}/requests/{id}/deny");
    let no_csrf = http
        .post(&deny)
        .header("cookie", &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(status(no_csrf), 403);
    let cross_site = http
        .post(&deny)
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(status(cross_site), 403);
    assert_eq!(setup.presenter.pending().len(), 1, "nothing was denied");

    // The CLI's view through the API.
    let held: Value = http
        .get(format!("{base}/api/v1/credentials"))
        .bearer_auth(page.secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held[0]["id"], "pid-1");
    let refused = http
        .post(format!("{base}/api/v1/requests"))
        .bearer_auth(page.secret())
        .json(&json!({"uri": "openid4vp://?client_id=x&response_type=vp_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "unsigned_request"
    );
}
