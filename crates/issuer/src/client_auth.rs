//! Attestation-based client authentication (draft-ietf-oauth-attestation-based-client-auth,
//! "the attestation draft"): the `OAuth-Client-Attestation` JWT signed by an attester whose
//! key we learn from the Key Registry, and the `OAuth-Client-Attestation-PoP` JWT signed by the
//! key in its `cnf.jwk`.
use immerse_jose::{Algorithm, PublicJwk, base64url, jwt};
use immerse_registry::model::Role;
use immerse_store::Replay;
use serde_json::{Map, Value};

use crate::{Issuer, IssuerError};

/// Attestation draft s5.1.
pub const ATTESTATION_TYP: &str = "oauth-client-attestation+jwt";
/// Attestation draft s5.2.
pub const ATTESTATION_POP_TYP: &str = "oauth-client-attestation-pop+jwt";
const ALGORITHMS: &[Algorithm] = &[Algorithm::Es256];
pub(crate) const CHALLENGE_SCOPE: &str = "issuer:attestation-challenge";
const POP_JTI_SCOPE: &str = "issuer:attestation-pop-jti";

/// A client whose attestation and proof of possession verified.
#[derive(Debug, Clone)]
pub struct AttestedClient {
    pub client_id: String,
    pub attester: String,
    pub instance_key: PublicJwk,
    pub tee: String,
}

/// A client whose attestation and PoP verified, with the single-use values of its PoP not yet
/// spent: the endpoint spends them with [`Issuer::spend_client_pop`] after every other check
/// of the request passed, so that a recoverable error (`use_dpop_nonce`, `invalid_request`)
/// leaves the wallet free to retry with the same PoP.
#[derive(Debug)]
pub(crate) struct CheckedClient {
    client: AttestedClient,
    challenge: Option<String>,
    /// `client_id|jti`, recorded once.
    scoped_jti: String,
    jti_expires_at: i64,
}

fn invalid(detail: impl Into<String>) -> IssuerError {
    IssuerError::InvalidClient(detail.into())
}

impl Issuer {
    /// The challenge endpoint (attestation draft s8): a fresh one-time challenge.
    pub async fn attestation_challenge(&self) -> Result<String, IssuerError> {
        let expires_at = self.now() + self.config().challenge_lifetime;
        Ok(self.inner.attestation_challenges.issue(expires_at).await?)
    }

    /// Every check of the attestation draft's validation rules, in order, spending nothing.
    /// `client_id` is the request's `client_id` parameter, when sent.
    pub(crate) async fn authenticate_client(
        &self,
        attestation: Option<&str>,
        pop: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<CheckedClient, IssuerError> {
        let config = self.config();
        let now = self.now();
        // Attestation draft s6.1: both headers, each exactly once (the HTTP layer refuses
        // repeated headers before this point).
        let (Some(attestation), Some(pop)) = (attestation, pop) else {
            return Err(invalid(
                "OAuth-Client-Attestation and OAuth-Client-Attestation-PoP are required",
            ));
        };

        // The attester is named by `iss`; only trusted attesters, keys only from the registry.
        let attester = unverified_claims(attestation)?
            .get("iss")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| invalid("client attestation has no iss"))?;
        if !config.trusted_attesters.contains(&attester) {
            return Err(invalid("client attestation from an untrusted attester"));
        }
        let keys = self
            .inner
            .registry
            .verification_keys(&attester, Role::Attester)
            .await
            .map_err(|err| match err {
                immerse_registry::RegistryError::Unavailable(_) => {
                    IssuerError::Registry(err.to_string())
                }
                other => invalid(format!("attester keys: {other}")),
            })?;
        // s5.1: typ, alg (never none), signature, exp REQUIRED and not passed.
        let mut validation = jwt::Validation::new(ATTESTATION_TYP)
            .with_algorithms(ALGORITHMS)
            .issuer(&attester)
            .at(now);
        validation.skew_seconds = config.skew_seconds;
        let verified = jwt::verify(attestation, &validation, &keys)
            .map_err(|err| invalid(format!("client attestation: {err}")))?
            .into_inner();
        let claims = verified.claims;
        // s5.1: sub REQUIRED, the client_id; the request's client_id, if any, must match.
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("client attestation has no sub"))?;
        if client_id.is_some_and(|id| id != subject) {
            return Err(invalid("client_id differs from the attestation's sub"));
        }
        // s5.1: cnf.jwk REQUIRED; a PublicJwk cannot hold a private member.
        let instance_key = claims
            .get("cnf")
            .and_then(|cnf| cnf.get("jwk"))
            .cloned()
            .ok_or_else(|| invalid("client attestation has no cnf.jwk"))
            .and_then(|jwk| {
                PublicJwk::try_from(jwk).map_err(|err| invalid(format!("cnf.jwk: {err}")))
            })?;
        // Issuer policy: which TEE the attester vouched for.
        let tee = claims
            .get("tee")
            .and_then(Value::as_str)
            .unwrap_or("none")
            .to_owned();
        if !config.accepted_tee.contains(&tee) {
            return Err(invalid(format!("tee {tee} is not accepted")));
        }

