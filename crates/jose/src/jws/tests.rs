use serde_json::json;

use super::*;
use crate::SoftwareSigner;

const TYP: &str = "example+jwt";

fn signer() -> SoftwareSigner {
    SoftwareSigner::generate().unwrap()
}

async fn signed(signer: &SoftwareSigner, payload: &[u8]) -> String {
    sign_compact(signer, &SigningHeader::new(TYP), payload)
        .await
        .expect("signing")
}

/// Re-encodes the header of `token` after `edit`, keeping payload and signature.
fn with_header(token: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut header: Map<String, Value> =
        serde_json::from_slice(&base64url::decode(&parts[0], "test").unwrap()).unwrap();
    edit(&mut header);
    parts[0] = base64url::encode(serde_json::to_vec(&header).unwrap());
    parts.join(".")
}

fn set_of(signer: &SoftwareSigner) -> PublicJwkSet {
    PublicJwkSet {
        keys: vec![signer.public_jwk().clone()],
    }
}

#[tokio::test]
async fn signed_token_verifies_with_key_found_by_kid() {
    let signer = signer();
    let token = signed(&signer, b"hello").await;
    let jws = verify_compact(&token, &Validation::new(TYP), &set_of(&signer)).expect("verifies");
    assert_eq!(jws.payload, b"hello");
    assert_eq!(jws.header.kid.as_deref(), Some(signer.kid()));
    assert_eq!(jws.header.alg, Algorithm::Es256);
}

#[tokio::test]
async fn typ_must_be_the_expected_one() {
    let signer = signer();
    let token = signed(&signer, b"x").await;
    let err = verify_compact(&token, &Validation::new("other+jwt"), &set_of(&signer)).unwrap_err();
    assert_eq!(
        err,
        Error::UnexpectedType {
            expected: "other+jwt".into(),
            found: Some(TYP.into())
        }
    );
    // RFC 7515 s4.1.9: the application/ prefix is optional and case does not matter.
    let prefixed = with_header(&token, |h| {
        h.insert("typ".into(), json!("Application/EXAMPLE+jwt"));
    });
    assert_eq!(
        verify_compact(&prefixed, &Validation::new(TYP), &set_of(&signer)).unwrap_err(),
        Error::InvalidSignature,
        "header accepted as typed; only the edit broke the signature"
    );
}

#[tokio::test]
async fn missing_typ_is_refused() {
    let signer = signer();
    let untyped = with_header(&signed(&signer, b"x").await, |h| {
        h.remove("typ");
    });
    assert_eq!(
        verify_compact(&untyped, &Validation::new(TYP), &set_of(&signer)).unwrap_err(),
        Error::UnexpectedType {
            expected: TYP.into(),
            found: None
        }
    );
}

#[tokio::test]
async fn untyped_validation_accepts_only_no_typ_or_jwt() {
    let signer = signer();
    let generic = sign_compact(&signer, &SigningHeader::new("JWT"), b"x")
        .await
        .unwrap();
    assert!(verify_compact(&generic, &Validation::untyped(), &set_of(&signer)).is_ok());
    let without_typ = with_header(&generic, |h| {
        h.remove("typ");
    });
    assert_eq!(
        verify_compact(&without_typ, &Validation::untyped(), &set_of(&signer)).unwrap_err(),
        Error::InvalidSignature,
        "header accepted as untyped; only the edit broke the signature"
    );
    // An explicitly typed token is something else and must not pass as an untyped one.
    assert_eq!(
        verify_compact(
            &signed(&signer, b"x").await,
            &Validation::untyped(),
            &set_of(&signer)
        )
        .unwrap_err(),
        Error::UnexpectedType {
            expected: "none, or JWT".into(),
            found: Some(TYP.into())
        }
    );
}

#[tokio::test]
async fn alg_none_is_refused() {
    let signer = signer();
    let token = signed(&signer, b"x").await;
    let unsigned = with_header(&token, |h| {
        h.insert("alg".into(), json!("none"));
    });
    let unsigned = format!("{}.", unsigned.rsplit_once('.').unwrap().0);
    assert_eq!(
        verify_compact(&unsigned, &Validation::new(TYP), &set_of(&signer)).unwrap_err(),
        Error::AlgorithmNotAllowed("none".into())
    );
}

