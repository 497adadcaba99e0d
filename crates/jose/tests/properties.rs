//! Property tests: the parsers of untrusted input never panic, and what we sign or encrypt
//! comes back unchanged.
use std::sync::LazyLock;

use immerse_jose::jwe::{ContentEncryption, DecryptionKey, KeyManagement, Policy, encrypt_compact};
use immerse_jose::jws::{self, EmbeddedJwk, SigningHeader, Validation};
use immerse_jose::{Curve, Error, PublicJwk, PublicJwkSet, Signer, SoftwareSigner, base64url, jwt};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

static SIGNER: LazyLock<SoftwareSigner> = LazyLock::new(|| SoftwareSigner::generate().unwrap());
static DECRYPTION_KEY: LazyLock<DecryptionKey> =
    LazyLock::new(|| DecryptionKey::generate(Curve::P256).unwrap());

/// Arbitrary JSON values, nested a few levels, with JWK-ish member names mixed in.
fn json_value() -> impl Strategy<Value = Value> {
    let name = prop_oneof![
        Just("kty".to_owned()),
        Just("crv".to_owned()),
        Just("x".to_owned()),
        Just("y".to_owned()),
        Just("n".to_owned()),
        Just("e".to_owned()),
        Just("d".to_owned()),
        Just("alg".to_owned()),
        Just("typ".to_owned()),
        Just("crit".to_owned()),
        Just("epk".to_owned()),
        "[a-z]{1,4}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just("EC".to_owned()),
            Just("P-256".to_owned()),
            Just("RSA".to_owned()),
            Just("OKP".to_owned()),
            Just("ES256".to_owned()),
            "[A-Za-z0-9_-]{0,64}",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((name.clone(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn compact(parts: &[Vec<u8>]) -> String {
    parts
        .iter()
        .map(base64url::encode)
        .collect::<Vec<_>>()
        .join(".")
}

proptest! {
    #[test]
    fn jwk_parser_never_panics_on_text(text in ".{0,256}") {
        let _ = PublicJwk::from_json(&text);
        let _ = PublicJwkSet::from_json(&text);
    }

    #[test]
    fn jwk_parser_never_panics_on_json(value in json_value()) {
        if let Ok(jwk) = PublicJwk::try_from(value) {
            // Whatever it accepted is public and usable.
            let object = jwk.to_object();
            prop_assert!(!object.contains_key("d") && !object.contains_key("k"));
            prop_assert_eq!(jwk.thumbprint().len(), 32);
        }
    }

    #[test]
    fn jwk_with_any_private_member_is_refused(member in prop::sample::select(vec!["d", "p", "q", "dp", "dq", "qi", "oth"]), value in json_value()) {
        let mut object = SIGNER.public_jwk().to_object();
        object.insert(member.to_owned(), value);
        prop_assert!(matches!(PublicJwk::from_object(object), Err(Error::PrivateKeyMember(_))));
    }

    #[test]
    fn jws_verifier_never_panics(text in "[A-Za-z0-9_.=-]{0,300}") {
        let _ = jws::verify_compact(&text, &Validation::new("t"), SIGNER.public_jwk());
        let _ = jwt::verify(&text, &jwt::Validation::new("t"), &EmbeddedJwk);
    }

    #[test]
    fn jws_verifier_never_panics_on_json_headers(header in json_value(), payload in any::<Vec<u8>>(), signature in prop::collection::vec(any::<u8>(), 0..100)) {
        let token = compact(&[header.to_string().into_bytes(), payload, signature]);
        let result = jws::verify_compact(&token, &Validation::new("t"), &EmbeddedJwk);
        prop_assert!(result.is_err());
    }

    #[test]
    fn jwe_decrypter_never_panics(header in json_value(), parts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..48), 4)) {
        let token = compact(&[header.to_string().into_bytes(), parts[0].clone(), parts[1].clone(), parts[2].clone(), parts[3].clone()]);
        prop_assert!(DECRYPTION_KEY.decrypt(&token, &Policy::default()).is_err());
        let _ = DECRYPTION_KEY.decrypt(&String::from_utf8_lossy(&parts[0]), &Policy::default());
    }

    #[test]
    fn sign_then_verify_round_trips(payload in any::<Vec<u8>>(), typ in "[a-z]{1,10}\\+jwt") {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let token = runtime.block_on(jws::sign_compact(&*SIGNER, &SigningHeader::new(typ.clone()), &payload)).unwrap();
        let verified = jws::verify_compact(&token, &Validation::new(&typ), SIGNER.public_jwk()).unwrap();
        prop_assert_eq!(&verified.payload, &payload);
    }

    #[test]
    fn encrypt_then_decrypt_round_trips(
        plaintext in any::<Vec<u8>>(),
        alg in prop::sample::select(KeyManagement::ALL.to_vec()),
        enc in prop::sample::select(ContentEncryption::ALL.to_vec()),
    ) {
        let extra = json!({"typ": "example"}).as_object().unwrap().clone();
        let token = encrypt_compact(&plaintext, DECRYPTION_KEY.public_jwk(), alg, enc, &extra).unwrap();
        let decrypted = DECRYPTION_KEY.decrypt(&token, &Policy::default()).unwrap();
        prop_assert_eq!(decrypted.plaintext, plaintext);
    }
}
