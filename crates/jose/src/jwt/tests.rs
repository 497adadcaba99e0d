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

/// Dates from outside are numbers from 1970 to 9999; anything else is refused, and no date
/// or skew, however large, overflows (a debug build would panic).
#[test]
fn numeric_dates_out_of_range_are_refused_without_overflow() {
    for exp in [
        json!(i64::MAX),
        json!(u64::MAX),
        json!(-1),
        json!(MAX_NUMERIC_DATE + 1),
        json!(1e300),
        json!(-0.5),
    ] {
        let claims = json!({"exp": exp}).as_object().unwrap().clone();
        assert_eq!(
            check_claims(&claims, &validation()),
            Err(Error::InvalidClaim("exp")),
            "{exp}"
        );
    }
    let far = json!({"exp": MAX_NUMERIC_DATE, "nbf": 0, "iat": 0})
        .as_object()
        .unwrap()
        .clone();
    let extreme = Validation {
        skew_seconds: i64::MAX,
        now: Some(MAX_NUMERIC_DATE),
        ..validation()
    };
    assert_eq!(check_claims(&far, &extreme), Ok(()));
}

proptest::proptest! {
    #[test]
    fn time_checks_never_panic(exp: i64, nbf: i64, iat: i64, now: i64, skew: i64) {
        let claims = json!({"exp": exp, "nbf": nbf, "iat": iat}).as_object().unwrap().clone();
        let checked = Validation { skew_seconds: skew, ..Validation::new(TYP).at(now) };
        let _ = check_claims(&claims, &checked);
    }
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
