//! The authorization code flow (OpenID4VCI 1.0 s5) with PAR (RFC 9126) and PKCE S256
//! (RFC 7636), and each of its refusals with the code its RFC names.
use immerse_issuer::{AUTHORIZATION_CODE_GRANT, CreatedOffer};
use immerse_jose::jwe::{DecryptionKey, Policy};
use immerse_jose::{Curve, SoftwareSigner, base64url};
use serde_json::{Value, json};

use crate::support::*;

const REDIRECT_URI: &str = "https://wallet.test/callback";
/// RFC 7636 app. B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

async fn start_with_redirect() -> Env {
    start(|config| config.redirect_uris.push(REDIRECT_URI.into())).await
}

async fn authorization_offer(env: &Env) -> (CreatedOffer, String) {
    let offer = env
        .offer(json!({
            "credential_configuration_ids": [CONFIGURATION],
            "claims": {"given_name": "Ada", "family_name": "Lovelace"},
            "grant": "authorization_code",
        }))
        .await;
    let grants = offer.credential_offer["grants"].as_object().unwrap();
    // The offer carries only the authorization_code grant: no pre-authorized code leaks.
    assert_eq!(grants.len(), 1);
    let issuer_state = grants[AUTHORIZATION_CODE_GRANT]["issuer_state"]
        .as_str()
        .unwrap()
        .to_owned();
    (offer, issuer_state)
}

/// The parameters of a valid pushed request for `issuer_state`, by authorization_details.
fn par_form(wallet: &Wallet, issuer_state: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", wallet.client_id.clone()),
        ("redirect_uri", REDIRECT_URI.into()),
        ("state", "wallet-state-1".into()),
        ("code_challenge", CHALLENGE.into()),
        ("code_challenge_method", "S256".into()),
        ("issuer_state", issuer_state.into()),
        (
            "authorization_details",
            json!([{"type": "openid_credential", "credential_configuration_id": CONFIGURATION}])
                .to_string(),
        ),
    ]
}

