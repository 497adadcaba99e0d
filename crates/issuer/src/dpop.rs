//! DPoP proofs (RFC 9449): the token endpoint binds access tokens to the proof key, the
//! credential endpoint checks the binding. Nonces are server-provided (s8) and single use.
use immerse_jose::jws::EmbeddedJwk;
use immerse_jose::{Algorithm, PublicJwk, base64url, jwt};
use immerse_store::Replay;
use serde_json::Value;

use crate::{Issuer, IssuerError};

/// RFC 9449 s4.2.
pub const DPOP_TYP: &str = "dpop+jwt";
const ALGORITHMS: &[Algorithm] = &[Algorithm::Es256];
pub(crate) const NONCE_SCOPE: &str = "issuer:dpop-nonce";
const JTI_SCOPE: &str = "issuer:dpop-jti";

/// Where a DPoP proof is presented: the request it must describe.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DpopTarget<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// The access token the proof accompanies (resource requests), for `ath` (s4.3 step 12).
    pub access_token: Option<&'a str>,
}

impl Issuer {
    /// A fresh server-provided DPoP nonce (RFC 9449 s8), accepted once.
    pub async fn dpop_nonce(&self) -> Result<String, IssuerError> {
        let expires_at = self.now() + self.config().dpop_nonce_lifetime;
        Ok(self.inner.dpop_nonces.issue(expires_at).await?)
    }

    /// RFC 9449 s4.3: checks the DPoP proof and returns its key. Nonce and `jti` are consumed
    /// only after every other check passed.
    pub(crate) async fn verify_dpop(
        &self,
        proof: Option<&str>,
        target: DpopTarget<'_>,
    ) -> Result<PublicJwk, IssuerError> {
        let at_resource = target.access_token.is_some();
        let invalid = |detail: String| IssuerError::InvalidDpopProof {
            detail,
            at_resource,
        };
        let config = self.config();
        let now = self.now();
        // s4.3 step 1: exactly one DPoP header (repeats refused by the HTTP layer).
        let proof = proof.ok_or_else(|| invalid("DPoP header is missing".into()))?;
        // Steps 2-7: a JWT, typ dpop+jwt, an allowed asymmetric alg, signed by the `jwk` of
        // its header, which holds no private key (the PublicJwk parser refuses one).
        let mut validation = jwt::Validation::new(DPOP_TYP)
            .with_algorithms(ALGORITHMS)
            .at(now);
        validation.require_exp = false;
        validation.skew_seconds = config.skew_seconds;
        let verified = jwt::verify(proof, &validation, &EmbeddedJwk)
            .map_err(|err| invalid(format!("DPoP proof: {err}")))?
            .into_inner();
        let claims = &verified.claims;
        let text = |name: &'static str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .filter(|value| !value.is_empty())
                .ok_or_else(|| invalid(format!("DPoP proof has no {name}")))
        };
        let jti = text("jti")?;
        // Step 8: htm is the request method.
        if text("htm")? != target.method {
            return Err(invalid("htm does not match the request method".into()));
        }
        // Step 9: htu is the request URI without query and fragment (s4.3, RFC 3986 s6.2.2
        // normalisation: we compare scheme and host case-insensitively).
        let htu = text("htu")?;
        let htu = htu.split(['?', '#']).next().unwrap_or_default();
        if !same_uri(htu, target.url) {
            return Err(invalid("htu does not match the request URI".into()));
        }
        // Step 11: iat within the window.
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("DPoP proof has no iat".into()))?;
        if iat < now - config.proof_max_age || iat > now + config.skew_seconds {
            return Err(invalid("iat is outside the accepted window".into()));
        }
        // Step 12: ath is the base64url SHA-256 of the access token.
        if let Some(token) = target.access_token {
            let expected = base64url::encode(openssl::sha::sha256(token.as_bytes()));
            if claims.get("ath").and_then(Value::as_str) != Some(expected.as_str()) {
                return Err(invalid("ath does not match the access token".into()));
            }
        }
        // Step 10, s8: the server-provided nonce, single use; a missing or stale one is
        // answered with use_dpop_nonce and a fresh nonce.
        if config.require_dpop_nonce {
            let accepted = match claims.get("nonce").and_then(Value::as_str) {
                Some(nonce) => self.inner.dpop_nonces.spend(nonce, now).await?,
                None => false,
            };
            if !accepted {
                return Err(IssuerError::UseDpopNonce {
                    nonce: self.dpop_nonce().await?,
                    at_resource,
                });
            }
        }
        // s11.1: jti single use within the window the proof could be accepted in.
        let expires_at = now.max(iat) + config.proof_max_age + config.skew_seconds + 1;
        let key = verified.key;
        let scoped = format!("{}|{jti}", key.thumbprint_b64());
        if self
            .inner
            .store
            .check_and_record(JTI_SCOPE, &scoped, expires_at)
            .await
            .map_err(|err| invalid(format!("jti: {err}")))?
            == Replay::Replayed
        {
            return Err(invalid("jti was already used".into()));
        }
        Ok(key)
    }
}

fn same_uri(presented: &str, expected: &str) -> bool {
    fn split(uri: &str) -> Option<(String, &str)> {
        let (scheme, rest) = uri.split_once("://")?;
        let (authority, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
        Some((
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                authority.to_ascii_lowercase()
            ),
            if path.is_empty() { "/" } else { path },
        ))
    }
    match (split(presented), split(expected)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::same_uri;

    #[test]
    fn htu_compares_scheme_and_host_case_insensitively_and_the_path_exactly() {
        assert!(same_uri(
            "HTTPS://Issuer.Test/token",
            "https://issuer.test/token"
        ));
        assert!(!same_uri(
            "https://issuer.test/Token",
            "https://issuer.test/token"
        ));
        assert!(!same_uri(
            "https://evil.test/token",
            "https://issuer.test/token"
        ));
        assert!(!same_uri("issuer.test/token", "https://issuer.test/token"));
    }
}
