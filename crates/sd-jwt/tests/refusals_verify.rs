//! One test per refusal of RFC 9901 s7.1 (serialization, issuer JWT, disclosures): each input is
//! valid but for the one thing the test name says.
mod common;

use common::*;
use immerse_jose::{Algorithm, Signer, base64url};
use immerse_sd_jwt::{
    ClaimPath, DisclosurePolicy, Error, IssueOptions, Limits, Validation, issue, verify,
};
use serde_json::{Value, json};

/// A valid SD-JWT with one disclosed claim: the baseline every test below breaks once.
async fn baseline() -> (immerse_jose::SoftwareSigner, String, String) {
    let issuer = signer();
    let (given, digest) = disclosure(json!(["salt-1", "given_name", "Erika"]));
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &payload(json!({"_sd": [digest]}))).await;
    (issuer, jwt, given)
}

async fn refused(issuer: &immerse_jose::SoftwareSigner, text: &str) -> Error {
    verify(text, &validation(), issuer.public_jwk()).expect_err("must be refused")
}

#[tokio::test]
async fn baseline_verifies() {
    let (issuer, jwt, given) = baseline().await;
    let verified = verify(&sd_jwt(&jwt, &[&given]), &validation(), issuer.public_jwk())
        .expect("baseline verifies");
    assert_eq!(verified.claims()["given_name"], "Erika");
    assert!(verified.claims().get("_sd").is_none());
    assert_eq!(verified.disclosed_paths(), [ClaimPath::claim("given_name")]);
}

// --- serialization (RFC 9901 s4, s7.1 step 1) ---

#[tokio::test]
async fn sd_jwt_without_any_tilde_is_rejected() {
    let (issuer, jwt, _) = baseline().await;
    assert_eq!(refused(&issuer, &jwt).await, Error::MissingSeparator);
}

#[tokio::test]
async fn sd_jwt_not_ending_with_tilde_is_rejected() {
    let (issuer, jwt, given) = baseline().await;
    let text = format!("{jwt}~{given}");
    assert_eq!(
        refused(&issuer, &text).await,
        Error::MissingTrailingSeparator
    );
}

#[tokio::test]
async fn empty_component_between_tildes_is_rejected() {
    let (issuer, jwt, given) = baseline().await;
    let text = format!("{jwt}~~{given}~");
    assert_eq!(refused(&issuer, &text).await, Error::EmptyComponent);
}

#[tokio::test]
async fn oversized_presentation_is_rejected_before_parsing() {
    let (issuer, jwt, given) = baseline().await;
    let text = sd_jwt(&jwt, &[&given]);
    let mut validation = validation();
    validation.limits = Limits {
        max_len: text.len() - 1,
        ..Limits::default()
    };
    assert_eq!(
        verify(&text, &validation, issuer.public_jwk()).unwrap_err(),
        Error::TooLarge(text.len())
    );
}

#[tokio::test]
async fn too_many_disclosures_are_rejected() {
    let (issuer, jwt, given) = baseline().await;
    let mut validation = validation();
    validation.limits.max_disclosures = 0;
    assert_eq!(
        verify(&sd_jwt(&jwt, &[&given]), &validation, issuer.public_jwk()).unwrap_err(),
        Error::TooManyDisclosures(0)
    );
}

#[tokio::test]
async fn deeply_recursive_disclosures_are_rejected_without_overflow() {
    // Each disclosure's value is an object whose `_sd` names the next one: nesting through
    // disclosures, where no single JSON text is deep.
    let issuer = signer();
    let (mut encoded, mut digest) = disclosure(json!(["s", "leaf", 1]));
    let mut chain = vec![encoded.clone()];
    for level in 0..200 {
        (encoded, digest) = disclosure(json!(["s", format!("l{level}"), {"_sd": [digest]}]));
        chain.push(encoded.clone());
    }
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &payload(json!({"_sd": [digest]}))).await;
    let refs: Vec<&str> = chain.iter().map(String::as_str).collect();
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &refs)).await,
        Error::TooDeep(32)
    );
}

// --- issuer-signed JWT (RFC 9901 s7.1 step 2) ---

#[tokio::test]
async fn issuer_jwt_with_unexpected_typ_is_rejected() {
    let issuer = signer();
    let (given, digest) = disclosure(json!(["s", "given_name", "Erika"]));
    let jwt = sign_payload(&issuer, "example+jwt", &payload(json!({"_sd": [digest]}))).await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[&given])).await,
        Error::IssuerTypeMismatch(Some("example+jwt".into()))
    );
}

