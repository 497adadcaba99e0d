//! Verification (RFC 9901 s7.1, s7.3): only [`verify`] makes a [`VerifiedSdJwt`].
use immerse_jose::jws::{self, ExpectedType, KeySource};
use immerse_jose::{Algorithm, PublicJwk, jwt};
use serde_json::{Map, Value};

use crate::compact::split;
use crate::disclosure::SD_ALG;
use crate::present::{KB_CLAIMS, KB_TYP, sd_hash};
use crate::process::process;
use crate::{ClaimPath, Disclosure, Error, Limits, json};

/// What the verifier demands of a KB-JWT (RFC 9901 s7.3).
#[derive(Debug, Clone, Copy)]
pub struct KeyBindingPolicy<'a> {
    /// `aud` must equal this.
    pub audience: &'a str,
    /// `nonce` must equal this.
    pub nonce: &'a str,
    /// `iat` may be at most this old (plus skew).
    pub max_age_seconds: i64,
    pub algorithms: &'a [Algorithm],
}

impl<'a> KeyBindingPolicy<'a> {
    /// Expects this audience and nonce, an `iat` no older than 5 minutes, and ES256.
    pub fn new(audience: &'a str, nonce: &'a str) -> Self {
        Self {
            audience,
            nonce,
            max_age_seconds: 300,
            algorithms: Algorithm::DEFAULT_ALLOWED,
        }
    }
}

/// What a verifier demands of an SD-JWT.
#[derive(Debug, Clone)]
pub struct Validation<'a> {
    /// Accepted issuer JWT `typ` values (RFC 9901 s9.11; compared as RFC 7515 s4.1.9 says).
    pub types: &'a [&'a str],
    /// Issuer signature algorithms; `none` cannot be named (RFC 9901 s7.1 step 2.1).
    pub algorithms: &'a [Algorithm],
    /// `Some`: a KB-JWT is required and checked against it. `None`: a presentation that carries
    /// a KB-JWT is refused, since nothing it binds to could be checked.
    pub key_binding: Option<KeyBindingPolicy<'a>>,
    pub skew_seconds: i64,
    /// The time to judge against; `None` reads the clock.
    pub now: Option<i64>,
    /// Whether `exp` must be present (SYSTEM.md: every token we accept has one).
    pub require_exp: bool,
    pub limits: Limits,
}

impl<'a> Validation<'a> {
    /// Expects `typ`, ES256, no Key Binding, 60 s skew, `exp` required.
    pub fn new(types: &'a [&'a str]) -> Self {
        Self {
            types,
            algorithms: Algorithm::DEFAULT_ALLOWED,
            key_binding: None,
            skew_seconds: jwt::DEFAULT_SKEW_SECONDS,
            now: None,
            require_exp: true,
            limits: Limits::default(),
        }
    }

    pub fn key_binding(mut self, policy: KeyBindingPolicy<'a>) -> Self {
        self.key_binding = Some(policy);
        self
    }

    pub fn at(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }
}

/// The claims of a KB-JWT that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBindingClaims {
    pub iat: i64,
    pub aud: String,
    pub nonce: String,
    /// Every other claim of the KB-JWT (all but `iat`, `aud`, `nonce`, `sd_hash`): what a
    /// protocol on top of RFC 9901 binds, for its own checks (OpenID4VP 1.0 appendix B.3.3
    /// `transaction_data_hashes`). RFC 9901 s7.3 leaves them to the application.
    pub extra: Map<String, Value>,
}

/// An SD-JWT whose issuer signature, disclosures, time claims and (when required) Key Binding
/// verified. Its fields are private and only [`verify`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedSdJwt {
    header: jws::Header,
    issuer_key: PublicJwk,
    claims: Map<String, Value>,
    disclosed: Vec<ClaimPath>,
    holder_key: Option<PublicJwk>,
    key_binding: Option<KeyBindingClaims>,
}

impl VerifiedSdJwt {
    /// The processed payload: disclosed claims in place, `_sd`, `_sd_alg` and `...` removed.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The path of every claim that was disclosed, in the order it was found.
    pub fn disclosed_paths(&self) -> &[ClaimPath] {
        &self.disclosed
    }

    /// `cnf.jwk`, when the issuer bound the SD-JWT to a holder key.
    pub fn holder_key(&self) -> Option<&PublicJwk> {
        self.holder_key.as_ref()
    }