#[tokio::test]
async fn hmac_with_the_public_key_as_secret_is_refused() {
    let signer = signer();
    let public_pem = signer.public_jwk().to_spki_pem().unwrap();
    let header = json!({"alg":"HS256","typ":TYP,"kid":signer.kid()});
    let input = format!(
        "{}.{}",
        base64url::encode(header.to_string()),
        base64url::encode("x")
    );
    let key = openssl::pkey::PKey::hmac(public_pem.as_bytes()).unwrap();
    let mut mac = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    let tag = mac.sign_oneshot_to_vec(input.as_bytes()).unwrap();
    let token = format!("{input}.{}", base64url::encode(tag));
    assert_eq!(
        verify_compact(&token, &Validation::new(TYP), &set_of(&signer)).unwrap_err(),
        Error::AlgorithmNotAllowed("HS256".into())
    );
}

#[tokio::test]
async fn algorithm_outside_the_allowlist_is_refused() {
    let signer = signer();
    let token = signed(&signer, b"x").await;
    let validation = Validation::new(TYP).with_algorithms(&[Algorithm::Es384]);
    assert_eq!(
        verify_compact(&token, &validation, &set_of(&signer)).unwrap_err(),
        Error::AlgorithmNotAllowed("ES256".into())
    );
}

#[tokio::test]
async fn unknown_critical_extensions_are_refused() {
    let signer = signer();
    let token = signed(&signer, b"x").await;
    let cases = [
        (
            json!(["ext"]),
            Some(json!(1)),
            Error::UnknownCritical("ext".into()),
        ),
        (
            json!(["b64"]),
            Some(json!(false)),
            Error::UnknownCritical("b64".into()),
        ),
        (json!(["alg"]), None, Error::UnknownCritical("alg".into())),
        (
            json!([]),
            None,
            Error::MalformedJws("crit must be a non-empty array"),
        ),
    ];
    for (crit, member, expected) in cases {
        let edited = with_header(&token, |h| {
            if let Some(Value::String(name)) = crit.get(0)
                && let Some(value) = &member
            {
                h.insert(name.clone(), value.clone());
            }
            h.insert("crit".into(), crit.clone());
        });
        assert_eq!(
            verify_compact(&edited, &Validation::new(TYP), &set_of(&signer)).unwrap_err(),
            expected
        );
    }
}

#[tokio::test]
async fn key_lookup_never_falls_back() {
    let signer = signer();
    let token = signed(&signer, b"x").await;
    let no_kid = with_header(&token, |h| {
        h.remove("kid");
    });
    assert_eq!(
        verify_compact(&no_kid, &Validation::new(TYP), &set_of(&signer)).unwrap_err(),
        Error::MissingKid
    );
    let other = SoftwareSigner::generate().unwrap();
    assert_eq!(
        verify_compact(&token, &Validation::new(TYP), &set_of(&other)).unwrap_err(),
        Error::UnknownKey(signer.kid().into())
    );
    assert_eq!(
        verify_compact(&token, &Validation::new(TYP), other.public_jwk()).unwrap_err(),
        Error::UnknownKey(signer.kid().into())
    );
    // jku is never fetched: the key still has to come from the caller's source.
    let with_jku = with_header(&token, |h| {
        h.insert("jku".into(), json!("https://127.0.0.1:1/jwks"));
    });
    assert_eq!(
        verify_compact(&with_jku, &Validation::new(TYP), &set_of(&other)).unwrap_err(),
        Error::UnknownKey(signer.kid().into())
    );
}

#[tokio::test]
async fn tampered_payload_fails_the_signature() {
    let signer = signer();
    let token = signed(&signer, b"pay 10").await;
    let (head, rest) = token.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let forged = format!("{head}.{}.{signature}", base64url::encode("pay 99"));
    assert_eq!(
        verify_compact(&forged, &Validation::new(TYP), &set_of(&signer)).unwrap_err(),
        Error::InvalidSignature
    );
}

