//! The Status List Token in JWT form (draft s5.1): signing with a [`Signer`], and verification
//! by the steps of draft s8.3 with caller-given keys.
use immerse_jose::jws::{KeySource, SigningHeader};
use immerse_jose::{Algorithm, Signer, jwt};
use serde_json::{Map, Value};

use crate::error::json_kind;
use crate::{DEFAULT_MAX_DECOMPRESSED, Status, StatusList, StatusListError, StatusReference};

/// The JOSE `typ` of a Status List Token (draft s5.1).
pub const TYP: &str = "statuslist+jwt";

/// The media type a Status Provider serves it as (draft s8.1, s8.2).
pub const MEDIA_TYPE: &str = "application/statuslist+jwt";

/// The claims of a Status List Token to be signed (draft s5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListToken {
    /// The URI the token is served at; equal to `uri` in the Referenced Tokens' `status_list`.
    pub sub: String,
    pub iat: i64,
    /// RECOMMENDED by the draft; every token IMMERSE produces should have one (SYSTEM.md s5).
    pub exp: Option<i64>,
    /// Seconds a consumer may cache the token before fetching a fresh one; RECOMMENDED.
    pub ttl: Option<u64>,
    pub list: StatusList,
}

impl StatusListToken {
    /// The JWT Claims Set. A `ttl` of 0 (s5.1: MUST be positive) and an `exp` not after `iat`
    /// are refused rather than published.
    pub fn claims(&self) -> Result<Map<String, Value>, StatusListError> {
        if self.ttl == Some(0) {
            return Err(StatusListError::InvalidTtl { found: "0".into() });
        }
        if let Some(exp) = self.exp.filter(|exp| *exp <= self.iat) {
            return Err(StatusListError::ExpiryBeforeIssue { iat: self.iat, exp });
        }
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::String(self.sub.clone()));
        claims.insert("iat".into(), Value::from(self.iat));
        if let Some(exp) = self.exp {
            claims.insert("exp".into(), Value::from(exp));
        }
        if let Some(ttl) = self.ttl {
            claims.insert("ttl".into(), Value::from(ttl));
        }
        claims.insert("status_list".into(), self.list.to_json()?);
        Ok(claims)
    }

    /// Signs the token as a compact JWS with `typ` `statuslist+jwt` and the signer's `kid`.
    pub async fn sign(&self, signer: &dyn Signer) -> Result<String, StatusListError> {
        let claims = self.claims()?;
        Ok(jwt::sign(signer, &SigningHeader::new(TYP), &claims).await?)
    }
}

/// What a Relying Party demands of a Status List Token beyond the draft's rules.
#[derive(Debug, Clone)]
pub struct Verifier<'a> {
    pub algorithms: &'a [Algorithm],
    pub skew_seconds: i64,
    /// The time to judge against; `None` reads the clock.
    pub now: Option<i64>,
    /// The draft only RECOMMENDS `exp`; IMMERSE requires it by default (SYSTEM.md s5).
    pub require_exp: bool,
    /// The most bytes the `lst` may inflate to (draft s11.1; SYSTEM.md s5).
    pub max_decompressed: usize,
}