#[tokio::test]
async fn issuer_jwt_with_alg_none_is_rejected() {
    let (issuer, jwt, given) = baseline().await;
    let payload = jwt.split('.').nth(1).expect("payload");
    let header = base64url::encode(r#"{"alg":"none","typ":"dc+sd-jwt"}"#);
    let unsigned = format!("{header}.{payload}.");
    assert_eq!(
        refused(&issuer, &sd_jwt(&unsigned, &[&given])).await,
        Error::IssuerAlgorithmNotAllowed("none".into())
    );
}

#[tokio::test]
async fn issuer_jwt_with_algorithm_outside_the_allowlist_is_rejected() {
    let (issuer, jwt, given) = baseline().await;
    let mut validation = validation();
    validation.algorithms = &[Algorithm::Es384];
    assert_eq!(
        verify(&sd_jwt(&jwt, &[&given]), &validation, issuer.public_jwk()).unwrap_err(),
        Error::IssuerAlgorithmNotAllowed("ES256".into())
    );
}

#[tokio::test]
async fn issuer_jwt_signed_by_another_key_is_rejected() {
    let (_, jwt, given) = baseline().await;
    // The other key without `kid`, so that the pinned key is used and the signature fails.
    let mut other = signer().public_jwk().to_object();
    other.remove("kid");
    let other = immerse_jose::PublicJwk::from_object(other).expect("public key");
    assert_eq!(
        verify(&sd_jwt(&jwt, &[&given]), &validation(), &other).unwrap_err(),
        Error::IssuerSignatureInvalid
    );
}

#[tokio::test]
async fn issuer_jwt_with_tampered_payload_is_rejected() {
    let (issuer, jwt, given) = baseline().await;
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let forged = payload(json!({"_sd": [], "admin": true}));
    parts[1] = base64url::encode(forged.to_string());
    assert_eq!(
        refused(&issuer, &sd_jwt(&parts.join("."), &[&given])).await,
        Error::IssuerSignatureInvalid
    );
}

#[tokio::test]
async fn unsupported_sd_alg_is_rejected() {
    let issuer = signer();
    let (given, digest) = disclosure(json!(["s", "given_name", "Erika"]));
    let body = payload(json!({"_sd": [digest], "_sd_alg": "sha-512"}));
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &body).await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[&given])).await,
        Error::UnsupportedSdAlg("sha-512".into())
    );
}

// --- disclosures (RFC 9901 s7.1 step 3 and 4) ---

/// Signs a payload whose `_sd` lists the digest of `array`, and presents that disclosure.
async fn with_disclosure(array: Value) -> Error {
    let issuer = signer();
    let (encoded, digest) = disclosure(array);
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &payload(json!({"_sd": [digest]}))).await;
    refused(&issuer, &sd_jwt(&jwt, &[&encoded])).await
}

#[tokio::test]
async fn disclosure_that_is_not_an_array_is_rejected() {
    assert_eq!(
        with_disclosure(json!({"salt": "s", "name": "n"})).await,
        Error::DisclosureNotArray
    );
}

#[tokio::test]
async fn disclosure_of_wrong_length_is_rejected() {
    assert_eq!(
        with_disclosure(json!(["s"])).await,
        Error::DisclosureNotArray
    );
    assert_eq!(
        with_disclosure(json!(["s", "n", 1, 2])).await,
        Error::DisclosureNotArray
    );
}

#[tokio::test]
async fn disclosure_with_non_string_salt_is_rejected() {
    assert_eq!(
        with_disclosure(json!([42, "given_name", "Erika"])).await,
        Error::DisclosureSaltNotString
    );
}

#[tokio::test]
async fn disclosure_with_non_string_name_is_rejected() {
    assert_eq!(
        with_disclosure(json!(["s", 42, "Erika"])).await,
        Error::DisclosureNameNotString
    );
}

#[tokio::test]
async fn disclosure_named_sd_is_rejected() {
    assert_eq!(
        with_disclosure(json!(["s", "_sd", ["x"]])).await,
        Error::ForbiddenClaimName("_sd".into())
    );
}

#[tokio::test]
async fn disclosure_named_ellipsis_is_rejected() {
    assert_eq!(
        with_disclosure(json!(["s", "...", "x"])).await,
        Error::ForbiddenClaimName("...".into())
    );
}

#[tokio::test]
async fn disclosure_that_is_not_base64url_is_rejected() {
    let (issuer, jwt, _) = baseline().await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &["not+base64/"])).await,
        Error::Base64("disclosure")
    );
}

#[tokio::test]
async fn same_disclosure_twice_is_rejected() {
    let (issuer, jwt, given) = baseline().await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[&given, &given])).await,
        Error::DuplicateDisclosure
    );
}

#[tokio::test]
async fn sd_that_is_not_an_array_of_strings_is_rejected() {
    let issuer = signer();
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &payload(json!({"_sd": "digest"}))).await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[])).await,
        Error::MalformedSd
    );
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &payload(json!({"_sd": [1]}))).await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[])).await,
        Error::MalformedSd
    );
}