    pub fn key_binding(&self) -> Option<&KeyBindingClaims> {
        self.key_binding.as_ref()
    }

    pub fn header(&self) -> &jws::Header {
        &self.header
    }

    /// The issuer key that verified the signature.
    pub fn issuer_key(&self) -> &PublicJwk {
        &self.issuer_key
    }
}

/// Verifies a presentation (or an issued SD-JWT, when no Key Binding is asked for) against
/// `validation`, with the issuer key `issuer_keys` returns.
pub fn verify(
    presentation: &str,
    validation: &Validation<'_>,
    issuer_keys: &dyn KeySource,
) -> Result<VerifiedSdJwt, Error> {
    let limits = &validation.limits;
    // RFC 9901 s7.1 step 1: separate the issuer JWT, the disclosures and the KB-JWT.
    let parts = split(presentation, limits)?;

    // RFC 9901 s7.1 steps 2.1-2.3: the issuer signature, with a `typ` and algorithm the caller
    // named, by a key the caller's key source vouches for.
    let jws = verify_issuer_jwt(parts.jwt, validation, issuer_keys)?;
    let payload = json::parse_object(&jws.payload, "JWT payload", limits.max_depth)?;
    // RFC 9901 s7.1 step 2.4: `_sd_alg` (default sha-256, s4.1.1) must be supported.
    match payload.get("_sd_alg") {
        None => {}
        Some(Value::String(alg)) if alg == SD_ALG => {}
        Some(other) => {
            return Err(Error::UnsupportedSdAlg(
                other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_owned),
            ));
        }
    }

    // RFC 9901 s7.1 step 3.1: each disclosure parsed and hashed over its text as received;
    // steps 3.2-5 in `process`.
    let disclosures = parts
        .disclosures
        .iter()
        .map(|encoded| Disclosure::parse(encoded, limits.max_depth))
        .collect::<Result<Vec<_>, _>>()?;
    let processed = process(payload, &disclosures, limits.max_depth)?;
    let claims = processed.claims;

    // RFC 9901 s7.1 step 6: time claims of the processed payload.
    check_times(&claims, validation)?;

    let holder_key = holder_key(&claims)?;
    // RFC 9901 s7.3 steps 1-2: Key Binding as the verifier's policy says, never as the
    // presentation suggests.
    let key_binding = match (&validation.key_binding, parts.key_binding) {
        (Some(_), None) => return Err(Error::KeyBindingRequired),
        (None, Some(_)) => return Err(Error::UnexpectedKeyBinding),
        (None, None) => None,
        (Some(policy), Some(kb_jwt)) => {
            let key = holder_key.as_ref().ok_or(Error::MissingHolderKey)?;
            Some(verify_key_binding(
                kb_jwt,
                parts.sd_jwt,
                key,
                policy,
                validation,
            )?)
        }
    };
    Ok(VerifiedSdJwt {
        header: jws.header,
        issuer_key: jws.key,
        claims,
        disclosed: processed
            .disclosed
            .into_iter()
            .map(|(path, _)| path)
            .collect(),
        holder_key,
        key_binding,
    })
}

fn verify_issuer_jwt(
    token: &str,
    validation: &Validation<'_>,
    keys: &dyn KeySource,
) -> Result<jws::Jws, Error> {
    let mut last = Error::IssuerTypeMismatch(None);
    // jose refuses a `typ` mismatch before it looks for a key, so trying each accepted type is
    // cheap and no signature is checked twice.
    for typ in validation.types {
        let jws_validation = jws::Validation {
            typ: ExpectedType::Named(typ),
            algorithms: validation.algorithms,
            understood_critical: &[],
        };
        match jws::verify_compact(token, &jws_validation, keys) {
            Ok(verified) => return Ok(verified.into_inner()),
            Err(immerse_jose::Error::UnexpectedType { found, .. }) => {
                last = Error::IssuerTypeMismatch(found);
            }
            Err(immerse_jose::Error::AlgorithmNotAllowed(alg)) => {
                return Err(Error::IssuerAlgorithmNotAllowed(alg));
            }
            Err(immerse_jose::Error::InvalidSignature) => {
                return Err(Error::IssuerSignatureInvalid);
            }
            Err(other) => return Err(Error::IssuerJwt(other)),
        }
    }
    Err(last)
}

