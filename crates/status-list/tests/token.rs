//! The Status List Token in JWT form (draft s5.1) and its validation (draft s8.3): each MUST
//! fed as a bad token, with the exact error.
use immerse_jose::jws::SigningHeader;
use immerse_jose::{Algorithm, Error as JoseError, PublicJwk, Signer, SoftwareSigner, jwt};
use immerse_status_list::{
    Bits, Status, StatusList, StatusListError, StatusListToken, StatusReference, TYP, Verifier,
};
use serde_json::{Value, json};

const URI: &str = "https://issuer.example/statuslists/1";
const NOW: i64 = 1_800_000_000;
const LIMIT: usize = 1 << 20;

fn verifier() -> Verifier<'static> {
    Verifier::new(LIMIT).at(NOW)
}

fn sample_list() -> StatusList {
    let mut list = StatusList::new(Bits::Four, 64);
    list.set(1, Status::Invalid).unwrap();
    list.set(2, Status::Suspended).unwrap();
    list.set(3, Status::Other(0x0C)).unwrap();
    list
}

fn sample_token() -> StatusListToken {
    StatusListToken {
        sub: URI.into(),
        iat: NOW - 10,
        exp: Some(NOW + 3600),
        ttl: Some(300),
        list: sample_list(),
    }
}

/// Signs arbitrary claims with an arbitrary `typ`, for tokens our signer would never make.
async fn raw(signer: &SoftwareSigner, typ: &str, claims: Value) -> String {
    jwt::sign(signer, &SigningHeader::new(typ), &claims)
        .await
        .unwrap()
}

fn good_claims() -> Value {
    Value::Object(sample_token().claims().unwrap())
}

#[tokio::test]
async fn signed_token_verifies_and_answers_each_index() {
    let signer = SoftwareSigner::generate().unwrap();
    let token = sample_token().sign(&signer).await.unwrap();
    let verified = verifier().verify(&token, URI, signer.public_jwk()).unwrap();
    assert_eq!(verified.sub(), URI);
    assert_eq!(verified.iat(), NOW - 10);
    assert_eq!(verified.exp(), Some(NOW + 3600));
    assert_eq!(verified.ttl(), Some(300));
    assert_eq!(verified.list().bits(), Bits::Four);
    assert_eq!(verified.status(0).unwrap(), Status::Valid);
    assert_eq!(verified.status(1).unwrap(), Status::Invalid);
    assert_eq!(verified.status(2).unwrap(), Status::Suspended);
    assert_eq!(verified.status(3).unwrap(), Status::Other(0x0C));
    assert!(verified.status(3).unwrap().is_application_specific());
    // s13.7: refresh after ttl, never after exp.
    assert_eq!(verified.refresh_at(NOW), Some(NOW + 300));
    assert_eq!(verified.refresh_at(NOW + 3500), Some(NOW + 3600));
}

#[tokio::test]
async fn header_is_explicitly_typed() {
    let signer = SoftwareSigner::generate().unwrap();
    let token = sample_token().sign(&signer).await.unwrap();
    let header: Value = {
        use base64::Engine;
        let part = token.split('.').next().unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    assert_eq!(header["typ"], TYP);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], signer.kid());
}

#[tokio::test]
async fn status_of_follows_the_reference() {
    let signer = SoftwareSigner::generate().unwrap();
    let token = sample_token().sign(&signer).await.unwrap();
    let keys = signer.public_jwk();
    let status = verifier()
        .status_of(&token, &StatusReference::new(1, URI), keys)
        .unwrap();
    assert_eq!(status, Status::Invalid);
    assert_eq!(
        verifier().status_of(
            &token,
            &StatusReference::new(1, "https://other.example/1"),
            keys
        ),
        Err(StatusListError::SubjectMismatch {
            expected: "https://other.example/1".into(),
            found: URI.into()
        })
    );
}

#[tokio::test]
async fn index_out_of_range_is_refused() {
    let signer = SoftwareSigner::generate().unwrap();
    let token = sample_token().sign(&signer).await.unwrap();
    let verified = verifier().verify(&token, URI, signer.public_jwk()).unwrap();
    for index in [64, 1 << 40, u64::MAX] {
        assert_eq!(
            verified.status(index),
            Err(StatusListError::IndexOutOfRange { index, len: 64 })
        );
    }
}

