//! One test per refusal of RFC 9901 s7.1 step 5 (time), s7.3 (Key Binding), the SD-JWT VC rules
//! and our issuance and presentation inputs: each input is valid but for one thing.
mod common;

use common::*;
use immerse_jose::{Algorithm, Signer, SoftwareSigner};
use immerse_sd_jwt::{
    ClaimPath, Credential, DisclosurePolicy, Error, IssueOptions, KeyBindingInput, Limits, SdJwt,
    StatusListRef, VcValidation, issue, issue_vc, present, verify, verify_vc,
};
use serde_json::{Map, Value, json};

/// An SD-JWT bound to `holder`, with `given_name` and `family_name` disclosable.
async fn bound(issuer: &SoftwareSigner, holder: &SoftwareSigner) -> SdJwt {
    let claims = payload(json!({"given_name": "Erika", "family_name": "Mustermann"}));
    let policy = DisclosurePolicy::new()
        .disclose(ClaimPath::claim("given_name"))
        .disclose(ClaimPath::claim("family_name"));
    let options = IssueOptions::default().holder_key(holder.public_jwk().clone());
    issue(issuer, claims, &policy, &options)
        .await
        .expect("issues")
}

/// The presented SD-JWT (without KB-JWT) revealing `given_name`.
async fn presented(sd_jwt: &SdJwt) -> String {
    present(
        sd_jwt,
        &[ClaimPath::claim("given_name")],
        None,
        &Limits::default(),
    )
    .await
    .expect("presents")
}

/// Appends a KB-JWT with `claims` (and `typ`) to the presentation and verifies it.
async fn with_kb(typ: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> Result<(), Error> {
    let (issuer, holder) = (signer(), signer());
    let sd_jwt = presented(&bound(&issuer, &holder).await).await;
    let Value::Object(mut claims) = kb_claims(&sd_jwt) else {
        unreachable!("kb_claims is an object")
    };
    edit(&mut claims);
    let kb = kb_jwt(&holder, typ, &Value::Object(claims)).await;
    verify(
        &format!("{sd_jwt}{kb}"),
        &kb_validation(),
        issuer.public_jwk(),
    )
    .map(drop)
}

#[tokio::test]
async fn presentation_with_valid_key_binding_verifies() {
    let (issuer, holder) = (signer(), signer());
    let sd_jwt = bound(&issuer, &holder).await;
    let input = KeyBindingInput {
        audience: AUDIENCE,
        nonce: NONCE,
        issued_at: Some(NOW),
    };
    let text = present(
        &sd_jwt,
        &[ClaimPath::claim("family_name")],
        Some((&holder, input)),
        &Limits::default(),
    )
    .await
    .expect("presents");
    let verified = verify(&text, &kb_validation(), issuer.public_jwk()).expect("verifies");
    assert_eq!(verified.claims()["family_name"], "Mustermann");
    assert!(verified.claims().get("given_name").is_none());
    assert_eq!(verified.key_binding().map(|kb| kb.iat), Some(NOW));
    assert_eq!(with_kb("kb+jwt", |_| {}).await, Ok(()));
}

// --- time (RFC 9901 s7.1 step 5) ---

async fn with_payload(body: Value) -> Error {
    let issuer = signer();
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &body).await;
    verify(&sd_jwt(&jwt, &[]), &validation(), issuer.public_jwk()).expect_err("refused")
}

#[tokio::test]
async fn expired_sd_jwt_is_rejected() {
    let body = payload(json!({"exp": NOW - 61}));
    assert_eq!(with_payload(body).await, Error::Expired);
}

#[tokio::test]
async fn expiry_within_skew_is_accepted() {
    let issuer = signer();
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &payload(json!({"exp": NOW - 30}))).await;
    assert!(verify(&sd_jwt(&jwt, &[]), &validation(), issuer.public_jwk()).is_ok());
}

#[tokio::test]
async fn not_yet_valid_sd_jwt_is_rejected() {
    let body = payload(json!({"nbf": NOW + 61}));
    assert_eq!(with_payload(body).await, Error::NotYetValid);
}

#[tokio::test]
async fn sd_jwt_without_exp_is_rejected_when_exp_is_required() {
    let mut body = payload(json!({}));
    body.as_object_mut().map(|body| body.remove("exp"));
    assert_eq!(with_payload(body).await, Error::MissingClaim("exp"));
}

#[tokio::test]
async fn non_numeric_exp_is_rejected() {
    let body = payload(json!({"exp": "tomorrow"}));
    assert_eq!(with_payload(body).await, Error::InvalidClaim("exp"));
}

// --- Key Binding (RFC 9901 s7.3) ---