/// `exp` and `nbf` with the configured skew (RFC 7519 s4.1.4, s4.1.5).
fn check_times(claims: &Map<String, Value>, validation: &Validation<'_>) -> Result<(), Error> {
    let now = validation.now.unwrap_or_else(jwt::now);
    let skew = validation.skew_seconds;
    match numeric_date(claims.get("exp"), "exp")? {
        Some(exp) if exp.saturating_add(skew) <= now => return Err(Error::Expired),
        None if validation.require_exp => return Err(Error::MissingClaim("exp")),
        _ => {}
    }
    if numeric_date(claims.get("nbf"), "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(skew)) {
        return Err(Error::NotYetValid);
    }
    Ok(())
}

/// A NumericDate, floored to whole seconds (RFC 7519 s2 allows fractions).
pub(crate) fn numeric_date(
    value: Option<&Value>,
    name: &'static str,
) -> Result<Option<i64>, Error> {
    value
        .map(|value| jwt::numeric_date(value).ok_or(Error::InvalidClaim(name)))
        .transpose()
}

/// `cnf.jwk` (RFC 7800 s3.2), parsed as a public key: a private member is refused.
fn holder_key(claims: &Map<String, Value>) -> Result<Option<PublicJwk>, Error> {
    match claims.get("cnf") {
        None => Ok(None),
        Some(Value::Object(cnf)) => match cnf.get("jwk") {
            None => Ok(None),
            Some(jwk) => PublicJwk::try_from(jwk.clone())
                .map(Some)
                .map_err(Error::InvalidHolderKey),
        },
        Some(_) => Err(Error::InvalidClaim("cnf")),
    }
}

/// RFC 9901 s7.3 step 5.
fn verify_key_binding(
    token: &str,
    sd_jwt: &str,
    holder_key: &PublicJwk,
    policy: &KeyBindingPolicy<'_>,
    validation: &Validation<'_>,
) -> Result<KeyBindingClaims, Error> {
    let jws_validation = jws::Validation::new(KB_TYP).with_algorithms(policy.algorithms);
    // Steps 5.1-5.4: the cnf key, an allowed algorithm (never `none`), its signature, `typ`
    // kb+jwt.
    let jws = match jws::verify_compact(token, &jws_validation, holder_key) {
        Ok(verified) => verified.into_inner(),
        Err(immerse_jose::Error::UnexpectedType { found, .. }) => {
            return Err(Error::KbTypeMismatch(found));
        }
        Err(immerse_jose::Error::AlgorithmNotAllowed(alg)) => {
            return Err(Error::KbAlgorithmNotAllowed(alg));
        }
        Err(immerse_jose::Error::InvalidSignature) => return Err(Error::KbSignatureInvalid),
        Err(other) => return Err(Error::KbJwt(other)),
    };
    let mut claims =
        json::parse_object(&jws.payload, "KB-JWT payload", validation.limits.max_depth)?;

    // Step 5.5: `iat` within the window: not in the future beyond skew, not too old.
    let now = validation.now.unwrap_or_else(jwt::now);
    let skew = validation.skew_seconds;
    let iat = numeric_date(claims.get("iat"), "iat")
        .ok()
        .flatten()
        .ok_or(Error::KbInvalidClaim("iat"))?;
    if iat > now.saturating_add(skew) {
        return Err(Error::KbIssuedInFuture);
    }
    if iat
        < now
            .saturating_sub(policy.max_age_seconds)
            .saturating_sub(skew)
    {
        return Err(Error::KbTooOld);
    }
    // Step 5.6: `aud` and `nonce` equal what the verifier expects.
    let aud = string_claim(&claims, "aud")?;
    if aud != policy.audience {
        return Err(Error::KbAudienceMismatch);
    }
    let nonce = string_claim(&claims, "nonce")?;
    if nonce != policy.nonce {
        return Err(Error::KbNonceMismatch);
    }
    // Step 5.7: `sd_hash` over the SD-JWT as presented, with the `_sd_alg` hash (sha-256).
    if string_claim(&claims, "sd_hash")? != sd_hash(sd_jwt) {
        return Err(Error::KbSdHashMismatch);
    }
    let (aud, nonce) = (aud.to_owned(), nonce.to_owned());
    for name in KB_CLAIMS {
        claims.remove(name);
    }
    Ok(KeyBindingClaims {
        iat,
        aud,
        nonce,
        extra: claims,
    })
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, Error> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .ok_or(Error::KbInvalidClaim(name))
}
