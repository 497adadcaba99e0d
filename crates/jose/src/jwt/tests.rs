use serde_json::json;

use super::*;
use crate::{Signer, SoftwareSigner};

const TYP: &str = "example+jwt";
const NOW: i64 = 1_800_000_000;

async fn token(signer: &SoftwareSigner, claims: Value) -> String {
    sign(signer, &SigningHeader::new(TYP), &claims)
        .await
        .expect("signing")
}

fn validation() -> Validation<'static> {
    Validation::new(TYP).at(NOW)
}

#[tokio::test]
async fn valid_claims_pass_and_are_returned() {
    let signer = SoftwareSigner::generate().unwrap();
    let jwt = token(
        &signer,
        json!({"iss":"https://issuer","aud":["a","https://me"],"exp":NOW+10,"iat":NOW,"nbf":NOW}),
    )
    .await;
    let checked = validation().audience("https://me").issuer("https://issuer");
    let verified = verify(&jwt, &checked, signer.public_jwk()).expect("valid");
    assert_eq!(verified.claims["iss"], "https://issuer");
}

#[test]
fn time_claims_respect_the_skew() {
    let cases = [
        (
            json!({"exp": NOW - DEFAULT_SKEW_SECONDS}),
            Err(Error::Expired),
        ),
        (json!({"exp": NOW - DEFAULT_SKEW_SECONDS + 1}), Ok(())),
        (json!({}), Err(Error::MissingClaim("exp"))),
        (json!({"exp": "soon"}), Err(Error::InvalidClaim("exp"))),
        (
            json!({"exp": NOW + 100, "nbf": NOW + DEFAULT_SKEW_SECONDS + 1}),
            Err(Error::NotYetValid),
        ),
        (
            json!({"exp": NOW + 100, "nbf": NOW + DEFAULT_SKEW_SECONDS}),
            Ok(()),
        ),
        (
            json!({"exp": NOW + 100, "iat": NOW + DEFAULT_SKEW_SECONDS + 1}),
            Err(Error::IssuedInFuture),
        ),
        (json!({"exp": (NOW + 100) as f64 + 0.5}), Ok(())),
    ];
    for (claims, expected) in cases {
        let claims = claims.as_object().unwrap().clone();
        assert_eq!(check_claims(&claims, &validation()), expected, "{claims:?}");
    }
    let tight = Validation {
        skew_seconds: 0,
        ..validation()
    };
    let just_expired = json!({"exp": NOW}).as_object().unwrap().clone();
    assert_eq!(check_claims(&just_expired, &tight), Err(Error::Expired));
}

#[test]
fn audience_and_issuer_must_match() {
    let v = validation().audience("https://me").issuer("https://issuer");
    let cases = [
        (
            json!({"exp":NOW+1,"iss":"https://issuer","aud":"https://you"}),
            Error::AudienceMismatch("https://me".into()),
        ),
        (
            json!({"exp":NOW+1,"iss":"https://issuer","aud":["https://you"]}),
            Error::AudienceMismatch("https://me".into()),
        ),
        (
            json!({"exp":NOW+1,"iss":"https://issuer"}),
            Error::MissingClaim("aud"),
        ),
        (
            json!({"exp":NOW+1,"iss":"https://issuer","aud":7}),
            Error::InvalidClaim("aud"),
        ),
        (
            json!({"exp":NOW+1,"iss":"https://evil","aud":"https://me"}),
            Error::IssuerMismatch("https://issuer".into()),
        ),
        (
            json!({"exp":NOW+1,"aud":"https://me"}),
            Error::MissingClaim("iss"),
        ),
    ];
    for (claims, expected) in cases {
        let claims = claims.as_object().unwrap().clone();
        assert_eq!(check_claims(&claims, &v), Err(expected));
    }
}

#[tokio::test]
async fn claims_that_are_not_an_object_are_refused() {
    let signer = SoftwareSigner::generate().unwrap();
    let jwt = crate::jws::sign_compact(&signer, &SigningHeader::new(TYP), b"[1,2]")
        .await
        .unwrap();
    assert!(matches!(
        verify(&jwt, &validation(), signer.public_jwk()),
        Err(Error::Json {
            part: "JWT claims",
            ..
        })
    ));
}