        // s5.2: the PoP, signed by cnf.jwk, typ, aud = our issuer identifier, iat, jti.
        let mut validation = jwt::Validation::new(ATTESTATION_POP_TYP)
            .with_algorithms(ALGORITHMS)
            .audience(&config.issuer)
            .at(now);
        validation.skew_seconds = config.skew_seconds;
        validation.require_exp = false;
        let pop_claims = jwt::verify(pop, &validation, &instance_key)
            .map_err(|err| invalid(format!("client attestation PoP: {err}")))?
            .into_inner()
            .claims;
        // Older drafts put the client_id in the PoP's iss; if present it must match.
        if pop_claims
            .get("iss")
            .is_some_and(|iss| iss.as_str() != Some(subject))
        {
            return Err(invalid("PoP iss differs from the client_id"));
        }
        let iat = pop_claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid("PoP has no iat"))?;
        // s5.2: iat within the window the server allows.
        if iat < now - config.proof_max_age {
            return Err(invalid("PoP iat is too old"));
        }
        let jti = pop_claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|jti| !jti.is_empty())
            .ok_or_else(|| invalid("PoP has no jti"))?;
        // s5.2 / s8: a challenge we issued (spent later); required when policy says so.
        let challenge = match pop_claims.get("challenge") {
            Some(Value::String(challenge)) => Some(challenge.clone()),
            Some(_) => return Err(invalid("PoP challenge is not a string")),
            None if config.require_attestation_challenge => {
                return Err(IssuerError::UseAttestationChallenge(
                    "a challenge from the challenge endpoint is required".into(),
                ));
            }
            None => None,
        };
        Ok(CheckedClient {
            client: AttestedClient {
                client_id: subject.to_owned(),
                attester,
                instance_key,
                tee,
            },
            challenge,
            scoped_jti: format!("{subject}|{jti}"),
            jti_expires_at: now.max(iat) + config.proof_max_age + config.skew_seconds + 1,
        })
    }

    /// Spends what the PoP carries: its challenge (s5.2, s8: taken once) and its `jti` (s12:
    /// single use while the PoP could be accepted).
    pub(crate) async fn spend_client_pop(
        &self,
        checked: CheckedClient,
    ) -> Result<AttestedClient, IssuerError> {
        let now = self.now();
        let challenges = &self.inner.attestation_challenges;
        if let Some(challenge) = &checked.challenge
            && !challenges.spend(challenge, now).await?
        {
            return Err(IssuerError::UseAttestationChallenge(
                "unknown, used or expired challenge".into(),
            ));
        }
        if self
            .inner
            .store
            .check_and_record(POP_JTI_SCOPE, &checked.scoped_jti, checked.jti_expires_at)
            .await
            .map_err(|err| invalid(format!("PoP jti: {err}")))?
            == Replay::Replayed
        {
            return Err(invalid("PoP jti was already used"));
        }
        Ok(checked.client)
    }
}

/// The payload of a compact JWS before verification, only to pick the verification key.
pub(crate) fn unverified_claims(token: &str) -> Result<Map<String, Value>, IssuerError> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| invalid("client attestation is not a compact JWS"))?;
    let bytes = base64url::decode(payload, "JWT payload")
        .map_err(|err| invalid(format!("client attestation: {err}")))?;
    serde_json::from_slice(&bytes).map_err(|_| invalid("client attestation payload is not JSON"))
}