#[tokio::test]
async fn wrong_typ_is_refused() {
    let signer = SoftwareSigner::generate().unwrap();
    for typ in ["JWT", "statuslist+cwt", "dc+sd-jwt"] {
        let token = raw(&signer, typ, good_claims()).await;
        assert_eq!(
            verifier()
                .verify(&token, URI, signer.public_jwk())
                .unwrap_err(),
            StatusListError::Token(JoseError::UnexpectedType {
                expected: TYP.into(),
                found: Some(typ.into())
            }),
            "{typ}"
        );
    }
    // RFC 7515 s4.1.9: the `application/` prefix may be present.
    let token = raw(&signer, "application/statuslist+jwt", good_claims()).await;
    assert!(verifier().verify(&token, URI, signer.public_jwk()).is_ok());
}

#[tokio::test]
async fn sub_mismatch_is_refused() {
    let signer = SoftwareSigner::generate().unwrap();
    let token = sample_token().sign(&signer).await.unwrap();
    // Simple string comparison: no normalisation of case, slash or query.
    for expected in [
        "https://issuer.example/statuslists/2",
        "https://ISSUER.example/statuslists/1",
        "https://issuer.example/statuslists/1/",
    ] {
        assert_eq!(
            verifier()
                .verify(&token, expected, signer.public_jwk())
                .unwrap_err(),
            StatusListError::SubjectMismatch {
                expected: expected.into(),
                found: URI.into()
            }
        );
    }
}

#[tokio::test]
async fn expired_token_is_refused() {
    let signer = SoftwareSigner::generate().unwrap();
    let mut expired = sample_token();
    expired.iat = NOW - 7200;
    expired.exp = Some(NOW - 3600);
    let token = expired.sign(&signer).await.unwrap();
    assert_eq!(
        verifier()
            .verify(&token, URI, signer.public_jwk())
            .unwrap_err(),
        StatusListError::Token(JoseError::Expired)
    );
}

#[tokio::test]
async fn missing_exp_is_refused_unless_the_verifier_allows_it() {
    let signer = SoftwareSigner::generate().unwrap();
    let mut open_ended = sample_token();
    open_ended.exp = None;
    let token = open_ended.sign(&signer).await.unwrap();
    assert_eq!(
        verifier()
            .verify(&token, URI, signer.public_jwk())
            .unwrap_err(),
        StatusListError::Token(JoseError::MissingClaim("exp"))
    );
    let lenient = Verifier {
        require_exp: false,
        ..verifier()
    };
    let verified = lenient.verify(&token, URI, signer.public_jwk()).unwrap();
    assert_eq!(verified.exp(), None);
    assert_eq!(verified.refresh_at(NOW), Some(NOW + 300));
}

#[tokio::test]
async fn signature_by_another_key_is_refused() {
    let signer = SoftwareSigner::generate().unwrap();
    let other = SoftwareSigner::generate().unwrap();
    let token = sample_token().sign(&other).await.unwrap();
    // The trusted key, pinned without a kid: the signature itself fails.
    let mut object = signer.public_jwk().to_object();
    object.remove("kid");
    let pinned = PublicJwk::from_object(object).unwrap();
    assert_eq!(
        verifier().verify(&token, URI, &pinned).unwrap_err(),
        StatusListError::Token(JoseError::InvalidSignature)
    );
    // The trusted key with its kid: the token names a key the caller does not trust.
    assert_eq!(
        verifier()
            .verify(&token, URI, signer.public_jwk())
            .unwrap_err(),
        StatusListError::Token(JoseError::UnknownKey(other.kid().into()))
    );
}

#[tokio::test]
async fn tampered_payload_is_refused() {
    let signer = SoftwareSigner::generate().unwrap();
    let token = sample_token().sign(&signer).await.unwrap();
    let other = raw(&signer, TYP, json!({"sub": URI})).await;
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[1] = other.split('.').nth(1).unwrap();
    let spliced = parts.join(".");
    assert_eq!(
        verifier()
            .verify(&spliced, URI, signer.public_jwk())
            .unwrap_err(),
        StatusListError::Token(JoseError::InvalidSignature)
    );
}

#[tokio::test]
async fn algorithm_outside_the_allowlist_is_refused() {
    let signer = SoftwareSigner::generate().unwrap();
    let token = sample_token().sign(&signer).await.unwrap();
    let es384_only = verifier().with_algorithms(&[Algorithm::Es384]);
    assert_eq!(
        es384_only
            .verify(&token, URI, signer.public_jwk())
            .unwrap_err(),
        StatusListError::Token(JoseError::AlgorithmNotAllowed("ES256".into()))
    );
}