#[tokio::test]
async fn array_digest_object_with_other_members_is_rejected() {
    let issuer = signer();
    let (element, digest) = disclosure(json!(["s", "DE"]));
    let body = payload(json!({"nationalities": [{"...": digest, "extra": 1}]}));
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &body).await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[&element])).await,
        Error::MalformedArrayDigest
    );
}

#[tokio::test]
async fn digest_twice_in_sd_is_rejected() {
    let issuer = signer();
    let (given, digest) = disclosure(json!(["s", "given_name", "Erika"]));
    let body = payload(json!({"_sd": [digest.clone(), digest.clone()]}));
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &body).await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[&given])).await,
        Error::DuplicateDigest(digest)
    );
}

#[tokio::test]
async fn decoy_digest_twice_is_rejected() {
    let issuer = signer();
    let decoy = "x".repeat(43);
    let body = payload(json!({"_sd": [decoy.clone()], "nested": {"_sd": [decoy.clone()]}}));
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &body).await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[])).await,
        Error::DuplicateDigest(decoy)
    );
}

#[tokio::test]
async fn digest_in_sd_and_in_array_is_rejected() {
    let issuer = signer();
    let (element, digest) = disclosure(json!(["s", "DE"]));
    let body =
        payload(json!({"_sd": [digest.clone()], "nationalities": [{"...": digest.clone()}]}));
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &body).await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[&element])).await,
        Error::DuplicateDigest(digest)
    );
}

#[tokio::test]
async fn digest_repeated_inside_a_disclosure_is_rejected() {
    let issuer = signer();
    let (inner, inner_digest) = disclosure(json!(["s1", "street", "Main St"]));
    let (outer, outer_digest) =
        disclosure(json!(["s2", "address", {"_sd": [inner_digest.clone()]}]));
    let body = payload(json!({"_sd": [outer_digest, inner_digest.clone()]}));
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &body).await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[&outer, &inner])).await,
        Error::DuplicateDigest(inner_digest)
    );
}

#[tokio::test]
async fn array_element_disclosure_referenced_from_sd_is_rejected() {
    assert_eq!(
        with_disclosure(json!(["s", "DE"])).await,
        Error::ExpectedPropertyDisclosure
    );
}

#[tokio::test]
async fn property_disclosure_referenced_from_array_is_rejected() {
    let issuer = signer();
    let (property, digest) = disclosure(json!(["s", "country", "DE"]));
    let body = payload(json!({"nationalities": [{"...": digest}]}));
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &body).await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[&property])).await,
        Error::ExpectedArrayElementDisclosure
    );
}

#[tokio::test]
async fn disclosed_name_that_already_exists_is_rejected() {
    let issuer = signer();
    let (given, digest) = disclosure(json!(["s", "given_name", "Mallory"]));
    let body = payload(json!({"_sd": [digest], "given_name": "Erika"}));
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &body).await;
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[&given])).await,
        Error::ClaimAlreadyExists("given_name".into())
    );
}

#[tokio::test]
async fn unreferenced_disclosure_is_rejected() {
    let (issuer, jwt, given) = baseline().await;
    let (stray, _) = disclosure(json!(["s", "admin", true]));
    assert_eq!(
        refused(&issuer, &sd_jwt(&jwt, &[&given, &stray])).await,
        Error::UnreferencedDisclosure
    );
}

#[tokio::test]
async fn decoys_are_ignored_and_structure_removed() {
    let issuer = signer();
    let (given, digest) = disclosure(json!(["s", "given_name", "Erika"]));
    let decoy = "y".repeat(43);
    let body = payload(json!({"_sd": [digest, "z".repeat(43)], "list": [{"...": decoy}, 1]}));
    let jwt = sign_payload(&issuer, "dc+sd-jwt", &body).await;
    let verified = verify(&sd_jwt(&jwt, &[&given]), &validation(), issuer.public_jwk())
        .expect("decoys are fine");
    assert_eq!(verified.claims()["list"], json!([1]));
    assert!(verified.claims().get("_sd_alg").is_none());
    assert!(!verified.claims().contains_key("_sd"));
}

#[tokio::test]
async fn issued_sd_jwt_verifies_with_our_own_issuer() {
    let issuer = signer();
    let claims = json!({"iss": "https://issuer.example", "exp": NOW + 60, "given_name": "Erika"});
    let policy = DisclosurePolicy::new().disclose(ClaimPath::claim("given_name"));
    let issued = issue(&issuer, claims, &policy, &IssueOptions::default().decoys(3))
        .await
        .expect("issues");
    let validation: Validation<'_> = validation();
    let verified =
        verify(&issued.to_compact(), &validation, issuer.public_jwk()).expect("verifies");
    assert_eq!(verified.claims()["given_name"], "Erika");
    let _: Value = Value::Object(verified.claims().clone());
}
