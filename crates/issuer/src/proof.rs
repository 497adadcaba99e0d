//! Key proofs of type `jwt` (OpenID4VCI 1.0 s8.2.1.1 and app. F.1): possession of the key the
//! credential will be bound to.
use immerse_jose::jws::EmbeddedJwk;
use immerse_jose::{Algorithm, PublicJwk, jwt};
use serde_json::Value;

use crate::IssuerError;

/// OpenID4VCI 1.0 app. F.1.
pub const PROOF_TYP: &str = "openid4vci-proof+jwt";
const ALGORITHMS: &[Algorithm] = &[Algorithm::Es256];

/// A key proof whose signature and claims verified.
#[derive(Debug, Clone)]
pub(crate) struct KeyProof {
    pub key: PublicJwk,
    pub nonce: String,
}

fn invalid(detail: impl Into<String>) -> IssuerError {
    IssuerError::InvalidProof(detail.into())
}

/// What a key proof must say.
pub(crate) struct ProofPolicy<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub now: i64,
    pub max_age: i64,
    pub skew: i64,
}

/// Every check of OpenID4VCI 1.0 app. F.1 and s8.2.1.1; the nonce is returned for the caller
/// to consume (s7.2), since one c_nonce covers all proofs of a request.
pub(crate) fn verify_jwt_proof(
    token: &str,
    policy: &ProofPolicy<'_>,
) -> Result<KeyProof, IssuerError> {
    // F.1: typ openid4vci-proof+jwt; alg an asymmetric algorithm we allow, never none; the
    // key in `jwk` (a PublicJwk refuses private members), signature verifies with it.
    let mut validation = jwt::Validation::new(PROOF_TYP)
        .with_algorithms(ALGORITHMS)
        .audience(policy.issuer)
        .at(policy.now);
    validation.require_exp = false;
    validation.skew_seconds = policy.skew;
    let verified = jwt::verify(token, &validation, &EmbeddedJwk)
        .map_err(|err| invalid(format!("key proof: {err}")))?
        .into_inner();
    // F.1: exactly one of kid, jwk, x5c; this issuer binds to `jwk` only (its metadata says
    // cryptographic_binding_methods_supported = ["jwk"]).
    let members = &verified.header.members;
    let references = ["kid", "jwk", "x5c"]
        .iter()
        .filter(|name| members.contains_key(**name))
        .count();
    if references != 1 {
        return Err(invalid(
            "the header must carry exactly one of kid, jwk, x5c",
        ));
    }
    let claims = &verified.claims;
    // F.1: iss, when present, is the client_id.
    if claims
        .get("iss")
        .is_some_and(|iss| iss.as_str() != Some(policy.client_id))
    {
        return Err(invalid("iss is not the client_id"));
    }
    // F.1: iat REQUIRED, within the window the issuer accepts (s13.4 proof replay).
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("iat is missing"))?;
    if iat < policy.now - policy.max_age {
        return Err(invalid("iat is too old"));
    }
    // F.1: nonce REQUIRED when the issuer has a nonce endpoint (we do).
    let nonce = claims
        .get("nonce")
        .and_then(Value::as_str)
        .filter(|nonce| !nonce.is_empty())
        .ok_or_else(|| invalid("nonce is missing"))?
        .to_owned();
    Ok(KeyProof {
        key: verified.key,
        nonce,
    })
}
