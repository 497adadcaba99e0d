//! JWT (RFC 7519) on top of [`crate::jws`]: claim checks with a configurable clock skew.
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::jws::{self, KeySource, SigningHeader};
use crate::{Error, Signer, Verified, json};

/// The clock skew allowed where a caller configures none (SYSTEM.md s5).
pub const DEFAULT_SKEW_SECONDS: i64 = 60;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// What a verifier demands of a JWT beyond its JWS.
#[derive(Debug, Clone)]
pub struct Validation<'a> {
    pub jws: jws::Validation<'a>,
    pub skew_seconds: i64,
    /// The time to judge against; `None` reads the clock.
    pub now: Option<i64>,
    /// When set, `aud` (a string or an array) must contain it.
    pub audience: Option<&'a str>,
    /// When set, `iss` must equal it.
    pub issuer: Option<&'a str>,
    /// Every token we accept has `exp` (SYSTEM.md s5) unless a protocol says otherwise.
    pub require_exp: bool,
}

impl<'a> Validation<'a> {
    pub fn new(typ: &'a str) -> Self {
        Self {
            jws: jws::Validation::new(typ),
            skew_seconds: DEFAULT_SKEW_SECONDS,
            now: None,
            audience: None,
            issuer: None,
            require_exp: true,
        }
    }

    /// For JWTs without explicit typing; see [`jws::ExpectedType::Untyped`].
    pub fn untyped() -> Self {
        Self {
            jws: jws::Validation::untyped(),
            ..Self::new("")
        }
    }

    pub fn with_algorithms(mut self, algorithms: &'a [crate::Algorithm]) -> Self {
        self.jws.algorithms = algorithms;
        self
    }

    pub fn audience(mut self, audience: &'a str) -> Self {
        self.audience = Some(audience);
        self
    }

    pub fn issuer(mut self, issuer: &'a str) -> Self {
        self.issuer = Some(issuer);
        self
    }

    pub fn at(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }
}

/// A JWT whose signature and claims were checked.
#[derive(Debug, Clone)]
pub struct Jwt {
    pub header: jws::Header,
    pub claims: Map<String, Value>,
    pub key: crate::PublicJwk,
}

/// Verifies the JWS, then `exp`, `nbf`, `iat`, `aud` and `iss` as `validation` asks.
pub fn verify(
    token: &str,
    validation: &Validation<'_>,
    keys: &dyn KeySource,
) -> Result<Verified<Jwt>, Error> {
    let jws = jws::verify_compact(token, &validation.jws, keys)?.into_inner();
    let claims = json::parse_object(&jws.payload, "JWT claims")?;
    check_claims(&claims, validation)?;
    Ok(Verified::new(Jwt {
        header: jws.header,
        claims,
        key: jws.key,
    }))
}

/// The time checks of RFC 7519 s4.1.4-s4.1.6 and the `aud`/`iss` checks of s4.1.1, s4.1.3.
pub fn check_claims(claims: &Map<String, Value>, validation: &Validation<'_>) -> Result<(), Error> {
    let now = validation.now.unwrap_or_else(now);
    let skew = validation.skew_seconds;
    match date_claim(claims, "exp")? {
        Some(exp) if exp.saturating_add(skew) <= now => return Err(Error::Expired),
        None if validation.require_exp => return Err(Error::MissingClaim("exp")),
        _ => {}
    }
    if date_claim(claims, "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(skew)) {
        return Err(Error::NotYetValid);
    }
    if date_claim(claims, "iat")?.is_some_and(|iat| iat > now.saturating_add(skew)) {
        return Err(Error::IssuedInFuture);
    }
    if let Some(expected) = validation.audience {
        let listed = match claims.get("aud") {
            Some(Value::String(aud)) => aud == expected,
            Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(expected)),
            None => return Err(Error::MissingClaim("aud")),
            Some(_) => return Err(Error::InvalidClaim("aud")),
        };
        if !listed {
            return Err(Error::AudienceMismatch(expected.to_owned()));
        }
    }
    if let Some(expected) = validation.issuer {
        match claims.get("iss") {
            Some(Value::String(iss)) if iss == expected => {}
            Some(Value::String(_)) => return Err(Error::IssuerMismatch(expected.to_owned())),
            None => return Err(Error::MissingClaim("iss")),
            Some(_) => return Err(Error::InvalidClaim("iss")),
        }
    }
    Ok(())
}

/// The latest NumericDate accepted from outside: 9999-12-31T23:59:59Z. With dates in
/// 0..=this, every sum or difference with a lifetime or skew stays far inside `i64`.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// A NumericDate (RFC 7519 s2), floored to whole seconds (fractions are allowed); `None` for
/// anything but a number from 1970 to 9999.
pub fn numeric_date(value: &Value) -> Option<i64> {
    let Value::Number(number) = value else {
        return None;
    };
    number
        .as_i64()
        .or_else(|| {
            number
                .as_f64()
                .filter(|v| v.is_finite() && (0.0..=MAX_NUMERIC_DATE as f64).contains(v))
                .map(|v| v.floor() as i64)
        })
        .filter(|date| (0..=MAX_NUMERIC_DATE).contains(date))
}

fn date_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, Error> {
    claims
        .get(name)
        .map(|value| numeric_date(value).ok_or(Error::InvalidClaim(name)))
        .transpose()
}

/// Signs `claims` as a JWT with `signer` and `header`.
pub async fn sign(
    signer: &dyn Signer,
    header: &SigningHeader,
    claims: &impl Serialize,
) -> Result<String, Error> {
    let payload = serde_json::to_vec(claims).map_err(|err| Error::Signing(err.to_string()))?;
    jws::sign_compact(signer, header, &payload).await
}

#[cfg(test)]
mod tests;