#[tokio::test]
async fn missing_kb_jwt_is_rejected_when_key_binding_is_required() {
    let (issuer, holder) = (signer(), signer());
    let text = presented(&bound(&issuer, &holder).await).await;
    assert_eq!(
        verify(&text, &kb_validation(), issuer.public_jwk()).unwrap_err(),
        Error::KeyBindingRequired
    );
}

#[tokio::test]
async fn kb_jwt_is_rejected_when_the_verifier_has_no_expectations() {
    let (issuer, holder) = (signer(), signer());
    let sd_jwt = presented(&bound(&issuer, &holder).await).await;
    let kb = kb_jwt(&holder, "kb+jwt", &kb_claims(&sd_jwt)).await;
    assert_eq!(
        verify(&format!("{sd_jwt}{kb}"), &validation(), issuer.public_jwk()).unwrap_err(),
        Error::UnexpectedKeyBinding
    );
}

#[tokio::test]
async fn kb_jwt_without_holder_key_in_the_sd_jwt_is_rejected() {
    let (issuer, holder) = (signer(), signer());
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &payload(json!({}))).await;
    let sd_jwt = sd_jwt(&jwt, &[]);
    let kb = kb_jwt(&holder, "kb+jwt", &kb_claims(&sd_jwt)).await;
    assert_eq!(
        verify(
            &format!("{sd_jwt}{kb}"),
            &kb_validation(),
            issuer.public_jwk()
        )
        .unwrap_err(),
        Error::MissingHolderKey
    );
}

#[tokio::test]
async fn cnf_jwk_with_private_member_is_rejected() {
    let issuer = signer();
    let mut jwk = signer().public_jwk().to_object();
    jwk.insert("d".into(), "AAAA".into());
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &payload(json!({"cnf": {"jwk": jwk}}))).await;
    assert!(matches!(
        verify(&sd_jwt(&jwt, &[]), &validation(), issuer.public_jwk()),
        Err(Error::InvalidHolderKey(
            immerse_jose::Error::PrivateKeyMember("d")
        ))
    ));
}

#[tokio::test]
async fn kb_jwt_with_wrong_typ_is_rejected() {
    assert_eq!(
        with_kb("jwt", |_| {}).await,
        Err(Error::KbTypeMismatch(Some("jwt".into())))
    );
}

#[tokio::test]
async fn kb_jwt_signed_by_another_key_is_rejected() {
    let (issuer, holder) = (signer(), signer());
    let sd_jwt = presented(&bound(&issuer, &holder).await).await;
    // A thief who knows the holder's kid still cannot sign for the holder key.
    let kb = jwt_with_kid(&signer(), holder.kid(), &kb_claims(&sd_jwt)).await;
    assert_eq!(
        verify(
            &format!("{sd_jwt}{kb}"),
            &kb_validation(),
            issuer.public_jwk()
        )
        .unwrap_err(),
        Error::KbSignatureInvalid
    );
}

async fn jwt_with_kid(signer: &SoftwareSigner, kid: &str, claims: &Value) -> String {
    use immerse_jose::base64url;
    let header = json!({"alg": "ES256", "typ": "kb+jwt", "kid": kid});
    let input = format!(
        "{}.{}",
        base64url::encode(header.to_string()),
        base64url::encode(claims.to_string())
    );
    let signature = signer.sign(input.as_bytes()).await.expect("signs");
    format!("{input}.{}", base64url::encode(signature))
}

#[tokio::test]
async fn kb_jwt_with_algorithm_outside_the_allowlist_is_rejected() {
    let (issuer, holder) = (signer(), signer());
    let sd_jwt = presented(&bound(&issuer, &holder).await).await;
    let kb = kb_jwt(&holder, "kb+jwt", &kb_claims(&sd_jwt)).await;
    let mut validation = kb_validation();
    if let Some(policy) = validation.key_binding.as_mut() {
        policy.algorithms = &[Algorithm::EdDsa];
    }
    assert_eq!(
        verify(&format!("{sd_jwt}{kb}"), &validation, issuer.public_jwk()).unwrap_err(),
        Error::KbAlgorithmNotAllowed("ES256".into())
    );
}

#[tokio::test]
async fn kb_jwt_without_iat_is_rejected() {
    let result = with_kb("kb+jwt", |claims| {
        claims.remove("iat");
    });
    assert_eq!(result.await, Err(Error::KbInvalidClaim("iat")));
}

#[tokio::test]
async fn kb_jwt_issued_in_the_future_is_rejected() {
    let result = with_kb("kb+jwt", |claims| {
        claims.insert("iat".into(), (NOW + 61).into());
    });
    assert_eq!(result.await, Err(Error::KbIssuedInFuture));
}

#[tokio::test]
async fn kb_jwt_older_than_the_window_is_rejected() {
    let result = with_kb("kb+jwt", |claims| {
        claims.insert("iat".into(), (NOW - 300 - 61).into());
    });
    assert_eq!(result.await, Err(Error::KbTooOld));
}