#[tokio::test]
async fn required_claims_are_checked() {
    let signer = SoftwareSigner::generate().unwrap();
    let bomb = {
        use std::io::Write;
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![0u8; 10_000_000]).unwrap();
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(encoder.finish().unwrap())
    };
    let edit = |change: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut claims = sample_token().claims().unwrap();
        change(&mut claims);
        Value::Object(claims)
    };
    let cases: Vec<(Value, StatusListError)> = vec![
        (
            edit(&|c| {
                c.remove("sub");
            }),
            StatusListError::MissingClaim("sub"),
        ),
        (
            edit(&|c| {
                c.insert("sub".into(), json!(1));
            }),
            StatusListError::InvalidClaim {
                claim: "sub",
                expected: "a string",
                found: "an integer",
            },
        ),
        (
            edit(&|c| {
                c.remove("iat");
            }),
            StatusListError::MissingClaim("iat"),
        ),
        (
            edit(&|c| {
                c.remove("status_list");
            }),
            StatusListError::MissingClaim("status_list"),
        ),
        (
            edit(&|c| {
                c.insert("ttl".into(), json!(0));
            }),
            StatusListError::InvalidTtl { found: "0".into() },
        ),
        (
            edit(&|c| {
                c.insert("ttl".into(), json!(-5));
            }),
            StatusListError::InvalidTtl { found: "-5".into() },
        ),
        (
            edit(&|c| {
                c.insert("ttl".into(), json!("300"));
            }),
            StatusListError::InvalidTtl {
                found: "\"300\"".into(),
            },
        ),
        (
            edit(&|c| {
                c.insert(
                    "status_list".into(),
                    json!({"bits": 3, "lst": "eNrbuRgAAhcBXQ"}),
                );
            }),
            StatusListError::InvalidBits { found: "3".into() },
        ),
        (
            edit(&|c| {
                c.insert("status_list".into(), json!({"bits": 1, "lst": bomb}));
            }),
            StatusListError::DecompressionBomb { limit: LIMIT },
        ),
    ];
    for (claims, expected) in cases {
        let token = raw(&signer, TYP, claims.clone()).await;
        assert_eq!(
            verifier()
                .verify(&token, URI, signer.public_jwk())
                .unwrap_err(),
            expected,
            "{claims}"
        );
    }
}

#[test]
fn signing_refuses_ttl_zero_and_exp_before_iat() {
    let mut token = sample_token();
    token.ttl = Some(0);
    assert_eq!(
        token.claims().unwrap_err(),
        StatusListError::InvalidTtl { found: "0".into() }
    );
    let mut token = sample_token();
    token.exp = Some(token.iat);
    assert_eq!(
        token.claims().unwrap_err(),
        StatusListError::ExpiryBeforeIssue {
            iat: token.iat,
            exp: token.iat
        }
    );
}

/// The response body of draft s8.2 (signed by a key the draft does not publish): it parses up
/// to the signature, which our key then refuses.
#[test]
fn draft_example_token_is_refused_with_another_key() {
    let token = concat!(
        "eyJhbGciOiJFUzI1NiIsImtpZCI6IjEyIiwidHlwIjoic3RhdHVzbGlzdCtqd3QifQ.e",
        "yJleHAiOjIyOTE3MjAxNzAsImlhdCI6MTY4NjkyMDE3MCwiaXNzIjoiaHR0cHM6Ly9le",
        "GFtcGxlLmNvbSIsInN0YXR1c19saXN0Ijp7ImJpdHMiOjEsImxzdCI6ImVOcmJ1UmdBQ",
        "WhjQlhRIn0sInN1YiI6Imh0dHBzOi8vZXhhbXBsZS5jb20vc3RhdHVzbGlzdHMvMSIsI",
        "nR0bCI6NDMyMDB9.2lKUUNG503R9htu4aHAYi7vjmr3sgApbfoDvPrl65N3URUO1EYqq",
        "Ql45Jfzd-Av4QzlKa3oVALpLwOEUOq-U_g"
    );
    let signer = SoftwareSigner::generate().unwrap();
    let mut object = signer.public_jwk().to_object();
    object.remove("kid");
    let stranger = PublicJwk::from_object(object).unwrap();
    assert_eq!(
        verifier()
            .verify(token, "https://example.com/statuslists/1", &stranger)
            .unwrap_err(),
        StatusListError::Token(JoseError::InvalidSignature)
    );
}
