//! The examples of RFC 9901, verified with the example issuer key (appendix A.5) and, where the
//! RFC presents them with Key Binding, the example holder key found in their `cnf`.
use immerse_jose::PublicJwk;
use immerse_sd_jwt::{
    ClaimPath, KeyBindingPolicy, Validation, VcValidation, VerifiedSdJwt, verify, verify_vc,
};
use serde_json::{Value, json};

/// RFC 9901 appendix A.5: the issuer's public key.
fn issuer_key() -> PublicJwk {
    PublicJwk::from_json(
        r#"{"kty":"EC","crv":"P-256",
            "x":"b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ",
            "y":"Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8"}"#,
    )
    .expect("RFC 9901 A.5 key")
}

/// The example holder key, as it appears in the examples' `cnf.jwk`.
fn holder_key() -> PublicJwk {
    PublicJwk::from_json(
        r#"{"kty":"EC","crv":"P-256",
            "x":"TCAER19Zvu3OHF4j4W4vfSVoHIP1ILilDls7vCeGemc",
            "y":"ZxjiWWbZMQGHVWKVQ4hbSIirsVfuecCE6t4jT9F2HZQ"}"#,
    )
    .expect("example holder key")
}

/// The `iat` of the examples' KB-JWTs; the examples are judged at that instant.
const KB_IAT: i64 = 1_748_454_271;
const AUDIENCE: &str = "https://verifier.example.org";
const NONCE: &str = "1234567890";

fn example(name: &str) -> String {
    let path = format!("{}/tests/data/rfc9901/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("example file");
    text.split_whitespace().collect()
}

fn verify_example(name: &str, typ: &'static str, key_binding: bool) -> VerifiedSdJwt {
    let types: &'static [&'static str] = match typ {
        "dc+sd-jwt" => &["dc+sd-jwt"],
        _ => &["example+sd-jwt"],
    };
    let mut validation = Validation::new(types).at(KB_IAT);
    validation.require_exp = false;
    if key_binding {
        validation = validation.key_binding(KeyBindingPolicy::new(AUDIENCE, NONCE));
    }
    verify(&example(name), &validation, &issuer_key()).expect("RFC example verifies")
}

fn path(text: &str) -> ClaimPath {
    let mut path = ClaimPath::root();
    for element in text.split('.') {
        path = match element.split_once('[') {
            Some((name, index)) => {
                let index = index.trim_end_matches(']').parse().expect("index");
                if name.is_empty() {
                    path.index(index)
                } else {
                    path.name(name).index(index)
                }
            }
            None => path.name(element),
        };
    }
    path
}

fn paths(verified: &VerifiedSdJwt) -> Vec<String> {
    let mut paths: Vec<String> = verified
        .disclosed_paths()
        .iter()
        .map(ToString::to_string)
        .collect();
    paths.sort();
    paths
}

#[test]
fn section_5_1_issued_sd_jwt_discloses_every_claim() {
    let verified = verify_example("s5_1_issued.txt", "example+sd-jwt", false);
    let expected = json!({
        "iss": "https://issuer.example.com",
        "iat": 1683000000,
        "exp": 1883000000,
        "sub": "user_42",
        "nationalities": ["US", "DE"],
        "cnf": {"jwk": {
            "kty": "EC", "crv": "P-256",
            "x": "TCAER19Zvu3OHF4j4W4vfSVoHIP1ILilDls7vCeGemc",
            "y": "ZxjiWWbZMQGHVWKVQ4hbSIirsVfuecCE6t4jT9F2HZQ"
        }},
        "updated_at": 1570000000,
        "email": "johndoe@example.com",
        "phone_number": "+1-202-555-0101",
        "family_name": "Doe",
        "phone_number_verified": true,
        "address": {
            "street_address": "123 Main St",
            "locality": "Anytown",
            "region": "Anystate",
            "country": "US"
        },
        "birthdate": "1940-01-01",
        "given_name": "John"
    });
    assert_eq!(Value::Object(verified.claims().clone()), expected);
    assert_eq!(
        paths(&verified),
        [
            "address",
            "birthdate",
            "email",
            "family_name",
            "given_name",
            "nationalities[0]",
            "nationalities[1]",
            "phone_number",
            "phone_number_verified",
            "updated_at"
        ]
    );
    assert_eq!(verified.holder_key(), Some(&holder_key()));
    assert!(
        verified
            .disclosed_paths()
            .contains(&path("nationalities[1]"))
    );
}

