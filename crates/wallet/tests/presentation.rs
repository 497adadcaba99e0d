//! The wallet's presentation side against the real verifier on 127.0.0.1: what it discloses
//! when the holder approves, and every request it refuses, with the verifier's result showing
//! that nothing was sent on refusal or denial.
mod presentation_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use immerse_jose::jws::SigningHeader;
use immerse_jose::{Signer, SoftwareSigner, base64url, jwt};
use immerse_sd_jwt::{ClaimPath, DisclosurePolicy};
use immerse_status_list::Status;
use immerse_verifier::{REQUEST_OBJECT_TYP, SELF_ISSUED_AUDIENCE};
use immerse_wallet::{PresentationError, Presenter, VerifierDirectory};
use presentation_support::verifier_world::{certificate_chain, default_query};
use presentation_support::{
    Setup, VERIFIER_ENTITY, VERIFIER_NAME, default_allowances, query_with_optional_locality,
};
use serde_json::{Value, json};

fn code(result: Result<impl std::fmt::Debug, PresentationError>) -> &'static str {
    result.expect_err("refused").code()
}

#[tokio::test]
async fn approved_presentation_discloses_required_and_chosen_claims_only() {
    let setup = Setup::start(default_allowances(), true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let (session, uri) = setup.request(query_with_optional_locality()).await;
    // The verifier's link uses request_uri_method=post: the wallet sends wallet_nonce.
    assert!(uri.contains("request_uri_method=post"), "{uri}");

    let pending = setup.presenter.resolve(&uri).await.unwrap();
    assert_eq!(pending.verifier_name, VERIFIER_NAME);
    assert_eq!(pending.verifier_id, VERIFIER_ENTITY);
    assert_eq!(pending.client_id, setup.world.verifier.client_id());
    assert_eq!(
        pending.purposes,
        ["Address the parcel", "Choose the nearest pick-up point"]
    );
    let claims: Vec<(&str, bool, &Value)> = pending.credentials[0]
        .claims
        .iter()
        .map(|claim| (claim.path.as_str(), claim.required, &claim.value))
        .collect();
    assert_eq!(
        claims,
        [
            ("given_name", true, &json!("Erika")),
            ("family_name", true, &json!("Mustermann")),
            ("address.locality", false, &json!("Berlin")),
        ]
    );
    assert!(pending.warnings.is_empty());
    assert_eq!(setup.result(&session).await["status"], "pending");

    // The holder leaves the optional locality out.
    let outcome = setup.presenter.approve(&pending.id, &[]).await.unwrap();
    assert_eq!(outcome.redirect_uri, None);
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
    assert!(disclosed.get("birthdate").is_none(), "{disclosed}");
    // Answered once: the request is gone.
    assert_eq!(
        code(setup.presenter.approve(&pending.id, &[]).await),
        "unknown_request"
    );
}

#[tokio::test]
async fn a_chosen_optional_claim_is_disclosed_and_the_redirect_is_returned() {
    let setup = Setup::start(default_allowances(), true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let (session, uri) = setup
        .request_with(json!({"dcql_query": query_with_optional_locality(), "same_device": true}))
        .await;
    let pending = setup.presenter.resolve(&uri).await.unwrap();
    let locality = pending.credentials[0].claims[2].key.clone();
    // A key that is not an optional claim of the request is refused, the request kept.
    let required = pending.credentials[0].claims[0].key.clone();
    assert_eq!(
        code(setup.presenter.approve(&pending.id, &[required]).await),
        "unknown_claim"
    );
    let outcome = setup
        .presenter
        .approve(&pending.id, &[locality])
        .await
        .unwrap();
    // OpenID4VP 1.0 s8.2: the same-device redirect carries the response code.
    let redirect = outcome.redirect_uri.expect("same-device redirect");
    let code = redirect
        .strip_prefix("https://rp.test/done#response_code=")
        .expect("the verifier's redirect_url");
    let result = setup
        .world
        .result(
            &presentation_support::verifier_world::Session {
                id: session,
                client_id: String::new(),
                nonce: String::new(),
                state: String::new(),
                response_uri: String::new(),
                claims: Default::default(),
            },
            Some(code),
        )
        .await;
    assert_eq!(result["status"], "verified", "{result}");
    assert_eq!(
        result["credentials"]["pid"][0]["address"]["locality"],
        "Berlin"
    );
}

#[tokio::test]
async fn request_uri_method_get_is_supported() {
    let setup = Setup::start(default_allowances(), true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let (session, uri) = setup.request(query_with_optional_locality()).await;
    let uri = uri.replace("request_uri_method=post", "request_uri_method=get");
    let pending = setup.presenter.resolve(&uri).await.unwrap();
    setup.presenter.approve(&pending.id, &[]).await.unwrap();
    assert_eq!(setup.result(&session).await["status"], "verified");
}

#[tokio::test]
async fn deny_sends_nothing() {
    let setup = Setup::start(default_allowances(), true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let (session, uri) = setup.request(query_with_optional_locality()).await;
    let pending = setup.presenter.resolve(&uri).await.unwrap();
    setup.presenter.deny(&pending.id).unwrap();
    assert!(setup.presenter.pending().is_empty());
    assert_eq!(
        code(setup.presenter.approve(&pending.id, &[]).await),
        "unknown_request"
    );
    let result = setup.result(&session).await;
    assert_eq!(result["status"], "pending", "{result}");
    assert!(result.get("credentials").is_none());
}

#[tokio::test]
async fn claims_beyond_the_verifiers_allowance_are_refused() {
    let names_only = json!({"claims": [
        {"path": ["given_name"], "purpose": "greeting"},
        {"path": ["family_name"], "purpose": "greeting"},
    ]});
    let setup = Setup::start(names_only, true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    // The default query also asks for address.locality.
    let (session, uri) = setup.request(default_query()).await;
    let error = setup.presenter.resolve(&uri).await.unwrap_err();
    assert!(
        matches!(&error, PresentationError::ClaimNotAllowed { path, .. } if path == "address.locality"),
        "{error}"
    );
    assert!(setup.presenter.pending().is_empty());
    assert_eq!(setup.result(&session).await["status"], "pending");
}

#[tokio::test]
async fn correlating_identifiers_are_warned_about() {
    let allowances = json!({"claims": [
        {"path": ["given_name"], "purpose": "greeting"},
        {"path": ["email"], "purpose": "receipts"},
    ]});
    let setup = Setup::start(allowances, true).await;
    let mut credential = setup.world.credential();
    credential
        .claims
        .insert("email".into(), json!("erika@example.com"));
    setup.hold("pid-1", &credential).await;
    let query = json!({"credentials": [{
        "id": "pid", "format": "dc+sd-jwt",
        "meta": {"vct_values": [presentation_support::VCT]},
        "claims": [{"path": ["given_name"]}, {"path": ["email"]}]
    }]});
    let (_, uri) = setup.request(query).await;
    let pending = setup.presenter.resolve(&uri).await.unwrap();
    assert!(pending.credentials[0].claims[1].correlating);
    assert_eq!(pending.warnings.len(), 1);
    assert!(
        pending.warnings[0].starts_with("email"),
        "{:?}",
        pending.warnings
    );
}

#[tokio::test]
async fn an_unknown_or_unregistered_verifier_is_refused() {
    let setup = Setup::start(default_allowances(), false).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let (session, uri) = setup.request(query_with_optional_locality()).await;
    // The registry has the entity but not the request's certificate key.
    assert_eq!(
        code(setup.presenter.resolve(&uri).await),
        "verifier_not_registered"
    );
    // A wallet that does not know the Client Identifier at all.
    let stranger = Presenter::new(
        setup.presenter.wallet().clone(),
        VerifierDirectory::default(),
    );
    assert_eq!(code(stranger.resolve(&uri).await), "unknown_verifier");
    assert_eq!(setup.result(&session).await["status"], "pending");
}

#[tokio::test]
async fn an_expired_credential_is_never_presented() {
    let setup = Setup::start(default_allowances(), true).await;
    let mut expired = setup.world.credential();
    expired.exp = Some(jwt::now() - 1);
    setup.hold("expired", &expired).await;
    let (session, uri) = setup.request(query_with_optional_locality()).await;
    assert_eq!(
        code(setup.presenter.resolve(&uri).await),
        "no_matching_credential"
    );

    // Valid when the request came, expired when the holder consents.
    let mut short_lived = setup.world.credential();
    short_lived.exp = Some(jwt::now() + 100);
    setup.hold("short-lived", &short_lived).await;
    let pending = setup.presenter.resolve(&uri).await.unwrap();
    assert_eq!(pending.credentials[0].credential_id, "short-lived");
    setup.clock_offset.store(150, Ordering::SeqCst);
    assert_eq!(
        code(setup.presenter.approve(&pending.id, &[]).await),
        "credential_no_longer_valid"
    );
    assert_eq!(setup.result(&session).await["status"], "pending");
}

#[tokio::test]
async fn a_revoked_credential_is_not_offered() {
    let setup = Setup::start(default_allowances(), true).await;
    let credential = setup.world.credential();
    setup.hold("pid-1", &credential).await;
    let index = credential.status.as_ref().unwrap().idx as usize;
    setup.world.set_status(index, Status::Invalid);
    let (session, uri) = setup.request(query_with_optional_locality()).await;
    let error = setup.presenter.resolve(&uri).await.unwrap_err();
    assert_eq!(error.code(), "no_matching_credential");
    assert!(error.to_string().contains("status"), "{error}");
    assert_eq!(setup.result(&session).await["status"], "pending");
}

/// A status list outside the issuer's origin is not the issuer's: the wallet does not even
/// fetch it, and the credential is not offered.
#[tokio::test]
async fn a_credential_whose_status_list_lies_outside_its_issuers_origin_is_not_offered() {
    let setup = Setup::start(default_allowances(), true).await;
    let mut credential = setup.world.credential();
    credential.status.as_mut().unwrap().uri = format!("{}/status/1", setup.world.status_base);
    setup.hold("pid-1", &credential).await;
    let (session, uri) = setup.request(query_with_optional_locality()).await;
    let error = setup.presenter.resolve(&uri).await.unwrap_err();
    assert_eq!(error.code(), "no_matching_credential");
    assert!(
        error.to_string().contains("is not under the origin of"),
        "{error}"
    );
    assert_eq!(setup.result(&session).await["status"], "pending");
}

/// Request objects this test signs itself, passed by value, each wrong in one way.
struct Forger {
    signer: Arc<SoftwareSigner>,
    x5c: Vec<String>,
    client_id: String,
}

impl Forger {
    fn new() -> Self {
        use base64::Engine;
        let signer = Arc::new(SoftwareSigner::generate().unwrap());
        let (chain, _) = certificate_chain(signer.public_jwk());
        let client_id = format!(
            "x509_hash:{}",
            base64url::encode(openssl::sha::sha256(&chain[0]))
        );
        let x5c = chain
            .iter()
            .map(|der| base64::engine::general_purpose::STANDARD.encode(der))
            .collect();
        Self {
            signer,
            x5c,
            client_id,
        }
    }

    fn claims(&self) -> Value {
        json!({
            "iss": self.client_id,
            "aud": SELF_ISSUED_AUDIENCE,
            "iat": jwt::now(),
            "exp": jwt::now() + 300,
            "client_id": self.client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post.jwt",
            "response_uri": "https://verifier.test/response/1",
            "nonce": "n-0123456789",
            "state": "s-0123456789",
            "dcql_query": default_query(),
            "client_metadata": {"jwks": {"keys": [{"kty": "EC", "crv": "P-256", "alg": "ECDH-ES",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}
        })
    }

    async fn sign(&self, typ: &str, claims: &Value) -> String {
        let header = SigningHeader::new(typ).with("x5c", json!(self.x5c));
        jwt::sign(&*self.signer, &header, claims).await.unwrap()
    }

    fn uri(client_id: &str, request: &str) -> String {
        let mut url = reqwest::Url::parse("openid4vp://authorize").unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", client_id)
            .append_pair("request", request);
        url.to_string()
    }
}

#[tokio::test]
async fn forged_request_objects_are_refused() {
    let setup = Setup::start(default_allowances(), true).await;
    setup.hold("pid-1", &setup.world.credential()).await;
    let forger = Forger::new();
    let presenter = Presenter::new(
        setup.presenter.wallet().clone(),
        VerifierDirectory::default().with(forger.client_id.clone(), VERIFIER_ENTITY),
    );
    let claims = forger.claims();
    let signed = forger.sign(REQUEST_OBJECT_TYP, &claims).await;

    // Unsigned: alg none, the same claims.
    let header = base64url::encode(br#"{"alg":"none","typ":"oauth-authz-req+jwt"}"#);
    let unsigned = format!("{header}.{}.", base64url::encode(claims.to_string()));
    assert_eq!(
        code(
            presenter
                .resolve(&Forger::uri(&forger.client_id, &unsigned))
                .await
        ),
        "unsigned_request"
    );
    // The request parameters in clear, without a request object.
    let clear = format!(
        "openid4vp://authorize?client_id={}&response_type=vp_token&nonce=n",
        forger.client_id
    );
    assert_eq!(code(presenter.resolve(&clear).await), "unsigned_request");
    // Wrongly typed: a plain JWT.
    let untyped = forger.sign("JWT", &claims).await;
    let error = presenter
        .resolve(&Forger::uri(&forger.client_id, &untyped))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            PresentationError::RequestSignature(immerse_jose::Error::UnexpectedType { .. })
        ),
        "{error:?}"
    );
    // The URI's client_id is not the hash of the certificate.
    let other = Forger::new();
    assert_eq!(
        code(
            presenter
                .resolve(&Forger::uri(&other.client_id, &signed))
                .await
        ),
        "x509_hash_mismatch"
    );
    // The certificate of one key, the signature of another.
    let mut impostor = Forger::new();
    impostor.x5c = forger.x5c.clone();
    impostor.client_id = forger.client_id.clone();
    let mis_signed = impostor.sign(REQUEST_OBJECT_TYP, &claims).await;
    assert_eq!(
        code(
            presenter
                .resolve(&Forger::uri(&forger.client_id, &mis_signed))
                .await
        ),
        "invalid_request_object"
    );
    // The client_id inside differs from the one outside.
    let mut swapped = claims.clone();
    swapped["client_id"] = json!(other.client_id);
    let swapped = forger.sign(REQUEST_OBJECT_TYP, &swapped).await;
    assert_eq!(
        code(
            presenter
                .resolve(&Forger::uri(&forger.client_id, &swapped))
                .await
        ),
        "client_id_mismatch"
    );
    // Well formed and signed, but its key is not the verifier entity's registered key.
    assert_eq!(
        code(
            presenter
                .resolve(&Forger::uri(&forger.client_id, &signed))
                .await
        ),
        "verifier_not_registered"
    );
    assert!(presenter.pending().is_empty());
}

#[tokio::test]
async fn a_request_object_must_echo_the_wallet_nonce_and_answer_encrypted() {
    let setup = Setup::start(default_allowances(), true).await;
    let forger = Forger::new();
    let presenter = Presenter::new(
        setup.presenter.wallet().clone(),
        VerifierDirectory::default().with(forger.client_id.clone(), VERIFIER_ENTITY),
    );
    // A request_uri (POST) whose request object never echoes the wallet_nonce: recorded
    // earlier and replayed.
    let replayed = forger.sign(REQUEST_OBJECT_TYP, &forger.claims()).await;
    let router = axum::Router::new().route(
        "/request",
        axum::routing::post(move || {
            let replayed = replayed.clone();
            async move { replayed }
        }),
    );
    let base = presentation_support::serve(router).await;
    let mut url = reqwest::Url::parse("openid4vp://authorize").unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &forger.client_id)
        .append_pair("request_uri", &format!("{base}/request"))
        .append_pair("request_uri_method", "post");
    assert_eq!(
        code(presenter.resolve(url.as_str()).await),
        "wallet_nonce_mismatch"
    );
    // A response in clear (direct_post) is never offered.
    let mut clear = forger.claims();
    clear["response_mode"] = json!("direct_post");
    let clear = forger.sign(REQUEST_OBJECT_TYP, &clear).await;
    assert_eq!(
        code(
            presenter
                .resolve(&Forger::uri(&forger.client_id, &clear))
                .await
        ),
        "unsupported_response_mode"
    );
}

#[tokio::test]
async fn a_nested_claim_goes_by_its_own_disclosure_and_is_shown_as_sent() {
    // The issuer's default: every leaf of the address object disclosable on its own. The
    // verifier may ask for the locality only; the holder must see exactly what goes, and the
    // verifier must receive exactly that.
    let allowances = json!({"claims": [
        {"path": ["address", "locality"], "purpose": "Choose the nearest pick-up point"},
    ]});
    let setup = Setup::start(allowances, true).await;
    let mut credential = setup.world.credential();
    credential.claims.insert(
        "address".into(),
        json!({"street_address": "Heidestr. 17", "locality": "Berlin", "postal_code": "10115"}),
    );
    let address = ClaimPath::claim("address");
    let leaves = ["street_address", "locality", "postal_code"]
        .into_iter()
        .fold(
            DisclosurePolicy::new()
                .disclose(ClaimPath::claim("given_name"))
                .disclose(ClaimPath::claim("family_name"))
                .disclose(ClaimPath::claim("birthdate")),
            |policy, name| policy.disclose(address.clone().name(name)),
        );
    setup.hold_disclosing("pid-1", &credential, &leaves).await;
    let (session, uri) = setup
        .request(json!({"credentials": [{
            "id": "pid", "format": "dc+sd-jwt",
            "meta": {"vct_values": [presentation_support::VCT]},
            "claims": [{"path": ["address", "locality"]}]
        }]}))
        .await;
    let pending = setup.presenter.resolve(&uri).await.unwrap();
    let shown: Vec<(&str, &str, &Value)> = pending.credentials[0]
        .claims
        .iter()
        .map(|claim| {
            (
                claim.path.as_str(),
                claim.disclosed_path.as_str(),
                &claim.value,
            )
        })
        .collect();
    assert_eq!(
        shown,
        [("address.locality", "address.locality", &json!("Berlin"))]
    );
    setup.presenter.approve(&pending.id, &[]).await.unwrap();
    let result = setup.result(&session).await;
    assert_eq!(result["status"], "verified", "{result}");
    let disclosed = &result["credentials"]["pid"][0];
    // One disclosure reached the verifier: the locality, not its siblings or any other claim.
    assert_eq!(
        disclosed["address"],
        json!({"locality": "Berlin"}),
        "{disclosed}"
    );
    for withheld in ["given_name", "family_name", "birthdate"] {
        assert!(disclosed.get(withheld).is_none(), "{disclosed}");
    }
}
