//! What the issuer produces (RFC 9901 s4, s6) and what the holder presents (s4.3, s6.2).
mod common;

use common::*;
use immerse_jose::{Signer, base64url};
use immerse_sd_jwt::{
    ClaimPath, DisclosurePolicy, IssueOptions, Limits, SdJwt, issue, present, verify,
};
use serde_json::{Map, Value, json};

fn decode(part: &str) -> Map<String, Value> {
    let bytes = base64url::decode(part, "test").expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON object")
}

async fn issued() -> (immerse_jose::SoftwareSigner, SdJwt) {
    let (issuer, holder) = (signer(), signer());
    let claims = json!({
        "iss": "https://issuer.example",
        "exp": NOW + 3600,
        "given_name": "Erika",
        "family_name": "Mustermann",
        "address": {"street_address": "Heidestraße 17", "locality": "Köln", "country": "DE"},
        "nationalities": ["DE", "FR"],
    });
    let policy = DisclosurePolicy::new()
        .disclose(ClaimPath::claim("given_name"))
        .disclose(ClaimPath::claim("family_name"))
        .disclose(ClaimPath::claim("address"))
        .disclose(ClaimPath::claim("address").name("street_address"))
        .disclose(ClaimPath::claim("address").name("locality"))
        .disclose(ClaimPath::claim("nationalities").index(1));
    let options = IssueOptions::default()
        .decoys(2)
        .holder_key(holder.public_jwk().clone());
    let sd_jwt = issue(&issuer, claims, &policy, &options)
        .await
        .expect("issues");
    (issuer, sd_jwt)
}

#[tokio::test]
async fn issued_payload_has_sorted_digests_decoys_array_entries_and_cnf() {
    let (issuer, sd_jwt) = issued().await;
    let mut parts = sd_jwt.jwt().split('.');
    let header = decode(parts.next().expect("header"));
    let payload = decode(parts.next().expect("payload"));
    assert_eq!(header["typ"], "dc+sd-jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], issuer.kid());

    assert_eq!(payload["_sd_alg"], "sha-256");
    assert_eq!(payload["iss"], "https://issuer.example");
    assert!(payload.get("given_name").is_none() && payload.get("address").is_none());
    assert_eq!(payload["cnf"]["jwk"]["kty"], "EC");
    // Three top-level disclosures plus two decoys, sorted (RFC 9901 s4.2.4.1, s4.2.5).
    let digests: Vec<&str> = payload["_sd"]
        .as_array()
        .expect("_sd")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(digests.len(), 5);
    assert!(digests.windows(2).all(|pair| pair[0] < pair[1]));
    // The second nationality is an array digest; the first stays in clear (s4.2.4.2).
    let nationalities = payload["nationalities"].as_array().expect("array");
    assert_eq!(nationalities[0], "DE");
    let element_digest = nationalities[1]["..."].as_str().expect("... digest");

    // Every disclosure is referenced by the digest of its text exactly as issued.
    for disclosure in sd_jwt.disclosures() {
        let text = String::from_utf8(base64url::decode(disclosure.encoded(), "d").expect("b64"))
            .expect("utf-8");
        let array: Vec<Value> = serde_json::from_str(&text).expect("array");
        let salt = base64url::decode(array[0].as_str().expect("salt"), "salt").expect("b64");
        assert_eq!(salt.len(), 16, "128-bit salts (s9.3)");
        assert_eq!(
            disclosure.digest(),
            immerse_sd_jwt::sd_hash(disclosure.encoded())
        );
    }
    assert!(
        sd_jwt
            .disclosures()
            .iter()
            .any(|d| d.digest() == element_digest)
    );
    // `address` is disclosed as an object that carries its own digests (s6.3).
    let address = sd_jwt
        .disclosures()
        .iter()
        .find(|d| d.name() == Some("address"))
        .expect("address disclosure");
    assert_eq!(address.value()["country"], "DE");
    assert_eq!(address.value()["_sd"].as_array().map(Vec::len), Some(4));
    assert_eq!(sd_jwt.disclosures().len(), 6);

    // And the whole issuance verifies, revealing everything.
    let verified =
        verify(&sd_jwt.to_compact(), &validation(), issuer.public_jwk()).expect("verifies");
    assert_eq!(verified.claims()["address"]["locality"], "Köln");
    assert_eq!(verified.claims()["nationalities"], json!(["DE", "FR"]));
}

#[tokio::test]
async fn selecting_a_nested_claim_reveals_its_parent_but_not_its_siblings() {
    let (issuer, sd_jwt) = issued().await;
    let selection = [ClaimPath::claim("address").name("locality")];
    let text = present(&sd_jwt, &selection, None, &Limits::default())
        .await
        .expect("presents");
    let verified = verify(&text, &validation(), issuer.public_jwk()).expect("verifies");
    assert_eq!(
        verified.claims()["address"],
        json!({"locality": "Köln", "country": "DE"})
    );
    assert!(verified.claims().get("given_name").is_none());
    assert_eq!(verified.claims()["nationalities"], json!(["DE"]));
}

#[tokio::test]
async fn selecting_a_parent_reveals_it_whole() {
    let (issuer, sd_jwt) = issued().await;
    let text = present(
        &sd_jwt,
        &[ClaimPath::claim("address")],
        None,
        &Limits::default(),
    )
    .await
    .expect("presents");
    let verified = verify(&text, &validation(), issuer.public_jwk()).expect("verifies");
    assert_eq!(
        verified.claims()["address"],
        json!({"street_address": "Heidestraße 17", "locality": "Köln", "country": "DE"})
    );
}

#[tokio::test]
async fn selecting_an_always_visible_claim_reveals_nothing_more() {
    let (issuer, sd_jwt) = issued().await;
    let text = present(
        &sd_jwt,
        &[ClaimPath::claim("iss")],
        None,
        &Limits::default(),
    )
    .await
    .expect("presents");
    assert!(text.ends_with(&format!("{}~", sd_jwt.jwt())));
    let verified = verify(&text, &validation(), issuer.public_jwk()).expect("verifies");
    assert!(verified.disclosed_paths().is_empty());
}

#[tokio::test]
async fn holder_parses_the_issuance_it_received() {
    let (_, sd_jwt) = issued().await;
    let parsed = SdJwt::parse(&sd_jwt.to_compact(), &Limits::default()).expect("parses");
    assert_eq!(parsed, sd_jwt);
}

#[tokio::test]
async fn holder_refuses_an_issuance_that_carries_a_kb_jwt() {
    let (_, sd_jwt) = issued().await;
    let text = format!("{}{}", sd_jwt.to_compact(), sd_jwt.jwt());
    assert_eq!(
        SdJwt::parse(&text, &Limits::default()),
        Err(immerse_sd_jwt::Error::IssuanceWithKeyBinding)
    );
}