#[test]
fn appendix_a1_structured_address_reveals_region_and_country() {
    let verified = verify_example("a1_presentation.txt", "example+sd-jwt", false);
    let expected = json!({
        "iss": "https://issuer.example.com",
        "iat": 1683000000,
        "exp": 1883000000,
        "address": {"region": "港区", "country": "JP"}
    });
    assert_eq!(Value::Object(verified.claims().clone()), expected);
    assert_eq!(paths(&verified), ["address.country", "address.region"]);
}

#[test]
fn appendix_a2_complex_structure_with_nested_array_disclosures() {
    let verified = verify_example("a2_presentation.txt", "example+sd-jwt", false);
    let expected = json!({
        "iss": "https://issuer.example.com",
        "iat": 1683000000,
        "exp": 1883000000,
        "verified_claims": {
            "verification": {
                "trust_framework": "de_aml",
                "time": "2012-04-23T18:25Z",
                "evidence": [{"method": "pipp"}]
            },
            "claims": {
                "given_name": "Max",
                "family_name": "Müller",
                "address": {
                    "locality": "Maxstadt",
                    "postal_code": "12344",
                    "country": "DE",
                    "street_address": "Weidenstraße 22"
                }
            }
        }
    });
    assert_eq!(Value::Object(verified.claims().clone()), expected);
    assert_eq!(
        paths(&verified),
        [
            "verified_claims.claims.address",
            "verified_claims.claims.family_name",
            "verified_claims.claims.given_name",
            "verified_claims.verification.evidence[0]",
            "verified_claims.verification.evidence[0].method",
            "verified_claims.verification.time",
        ]
    );
}

#[test]
fn appendix_a3_sd_jwt_vc_with_key_binding() {
    let verified = verify_example("a3_presentation_kb.txt", "dc+sd-jwt", true);
    let claims = verified.claims();
    assert_eq!(claims["vct"], "urn:eudi:pid:de:1");
    assert_eq!(claims["age_equal_or_over"], json!({"18": true}));
    assert_eq!(claims["nationalities"], json!(["DE"]));
    assert!(claims.get("given_name").is_none());
    let kb = verified.key_binding().expect("key binding verified");
    assert_eq!(
        (kb.iat, kb.aud.as_str(), kb.nonce.as_str()),
        (KB_IAT, AUDIENCE, NONCE)
    );
    assert_eq!(verified.holder_key(), Some(&holder_key()));

    // The same presentation through the SD-JWT VC layer.
    let mut validation = VcValidation::new();
    validation.base = validation
        .base
        .at(KB_IAT)
        .key_binding(KeyBindingPolicy::new(AUDIENCE, NONCE));
    validation.issuer = Some("https://pid-issuer.bund.de.example");
    let vc = verify_vc(
        &example("a3_presentation_kb.txt"),
        &validation,
        &issuer_key(),
    )
    .expect("A.3 verifies as an SD-JWT VC");
    assert_eq!(vc.vct(), "urn:eudi:pid:de:1");
    assert_eq!(vc.iat(), Some(1683000000));
    assert_eq!(vc.exp(), Some(1883000000));
}

#[test]
fn appendix_a4_w3c_payload_with_key_binding() {
    let verified = verify_example("a4_presentation_kb.txt", "example+sd-jwt", true);
    let subject = &verified.claims()["credentialSubject"];
    assert_eq!(subject["order"], "3/3");
    assert_eq!(subject["dateOfVaccination"], "2021-06-23T13:40:12Z");
    assert_eq!(subject["vaccine"]["atcCode"], "J07BX03");
    assert_eq!(
        subject["vaccine"]["medicinalProductName"],
        "COVID-19 Vaccine Moderna"
    );
    assert!(subject["recipient"].get("gender").is_none());
}