#[tokio::test]
async fn kb_jwt_with_wrong_aud_is_rejected() {
    let result = with_kb("kb+jwt", |claims| {
        claims.insert("aud".into(), "https://attacker.example".into());
    });
    assert_eq!(result.await, Err(Error::KbAudienceMismatch));
}

#[tokio::test]
async fn kb_jwt_with_aud_array_is_rejected() {
    let result = with_kb("kb+jwt", |claims| {
        claims.insert("aud".into(), json!([AUDIENCE]));
    });
    assert_eq!(result.await, Err(Error::KbInvalidClaim("aud")));
}

#[tokio::test]
async fn kb_jwt_with_wrong_nonce_is_rejected() {
    let result = with_kb("kb+jwt", |claims| {
        claims.insert("nonce".into(), "replayed".into());
    });
    assert_eq!(result.await, Err(Error::KbNonceMismatch));
}

#[tokio::test]
async fn kb_jwt_with_wrong_sd_hash_is_rejected() {
    let result = with_kb("kb+jwt", |claims| {
        claims.insert("sd_hash".into(), immerse_sd_jwt::sd_hash("other~").into());
    });
    assert_eq!(result.await, Err(Error::KbSdHashMismatch));
}

#[tokio::test]
async fn disclosure_added_after_key_binding_is_rejected() {
    let (issuer, holder) = (signer(), signer());
    let full = bound(&issuer, &holder).await;
    let sd_jwt = presented(&full).await;
    let kb = kb_jwt(&holder, "kb+jwt", &kb_claims(&sd_jwt)).await;
    // Another disclosure slipped in after the holder signed: sd_hash no longer matches.
    let extra = full
        .disclosures()
        .iter()
        .find(|d| d.name() == Some("family_name"))
        .expect("family_name disclosure");
    let text = format!("{sd_jwt}{}~{kb}", extra.encoded());
    assert_eq!(
        verify(&text, &kb_validation(), issuer.public_jwk()).unwrap_err(),
        Error::KbSdHashMismatch
    );
}

// --- SD-JWT VC (draft-ietf-oauth-sd-jwt-vc) ---

fn credential(holder: &SoftwareSigner) -> Credential {
    Credential {
        vct: "https://credentials.example.com/identity_credential".into(),
        iss: "https://issuer.example".into(),
        iat: NOW - 10,
        exp: Some(NOW + 3600),
        status: Some(StatusListRef {
            idx: 7,
            uri: "https://issuer.example/statuslists/1".into(),
        }),
        holder_key: Some(holder.public_jwk().clone()),
        claims: Map::from_iter([("given_name".to_owned(), json!("Erika"))]),
    }
}

fn vc_validation() -> VcValidation<'static> {
    let mut validation = VcValidation::new();
    validation.base = validation.base.at(NOW);
    validation
}

#[tokio::test]
async fn sd_jwt_vc_round_trip_passes_typed_claims_through() {
    let (issuer, holder) = (signer(), signer());
    let policy = DisclosurePolicy::new().disclose(ClaimPath::claim("given_name"));
    let issued = issue_vc(
        &issuer,
        &credential(&holder),
        &policy,
        &IssueOptions::default(),
    )
    .await
    .expect("issues");
    let vc =
        verify_vc(&issued.to_compact(), &vc_validation(), issuer.public_jwk()).expect("verifies");
    assert_eq!(
        vc.vct(),
        "https://credentials.example.com/identity_credential"
    );
    assert_eq!(vc.iss(), Some("https://issuer.example"));
    assert_eq!(vc.status().map(|s| s.idx), Some(7));
    assert_eq!(vc.holder_key(), Some(holder.public_jwk()));
    assert_eq!(vc.sd_jwt().claims()["given_name"], "Erika");
}

#[tokio::test]
async fn issuer_policy_making_a_registered_vc_claim_disclosable_is_refused() {
    let (issuer, holder) = (signer(), signer());
    for name in ["iss", "exp", "cnf", "vct", "status"] {
        let policy = DisclosurePolicy::new().disclose(ClaimPath::claim(name));
        assert_eq!(
            issue_vc(
                &issuer,
                &credential(&holder),
                &policy,
                &IssueOptions::default()
            )
            .await,
            Err(Error::VcClaimNotDisclosable(name.into()))
        );
    }
}

/// Issues plain SD-JWTs (which do allow it) with `name` disclosable and verifies them as VCs.
async fn vc_with_disclosed(name: &str, value: Value) -> Error {
    let issuer = signer();
    let claims = payload(json!({"vct": "urn:example:vc", name: value}));
    let policy = DisclosurePolicy::new().disclose(ClaimPath::claim(name));
    let issued = issue(&issuer, claims, &policy, &IssueOptions::default())
        .await
        .expect("issues");
    verify_vc(&issued.to_compact(), &vc_validation(), issuer.public_jwk()).expect_err("refused")
}