impl Default for Verifier<'_> {
    fn default() -> Self {
        Self {
            algorithms: Algorithm::DEFAULT_ALLOWED,
            skew_seconds: jwt::DEFAULT_SKEW_SECONDS,
            now: None,
            require_exp: true,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

impl<'a> Verifier<'a> {
    pub fn new(max_decompressed: usize) -> Self {
        Self {
            max_decompressed,
            ..Self::default()
        }
    }

    pub fn at(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }

    pub fn with_algorithms(mut self, algorithms: &'a [Algorithm]) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// Verifies `token` as the Status List Token at `expected_uri` (draft s8.3 steps 3-5):
    /// signature with a key from `keys`, `typ`, `exp`, `iat`, the required claims, `sub` equal
    /// to `expected_uri`, `ttl`, then the list decoded within `max_decompressed`.
    pub fn verify(
        &self,
        token: &str,
        expected_uri: &str,
        keys: &dyn KeySource,
    ) -> Result<VerifiedStatusList, StatusListError> {
        // s8.3 step 3a, s5.1 rules 2-3: a valid JWT (RFC 7519 s7.2), explicitly typed (RFC 8725
        // s3.11), signed by a key the caller trusts, not expired (step 4c).
        let mut validation = jwt::Validation::new(TYP).with_algorithms(self.algorithms);
        validation.skew_seconds = self.skew_seconds;
        validation.now = self.now;
        validation.require_exp = self.require_exp;
        let claims = jwt::verify(token, &validation, keys)?.into_inner().claims;

        // s8.3 step 3b: the claims s5.1 requires.
        let sub = match claims.get("sub") {
            None => return Err(StatusListError::MissingClaim("sub")),
            Some(Value::String(sub)) => sub,
            Some(other) => return Err(invalid_claim("sub", "a string", other)),
        };
        let iat = numeric_date(&claims, "iat")?.ok_or(StatusListError::MissingClaim("iat"))?;
        let status_list = claims
            .get("status_list")
            .ok_or(StatusListError::MissingClaim("status_list"))?;

        // s8.3 step 4a: sub equals the uri of the Referenced Token (simple string comparison).
        if sub != expected_uri {
            return Err(StatusListError::SubjectMismatch {
                expected: expected_uri.to_owned(),
                found: sub.clone(),
            });
        }
        let exp = numeric_date(&claims, "exp")?;
        let ttl = match claims.get("ttl") {
            None => None,
            // s5.1: a positive number; IMMERSE takes whole seconds.
            Some(Value::Number(n)) if n.as_u64().is_some_and(|ttl| ttl > 0) => n.as_u64(),
            Some(other) => {
                return Err(StatusListError::InvalidTtl {
                    found: other.to_string(),
                });
            }
        };
        // s8.3 step 5, s4.2: decompress, bounded.
        let list = StatusList::from_json(status_list, self.max_decompressed)?;
        Ok(VerifiedStatusList {
            sub: sub.clone(),
            iat,
            exp,
            ttl,
            list,
        })
    }

    /// The whole of draft s8.3 steps 3-7 for one Referenced Token whose own validation already
    /// passed: verifies `token` against `reference.uri` and reads `reference.idx`.
    pub fn status_of(
        &self,
        token: &str,
        reference: &StatusReference,
        keys: &dyn KeySource,
    ) -> Result<Status, StatusListError> {
        self.verify(token, &reference.uri, keys)?
            .status(reference.idx)
    }
}

/// A Status List Token whose signature and claims were checked. Only [`Verifier::verify`]
/// makes one.
#[derive(Debug, Clone)]
pub struct VerifiedStatusList {
    sub: String,
    iat: i64,
    exp: Option<i64>,
    ttl: Option<u64>,
    list: StatusList,
}

impl VerifiedStatusList {
    /// The status at `idx` (draft s8.3 step 6): out of bounds is an error, and the Referenced
    /// Token MUST then be rejected.
    pub fn status(&self, idx: u64) -> Result<Status, StatusListError> {
        let out_of_range = StatusListError::IndexOutOfRange {
            index: idx,
            len: self.list.len(),
        };
        let index = usize::try_from(idx).map_err(|_| out_of_range.clone())?;
        self.list.get(index).map_err(|_| out_of_range)
    }

    pub fn sub(&self) -> &str {
        &self.sub
    }

    pub fn iat(&self) -> i64 {
        self.iat
    }

    pub fn exp(&self) -> Option<i64> {
        self.exp
    }

    pub fn ttl(&self) -> Option<u64> {
        self.ttl
    }

    pub fn list(&self) -> &StatusList {
        &self.list
    }

    /// When a copy fetched at `fetched_at` should be refreshed (draft s13.7): after `ttl`, and
    /// never later than `exp`. `None` when the token gives neither.
    pub fn refresh_at(&self, fetched_at: i64) -> Option<i64> {
        let by_ttl = self
            .ttl
            .map(|ttl| fetched_at.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)));
        match (by_ttl, self.exp) {
            (Some(ttl), Some(exp)) => Some(ttl.min(exp)),
            (ttl, exp) => ttl.or(exp),
        }
    }
}

fn invalid_claim(claim: &'static str, expected: &'static str, found: &Value) -> StatusListError {
    StatusListError::InvalidClaim {
        claim,
        expected,
        found: json_kind(found),
    }
}

/// A NumericDate (RFC 7519 s2), floored to whole seconds as `immerse_jose::jwt` does.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, StatusListError> {
    claims
        .get(name)
        .map(|value| {
            jwt::numeric_date(value).ok_or_else(|| invalid_claim(name, "a NumericDate", value))
        })
        .transpose()
}