/// Replaces (or, with `None`, removes) one parameter.
fn with(
    mut form: Vec<(&'static str, String)>,
    name: &'static str,
    value: Option<&str>,
) -> Vec<(&'static str, String)> {
    form.retain(|(existing, _)| *existing != name);
    if let Some(value) = value {
        form.push((name, value.to_owned()));
    }
    form
}

async fn push(env: &Env, wallet: &Wallet, form: &[(&'static str, String)]) -> reqwest::Response {
    env.http
        .post(env.url("/par"))
        .form(form)
        .header(
            "OAuth-Client-Attestation",
            env.attestation(wallet, "sev-snp").await,
        )
        .header(
            "OAuth-Client-Attestation-PoP",
            env.pop(wallet, json!({})).await,
        )
        .send()
        .await
        .unwrap()
}

async fn request_uri(env: &Env, wallet: &Wallet, form: &[(&'static str, String)]) -> String {
    let response = push(env, wallet, form).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    uri
}

/// GET /authorize without following the redirect.
async fn authorize(env: &Env, query: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(env.url("/authorize"))
        .query(query)
        .send()
        .await
        .unwrap()
}

/// The query parameters of the redirect to REDIRECT_URI.
fn redirect_params(response: &reqwest::Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    let query = location
        .strip_prefix(&format!("{REDIRECT_URI}?"))
        .unwrap_or_else(|| panic!("redirect to {location}"));
    reqwest::Url::parse(&format!("https://x.test/?{query}"))
        .unwrap()
        .query_pairs()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(existing, _)| existing == name)
        .map(|(_, value)| value.as_str())
}

async fn code(env: &Env, wallet: &Wallet, request_uri: &str) -> String {
    let response = authorize(
        env,
        &[
            ("client_id", &wallet.client_id),
            ("request_uri", request_uri),
        ],
    )
    .await;
    let params = redirect_params(&response);
    assert_eq!(param(&params, "state"), Some("wallet-state-1"));
    // RFC 9207: the issuer identifies itself in the response.
    assert_eq!(param(&params, "iss"), Some(ISSUER));
    param(&params, "code").unwrap().to_owned()
}

async fn redeem(
    env: &Env,
    wallet: &Wallet,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> reqwest::Response {
    let form = [
        ("grant_type", AUTHORIZATION_CODE_GRANT),
        ("code", code),
        ("code_verifier", verifier),
        ("redirect_uri", redirect_uri),
    ];
    env.http
        .post(env.url("/token"))
        .form(&form)
        .header(
            "OAuth-Client-Attestation",
            env.attestation(wallet, "sev-snp").await,
        )
        .header(
            "OAuth-Client-Attestation-PoP",
            env.pop(wallet, json!({})).await,
        )
        .header(
            "DPoP",
            env.dpop(&wallet.dpop, "/token", None, json!({})).await,
        )
        .send()
        .await
        .unwrap()
}

/// Offer -> PAR -> authorization code, for the refusal tests.
async fn issued_code(env: &Env, wallet: &Wallet) -> String {
    let (_, issuer_state) = authorization_offer(env).await;
    let uri = request_uri(env, wallet, &par_form(wallet, &issuer_state)).await;
    code(env, wallet, &uri).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_flow_with_par_and_pkce_issues_an_encrypted_credential() {
    let env = start_with_redirect().await;
    let metadata: Value = env
        .http
        .get(env.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["pushed_authorization_request_endpoint"],
        format!("{ISSUER}/par")
    );
    assert_eq!(
        metadata["authorization_endpoint"],
        format!("{ISSUER}/authorize")
    );
    assert_eq!(metadata["require_pushed_authorization_requests"], true);
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        json!(["S256"])
    );

    let wallet = Wallet::new();
    let (_, issuer_state) = authorization_offer(&env).await;
    let uri = request_uri(&env, &wallet, &par_form(&wallet, &issuer_state)).await;
    let code = code(&env, &wallet, &uri).await;
    let response = redeem(&env, &wallet, &code, VERIFIER, REDIRECT_URI).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    // OpenID4VCI 1.0 s6.2: authorization_details with credential_identifiers.
    let details = &body["authorization_details"][0];
    assert_eq!(details["type"], "openid_credential");
    assert_eq!(details["credential_configuration_id"], CONFIGURATION);
    let identifier = details["credential_identifiers"][0].as_str().unwrap();
    let token = body["access_token"].as_str().unwrap();

    let response_key = DecryptionKey::generate(Curve::P256).unwrap();
    let mut jwk = response_key.public_jwk().to_object();
    jwk.insert("alg".into(), "ECDH-ES".into());
    let holder = SoftwareSigner::generate().unwrap();
    let proof = env
        .key_proof(&holder, &env.c_nonce().await, json!({}))
        .await;
    // s8.2: with identifiers granted, the configuration id is not the way to ask.
    let by_configuration = json!({
        "credential_configuration_id": CONFIGURATION,
        "proofs": {"jwt": [proof]},
        "credential_response_encryption": {"jwk": jwk, "enc": "A128GCM"},
    });
    let response = env
        .credential_request(&wallet, token, &by_configuration)
        .await;
    assert_error(response, 400, "invalid_credential_request").await;
    let unknown = json!({
        "credential_identifier": "not-granted",
        "proofs": {"jwt": [env.key_proof(&holder, &env.c_nonce().await, json!({})).await]},
        "credential_response_encryption": {"jwk": jwk, "enc": "A128GCM"},
    });
    let response = env.credential_request(&wallet, token, &unknown).await;
    assert_error(response, 400, "unknown_credential_identifier").await;

    let request = json!({
        "credential_identifier": identifier,
        "proofs": {"jwt": [env.key_proof(&holder, &env.c_nonce().await, json!({})).await]},
        "credential_response_encryption": {"jwk": jwk, "enc": "A128GCM"},
    });
    let response = env.credential_request(&wallet, token, &request).await;
    assert_eq!(response.status(), 200);
    let jwe = response.text().await.unwrap();
    let plain = response_key.decrypt(&jwe, &Policy::default()).unwrap();
    let credentials: Value = serde_json::from_slice(&plain.plaintext).unwrap();
    assert!(credentials["credentials"][0]["credential"].is_string());

    // The offer is spent: its issuer_state authorizes nothing more.
    let response = push(&env, &wallet, &par_form(&wallet, &issuer_state)).await;
    assert_error(response, 400, "invalid_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_grants_requests_by_credential_configuration_id() {
    let env = start_with_redirect().await;
    let wallet = Wallet::new();
    let (_, issuer_state) = authorization_offer(&env).await;
    let form = with(
        with(
            par_form(&wallet, &issuer_state),
            "authorization_details",
            None,
        ),
        "scope",
        Some("pid"),
    );
    let uri = request_uri(&env, &wallet, &form).await;
    let code = code(&env, &wallet, &uri).await;
    let response = redeem(&env, &wallet, &code, VERIFIER, REDIRECT_URI).await;
    let body = token_response(response).await;
    assert!(body.get("authorization_details").is_none());
    let token = body["access_token"].as_str().unwrap();
    let holder = SoftwareSigner::generate().unwrap();
    let proof = env
        .key_proof(&holder, &env.c_nonce().await, json!({}))
        .await;
    let (request, _) = encrypted_request(CONFIGURATION, &proof);
    let response = env.credential_request(&wallet, token, &request).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_issues_only_the_configurations_its_scope_authorized() {
    // An offer of two configurations; the holder authorizes the scope of one. The token must
    // not reach the other (OpenID4VCI 1.0 s8.3.1.2), and the refusal spends nothing.
    const OTHER: &str = "pid_sd_jwt_copy";
    let env = start(|config| {
        config.redirect_uris.push(REDIRECT_URI.into());
        let mut other = config.configurations[0].clone();
        other.id = OTHER.into();
        other.scope = "pid_copy".into();
        other.vct = format!("{VCT}_copy");
        config.configurations.push(other);
    })
    .await;
    let wallet = Wallet::new();
    let offer = env
        .offer(json!({
            "credential_configuration_ids": [CONFIGURATION, OTHER],
            "claims": {"given_name": "Ada", "family_name": "Lovelace"},
            "grant": "authorization_code",
        }))
        .await;
    let issuer_state = offer.credential_offer["grants"][AUTHORIZATION_CODE_GRANT]["issuer_state"]
        .as_str()
        .unwrap();
    let form = with(
        with(
            par_form(&wallet, issuer_state),
            "authorization_details",
            None,
        ),
        "scope",
        Some("pid"),
    );
    let uri = request_uri(&env, &wallet, &form).await;
    let code = code(&env, &wallet, &uri).await;
    let response = redeem(&env, &wallet, &code, VERIFIER, REDIRECT_URI).await;
    let body = token_response(response).await;
    let token = body["access_token"].as_str().unwrap();
    let holder = SoftwareSigner::generate().unwrap();
    let proof = env
        .key_proof(&holder, &env.c_nonce().await, json!({}))
        .await;
    let request = |configuration: &str| encrypted_request(configuration, &proof).0;
    let response = env
        .credential_request(&wallet, token, &request(OTHER))
        .await;
    let error = assert_error(response, 400, "unknown_credential_configuration").await;
    assert!(
        error["error_description"]
            .as_str()
            .unwrap()
            .contains("not granted by this access token"),
        "{error}"
    );
    // The same proof and nonce still obtain what the scope did authorize.
    let response = env
        .credential_request(&wallet, token, &request(CONFIGURATION))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_code_verifier_is_invalid_grant_and_spends_the_code() {
    let env = start_with_redirect().await;
    let wallet = Wallet::new();
    let code = issued_code(&env, &wallet).await;
    let other_verifier = base64url::encode(random(32));
    let response = redeem(&env, &wallet, &code, &other_verifier, REDIRECT_URI).await;
    assert_error(response, 400, "invalid_grant").await;
    let response = redeem(&env, &wallet, &code, VERIFIER, REDIRECT_URI).await;
    assert_error(response, 400, "invalid_grant").await;
    // RFC 7636 s4.1: a verifier outside the grammar is a malformed request.
    let code = issued_code(&env, &wallet).await;
    let response = redeem(&env, &wallet, &code, "too-short", REDIRECT_URI).await;
    assert_error(response, 400, "invalid_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_authorization_code_is_invalid_grant() {
    let env = start_with_redirect().await;
    let wallet = Wallet::new();
    let code = issued_code(&env, &wallet).await;
    let response = redeem(&env, &wallet, &code, VERIFIER, REDIRECT_URI).await;
    assert_eq!(response.status(), 200);
    let response = redeem(&env, &wallet, &code, VERIFIER, REDIRECT_URI).await;
    assert_error(response, 400, "invalid_grant").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_redeemed_by_another_client_or_redirect_uri_is_invalid_grant() {
    let env = start_with_redirect().await;
    let wallet = Wallet::new();
    let code = issued_code(&env, &wallet).await;
    let response = redeem(&env, &wallet, &code, VERIFIER, "https://wallet.test/other").await;
    assert_error(response, 400, "invalid_grant").await;

    let code = issued_code(&env, &wallet).await;
    let mut thief = Wallet::new();
    thief.client_id = "another-client".into();
    let response = redeem(&env, &thief, &code, VERIFIER, REDIRECT_URI).await;
    assert_error(response, 400, "invalid_grant").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_uri_is_single_use_and_bound_to_its_client() {
    let env = start_with_redirect().await;
    let wallet = Wallet::new();
    let (_, issuer_state) = authorization_offer(&env).await;
    let uri = request_uri(&env, &wallet, &par_form(&wallet, &issuer_state)).await;
    // RFC 9126 s4: the client_id is required beside the request_uri, and another one is
    // refused (neither spends the request_uri).
    let response = authorize(&env, &[("request_uri", &uri)]).await;
    assert_error(response, 400, "invalid_request").await;
    let response = authorize(
        &env,
        &[("client_id", "another-client"), ("request_uri", &uri)],
    )
    .await;
    assert_error(response, 400, "invalid_request_uri").await;
    code(&env, &wallet, &uri).await;
    let response = authorize(
        &env,
        &[("client_id", &wallet.client_id), ("request_uri", &uri)],
    )
    .await;
    assert_error(response, 400, "invalid_request_uri").await;
    let response = authorize(
        &env,
        &[
            ("client_id", &wallet.client_id),
            ("request_uri", "urn:ietf:params:oauth:request_uri:made-up"),
        ],
    )
    .await;
    assert_error(response, 400, "invalid_request_uri").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_request_without_par_is_refused() {
    let env = start_with_redirect().await;
    let wallet = Wallet::new();
    let (_, issuer_state) = authorization_offer(&env).await;
    // RFC 9126 s5: require_pushed_authorization_requests; the parameters themselves are not
    // an authorization request, and the error is not redirected.
    let response = authorize(
        &env,
        &[
            ("response_type", "code"),
            ("client_id", &wallet.client_id),
            ("redirect_uri", REDIRECT_URI),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("issuer_state", &issuer_state),
            ("scope", "pid"),
        ],
    )
    .await;
    let body = assert_error(response, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("pushed")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_requests_that_break_a_rule_are_refused_with_the_rfc_error() {
    let env = start_with_redirect().await;
    let wallet = Wallet::new();
    let (_, issuer_state) = authorization_offer(&env).await;
    let valid = par_form(&wallet, &issuer_state);
    let cases: Vec<(Vec<(&'static str, String)>, &str)> =
        vec![
        // RFC 7636 s4.4.1, HAIP: plain PKCE, or none.
        (
            with(valid.clone(), "code_challenge_method", Some("plain")),
            "invalid_request",
        ),
        (
            with(valid.clone(), "code_challenge_method", None),
            "invalid_request",
        ),
        (
            with(valid.clone(), "code_challenge", None),
            "invalid_request",
        ),
        (
            with(valid.clone(), "code_challenge", Some("short")),
            "invalid_request",
        ),
        // RFC 6749 s3.1.2.2 / RFC 9700 s2.1: only a registered redirect_uri, exactly.
        (
            with(
                valid.clone(),
                "redirect_uri",
                Some("https://evil.test/callback"),
            ),
            "invalid_request",
        ),
        (
            with(
                valid.clone(),
                "redirect_uri",
                Some("https://wallet.test/callback/"),
            ),
            "invalid_request",
        ),
        (with(valid.clone(), "redirect_uri", None), "invalid_request"),
        // RFC 9126 s2.1: the client identifies itself.
        (with(valid.clone(), "client_id", None), "invalid_request"),
        (with(valid.clone(), "client_id", Some("")), "invalid_request"),
        // RFC 9126 s2.1: no request_uri inside a pushed request.
        (
            with(
                valid.clone(),
                "request_uri",
                Some("urn:ietf:params:oauth:request_uri:x"),
            ),
            "invalid_request",
        ),
        (
            with(valid.clone(), "response_type", Some("token")),
            "unsupported_response_type",
        ),
        // OpenID4VCI 1.0 s5.1.3: the subject is recognised by the offer's issuer_state only.
        (with(valid.clone(), "issuer_state", None), "invalid_request"),
        (
            with(valid.clone(), "issuer_state", Some("guessed")),
            "invalid_request",
        ),
        // RFC 9396 s5, OpenID4VCI 1.0 s5.1.1.
        (
            with(
                valid.clone(),
                "authorization_details",
                Some(
                    &json!([{"type": "payment", "credential_configuration_id": CONFIGURATION}])
                        .to_string(),
                ),
            ),
            "invalid_authorization_details",
        ),
        (
            with(
                valid.clone(),
                "authorization_details",
                Some(
                    &json!([{"type": "openid_credential", "credential_configuration_id": "other"}])
                        .to_string(),
                ),
            ),
            "invalid_authorization_details",
        ),
        (
            with(valid.clone(), "authorization_details", Some("{")),
            "invalid_authorization_details",
        ),
        (
            with(
                with(valid.clone(), "authorization_details", None),
                "scope",
                Some("unknown"),
            ),
            "invalid_scope",
        ),
        (
            with(valid.clone(), "authorization_details", None),
            "invalid_request",
        ),
        // RFC 6749 s3.1: a repeated parameter.
        (
            {
                let mut repeated = valid.clone();
                repeated.push(("state", "again".into()));
                repeated
            },
            "invalid_request",
        ),
    ];
    for (form, error) in cases {
        let response = push(&env, &wallet, &form).await;
        assert_error(response, 400, error).await;
    }
    // The PAR endpoint authenticates the client as the token endpoint does.
    let response = env
        .http
        .post(env.url("/par"))
        .form(&valid)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "invalid_client").await;
    // Nothing refused spent the offer: the valid request still works.
    request_uri(&env, &wallet, &valid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_offer_between_par_and_authorization_redirects_access_denied() {
    let env = start_with_redirect().await;
    let wallet = Wallet::new();
    let (offer, issuer_state) = authorization_offer(&env).await;
    let uri = request_uri(&env, &wallet, &par_form(&wallet, &issuer_state)).await;
    let response = env
        .http
        .post(env.url(&format!("/admin/offers/{}/status", offer.offer_id)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"status": "revoked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = authorize(
        &env,
        &[("client_id", &wallet.client_id), ("request_uri", &uri)],
    )
    .await;
    let params = redirect_params(&response);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some("wallet-state-1"));
    assert!(param(&params, "code").is_none());
}
