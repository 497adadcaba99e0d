//! The attestation result: an OAuth Client Attestation JWT
//! (draft-ietf-oauth-attestation-based-client-auth-10 s5.1), signed by the A-Key.
use immerse_jose::jws::SigningHeader;
use immerse_jose::{PublicJwk, Signer, jwt};
use serde_json::{Value, json};

use crate::Claims;
use crate::identity::KubernetesIdentity;

/// JOSE `typ` of a Client Attestation JWT (draft s5.1).
pub const CLIENT_ATTESTATION_TYP: &str = "oauth-client-attestation+jwt";

/// What was verified about the wallet instance, to be stated in the JWT.
pub struct Attested<'a> {
    /// The wallet's `client_id`, mapped from its service account.
    pub client_id: &'a str,
    /// The Client Instance Key; a `PublicJwk` cannot hold a private member.
    pub instance_key: &'a PublicJwk,
    pub identity: &'a KubernetesIdentity,
    /// Verified TEE claims, or `None` when the service runs with `tee = "none"`, which the JWT
    /// then says explicitly.
    pub tee: Option<&'a Claims>,
}

/// Signs the Client Attestation JWT: `iss` = the attester, `sub` = client_id, `iat`, `exp`,
/// `cnf.jwk` = the instance key (draft s5.1 REQUIRED claims), and what was verified.
pub async fn mint(
    signer: &dyn Signer,
    attester_id: &str,
    attested: &Attested<'_>,
    now: i64,
    lifetime_seconds: i64,
) -> Result<String, immerse_jose::Error> {
    let mut instance_key = attested.instance_key.to_object();
    instance_key.remove("kid");
    let tee = match attested.tee {
        Some(claims) => serde_json::to_value(claims).unwrap_or(Value::Null),
        None => json!({"tee": "none"}),
    };
    let claims = json!({
        "iss": attester_id,
        "sub": attested.client_id,
        "iat": now,
        "exp": now + lifetime_seconds,
        "cnf": {"jwk": instance_key},
        "tee": tee.get("tee").cloned().unwrap_or(Value::Null),
        "evidence": tee,
        "kubernetes": {
            "namespace": attested.identity.namespace,
            "service_account": attested.identity.service_account,
        },
    });
    jwt::sign(signer, &SigningHeader::new(CLIENT_ATTESTATION_TYP), &claims).await
}