#[tokio::test]
async fn disclosed_status_claim_is_rejected_in_a_vc() {
    let status = json!({"status_list": {"idx": 1, "uri": "https://x.example"}});
    assert_eq!(
        vc_with_disclosed("status", status).await,
        Error::VcClaimNotDisclosable("status".into())
    );
}

#[tokio::test]
async fn disclosed_nbf_claim_is_rejected_in_a_vc() {
    assert_eq!(
        vc_with_disclosed("nbf", json!(NOW - 5)).await,
        Error::VcClaimNotDisclosable("nbf".into())
    );
}

#[tokio::test]
async fn vc_without_vct_is_rejected() {
    let issuer = signer();
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &payload(json!({}))).await;
    let result = verify_vc(&sd_jwt(&jwt, &[]), &vc_validation(), issuer.public_jwk());
    assert_eq!(result.unwrap_err(), Error::VcMissingVct);
}

#[tokio::test]
async fn vc_with_non_string_vct_is_rejected() {
    let issuer = signer();
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &payload(json!({"vct": 1}))).await;
    let result = verify_vc(&sd_jwt(&jwt, &[]), &vc_validation(), issuer.public_jwk());
    assert_eq!(result.unwrap_err(), Error::VcInvalidVct);
}

#[tokio::test]
async fn vc_with_malformed_status_list_is_rejected() {
    let issuer = signer();
    let body = payload(json!({"vct": "v", "status": {"status_list": {"idx": -1, "uri": "u"}}}));
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &body).await;
    let result = verify_vc(&sd_jwt(&jwt, &[]), &vc_validation(), issuer.public_jwk());
    assert_eq!(result.unwrap_err(), Error::VcInvalidStatus);
}

#[tokio::test]
async fn vc_from_another_issuer_is_rejected() {
    let (issuer, holder) = (signer(), signer());
    let issued = issue_vc(
        &issuer,
        &credential(&holder),
        &DisclosurePolicy::new(),
        &IssueOptions::default(),
    )
    .await
    .expect("issues");
    let mut validation = vc_validation();
    validation.issuer = Some("https://other.example");
    let result = verify_vc(&issued.to_compact(), &validation, issuer.public_jwk());
    assert_eq!(result.unwrap_err(), Error::VcIssuerMismatch);
}

#[tokio::test]
async fn legacy_vc_typ_is_accepted_only_when_allowed() {
    let issuer = signer();
    let jwt = sign_payload(&issuer, "vc+sd-jwt", &payload(json!({"vct": "v"}))).await;
    let text = sd_jwt(&jwt, &[]);
    assert_eq!(
        verify_vc(&text, &vc_validation(), issuer.public_jwk()).unwrap_err(),
        Error::IssuerTypeMismatch(Some("vc+sd-jwt".into()))
    );
    let mut validation = vc_validation();
    validation.allow_legacy_typ = true;
    assert!(verify_vc(&text, &validation, issuer.public_jwk()).is_ok());
}

// --- our own inputs: issuance and presentation ---

#[tokio::test]
async fn issuing_a_reserved_claim_name_is_refused() {
    let issuer = signer();
    for name in ["_sd", "_sd_alg", "..."] {
        let claims = json!({"nested": {name: 1}});
        assert_eq!(
            issue(
                &issuer,
                claims,
                &DisclosurePolicy::new(),
                &IssueOptions::default()
            )
            .await,
            Err(Error::ReservedClaimName(name.into()))
        );
    }
}

#[tokio::test]
async fn policy_naming_an_absent_claim_is_refused() {
    let issuer = signer();
    let policy = DisclosurePolicy::new().disclose(ClaimPath::claim("address").name("street"));
    assert_eq!(
        issue(
            &issuer,
            json!({"address": {}}),
            &policy,
            &IssueOptions::default()
        )
        .await,
        Err(Error::PolicyPathNotFound(
            ClaimPath::claim("address").name("street")
        ))
    );
}

#[tokio::test]
async fn issuing_a_non_object_is_refused() {
    let issuer = signer();
    assert_eq!(
        issue(
            &issuer,
            json!([1]),
            &DisclosurePolicy::new(),
            &IssueOptions::default()
        )
        .await,
        Err(Error::ClaimsNotObject)
    );
}

#[tokio::test]
async fn selecting_an_absent_claim_is_refused() {
    let (issuer, holder) = (signer(), signer());
    let sd_jwt = bound(&issuer, &holder).await;
    assert_eq!(
        present(
            &sd_jwt,
            &[ClaimPath::claim("age")],
            None,
            &Limits::default()
        )
        .await,
        Err(Error::SelectionNotDisclosable(ClaimPath::claim("age")))
    );
}
