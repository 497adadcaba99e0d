use serde_json::json;

use super::*;
use crate::{Signer, SoftwareSigner};

/// RFC 7517 appendix A.1, first key.
const RFC7517_EC: &str = r#"{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"enc","kid":"1"}"#;

/// RFC 7638 s3.1, whose thumbprint is given in the RFC.
const RFC7638_RSA: &str = r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#;

fn object(text: &str) -> Map<String, Value> {
    serde_json::from_str(text).expect("test JSON")
}

#[test]
fn rfc7638_thumbprint_example() {
    let jwk = PublicJwk::from_json(RFC7638_RSA).expect("RFC 7638 key parses");
    assert_eq!(
        jwk.thumbprint_b64(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    assert_eq!(jwk.kid(), Some("2011-04-29"));
}

#[test]
fn rfc7517_ec_key_parses_with_metadata() {
    let jwk = PublicJwk::from_json(RFC7517_EC).expect("RFC 7517 key parses");
    assert_eq!(jwk.curve(), Some(Curve::P256));
    assert_eq!(jwk.key_use(), Some(KeyUse::Enc));
    let back = PublicJwk::try_from(Value::from(jwk.clone())).expect("round trip");
    assert_eq!(back, jwk);
}

#[test]
fn every_private_member_is_refused_with_its_name() {
    for member in PRIVATE_MEMBERS {
        let mut jwk = object(RFC7517_EC);
        jwk.insert(member.to_owned(), json!("AAAA"));
        assert_eq!(
            PublicJwk::from_object(jwk),
            Err(Error::PrivateKeyMember(member)),
            "{member}"
        );
    }
}

#[test]
fn symmetric_key_is_refused() {
    let jwk = object(r#"{"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg"}"#);
    assert_eq!(PublicJwk::from_object(jwk), Err(Error::SymmetricKey));
}

#[test]
fn unknown_key_types_and_curves_are_refused() {
    assert_eq!(
        PublicJwk::from_json(r#"{"kty":"XYZ"}"#),
        Err(Error::UnsupportedKeyType("XYZ".into()))
    );
    for crv in ["P-521", "secp256k1", "brainpoolP256r1"] {
        let mut jwk = object(RFC7517_EC);
        jwk.insert("crv".into(), json!(crv));
        assert_eq!(
            PublicJwk::from_object(jwk),
            Err(Error::UnsupportedCurve(crv.into()))
        );
    }
    let x25519 =
        r#"{"kty":"OKP","crv":"X25519","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}"#;
    assert_eq!(
        PublicJwk::from_json(x25519),
        Err(Error::UnsupportedCurve("X25519".into()))
    );
}

#[test]
fn point_off_the_curve_is_refused() {
    let mut jwk = object(RFC7517_EC);
    let mut y = base64url::decode(jwk["y"].as_str().unwrap(), "y").unwrap();
    y[31] ^= 1;
    jwk.insert("y".into(), json!(base64url::encode(&y)));
    assert_eq!(PublicJwk::from_object(jwk), Err(Error::PointNotOnCurve));
}

#[test]
fn short_coordinates_are_refused() {
    let mut jwk = object(RFC7517_EC);
    jwk.insert("x".into(), json!(base64url::encode([1u8; 31])));
    assert!(matches!(
        PublicJwk::from_object(jwk),
        Err(Error::MalformedJwk(_))
    ));
}

#[test]
fn rsa_under_2048_bits_is_refused() {
    let rsa = Rsa::generate(1024).expect("RSA 1024");
    let jwk = json!({"kty":"RSA","n": base64url::encode(rsa.n().to_vec()),"e": base64url::encode(rsa.e().to_vec())});
    assert_eq!(PublicJwk::try_from(jwk), Err(Error::RsaKeyTooSmall(1024)));
}

#[test]
fn spki_pem_round_trips_for_each_key_type() {
    let ec = SoftwareSigner::generate().unwrap().public_jwk().clone();
    let rsa = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let ed = PKey::generate_ed25519().unwrap();
    let rsa_pem = String::from_utf8(rsa.public_key_to_pem().unwrap()).unwrap();
    let ed_pem = String::from_utf8(ed.public_key_to_pem().unwrap()).unwrap();
    for pem in [ec.to_spki_pem().unwrap(), rsa_pem, ed_pem] {
        let jwk = PublicJwk::from_spki_pem(&pem).expect("SPKI parses");
        assert_eq!(jwk.to_spki_pem().unwrap(), pem);
    }
    assert_eq!(
        PublicJwk::from_spki_pem(&ec.to_spki_pem().unwrap())
            .unwrap()
            .material(),
        ec.material()
    );
}

#[test]
fn small_rsa_spki_is_refused() {
    let rsa = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
    let pem = String::from_utf8(rsa.public_key_to_pem().unwrap()).unwrap();
    assert_eq!(
        PublicJwk::from_spki_pem(&pem),
        Err(Error::RsaKeyTooSmall(1024))
    );
}

#[test]
fn key_algorithm_fit_is_checked() {
    let ec = PublicJwk::from_json(RFC7517_EC).unwrap();
    // RFC 7517's key says use=enc: it must not verify signatures.
    assert_eq!(
        ec.check_algorithm(Algorithm::Es256),
        Err(Error::KeyAlgorithmMismatch("ES256"))
    );
    let sig = SoftwareSigner::generate().unwrap().public_jwk().clone();
    assert_eq!(sig.check_algorithm(Algorithm::Es256), Ok(()));
    assert_eq!(
        sig.check_algorithm(Algorithm::Es384),
        Err(Error::KeyAlgorithmMismatch("ES384"))
    );
    let rsa = PublicJwk::from_json(RFC7638_RSA).unwrap();
    assert_eq!(
        rsa.check_algorithm(Algorithm::Ps256),
        Err(Error::KeyAlgorithmMismatch("PS256"))
    );
}

#[test]
fn jwk_set_finds_by_kid_and_refuses_a_private_member() {
    let set =
        PublicJwkSet::from_json(&format!(r#"{{"keys":[{RFC7517_EC},{RFC7638_RSA}]}}"#)).unwrap();
    assert!(set.find("2011-04-29").is_some());
    assert!(set.find("nope").is_none());
    let with_private = RFC7517_EC.replace(r#""kid":"1""#, r#""kid":"1","d":"AAAA""#);
    assert_eq!(
        PublicJwkSet::from_json(&format!(r#"{{"keys":[{with_private}]}}"#)),
        Err(Error::PrivateKeyMember("d"))
    );
}