#[tokio::test]
async fn embedded_jwk_is_parsed_strictly() {
    let signer = signer();
    let header = SigningHeader::new(TYP).embed_jwk();
    let token = sign_compact(&signer, &header, b"proof").await.unwrap();
    let jws = verify_compact(&token, &Validation::new(TYP), &EmbeddedJwk).expect("verifies");
    assert_eq!(jws.key.thumbprint(), signer.public_jwk().thumbprint());

    let with_private = with_header(&token, |h| {
        h["jwk"]
            .as_object_mut()
            .unwrap()
            .insert("d".into(), json!("AAAA"));
    });
    assert_eq!(
        verify_compact(&with_private, &Validation::new(TYP), &EmbeddedJwk).unwrap_err(),
        Error::PrivateKeyMember("d")
    );
    let plain = signed(&signer, b"x").await;
    assert_eq!(
        verify_compact(&plain, &Validation::new(TYP), &EmbeddedJwk).unwrap_err(),
        Error::MissingEmbeddedKey
    );
}

#[tokio::test]
async fn structural_damage_is_refused() {
    let signer = signer();
    let token = signed(&signer, b"x").await;
    for broken in ["a.b", "a.b.c.d", ""] {
        assert_eq!(
            verify_compact(broken, &Validation::new(TYP), &set_of(&signer)).unwrap_err(),
            Error::MalformedJws("a compact JWS has three parts")
        );
    }
    let padded = format!("{token}=");
    assert_eq!(
        verify_compact(&padded, &Validation::new(TYP), &set_of(&signer)).unwrap_err(),
        Error::Base64("JWS signature")
    );
    let header = base64url::encode(format!(r#"{{"alg":"ES256","typ":"{TYP}","alg":"ES256"}}"#));
    let duplicated = format!("{header}.{}", token.split_once('.').unwrap().1);
    assert_eq!(
        verify_compact(&duplicated, &Validation::new(TYP), &set_of(&signer)).unwrap_err(),
        Error::DuplicateMember("alg".into())
    );
}

#[tokio::test]
async fn es256_header_with_rsa_key_is_refused() {
    let signer = signer();
    let token = signed(&signer, b"x").await;
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let rsa_jwk = PublicJwk::try_from(json!({
        "kty":"RSA","kid": signer.kid(),
        "n": base64url::encode(rsa.n().to_vec()), "e": base64url::encode(rsa.e().to_vec())
    }))
    .unwrap();
    assert_eq!(
        verify_compact(&token, &Validation::new(TYP), &rsa_jwk).unwrap_err(),
        Error::KeyAlgorithmMismatch("ES256")
    );
}

/// ES384 and EdDSA verify when the caller allows them; tokens made by josekit as a second
/// implementation.
#[test]
fn es384_and_eddsa_verify_when_configured() {
    use josekit::jwk::alg::ed::EdCurve;
    use josekit::jws::{ES384, EdDSA, JwsHeader};
    let mut header = JwsHeader::new();
    header.set_token_type(TYP);
    let es384 = ES384.generate_key_pair().unwrap();
    let ed = EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap();
    let cases = [
        (
            josekit::jws::serialize_compact(
                b"x",
                &header,
                &ES384.signer_from_jwk(&es384.to_jwk_private_key()).unwrap(),
            )
            .unwrap(),
            es384.to_jwk_public_key(),
            Algorithm::Es384,
        ),
        (
            josekit::jws::serialize_compact(
                b"x",
                &header,
                &EdDSA.signer_from_jwk(&ed.to_jwk_private_key()).unwrap(),
            )
            .unwrap(),
            ed.to_jwk_public_key(),
            Algorithm::EdDsa,
        ),
    ];
    for (token, public, alg) in cases {
        let key = PublicJwk::from_object(public.as_ref().clone()).unwrap();
        assert_eq!(
            verify_compact(&token, &Validation::new(TYP), &key).unwrap_err(),
            Error::AlgorithmNotAllowed(alg.name().into()),
            "not allowed by default"
        );
        let allowed = [alg];
        let jws = verify_compact(
            &token,
            &Validation::new(TYP).with_algorithms(&allowed),
            &key,
        )
        .expect("verifies");
        assert_eq!(jws.header.alg, alg);
    }
}
