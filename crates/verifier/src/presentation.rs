//! Validation of one presentation in a `vp_token` (OpenID4VP 1.0 s8.6, appendix B.3.6): the
//! issuer key from the registry, every RFC 9901 and SD-JWT VC check with Key Binding to this
//! request, the DCQL query, and the credential's status.
use immerse_jose::{PublicJwk, base64url, jwt};
use immerse_registry::RegistryError;
use immerse_registry::model::Role;
use immerse_sd_jwt::{KeyBindingPolicy, VC_TYP, Validation, VcValidation, verify_vc};
use immerse_status_list::StatusReference;
use serde_json::{Map, Value};

use crate::dcql::CredentialQuery;
use crate::transaction_data::check_binding;
use crate::{PresentationError, TransactionData, Verifier};

/// What a presentation must be bound to (OpenID4VP 1.0 s14.1.2, appendix B.3.6).
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The full Client Identifier, prefix included: the KB-JWT `aud`.
    pub client_id: &'a str,
    /// The request's `nonce`: the KB-JWT `nonce`.
    pub nonce: &'a str,
    /// The request's `transaction_data`: the KB-JWT `transaction_data_hashes` (s8.4).
    pub transaction_data: &'a [TransactionData],
}

impl Verifier {
    /// Validates `presentation` as an answer to `query`; returns the disclosed claims.
    pub async fn verify_presentation(
        &self,
        presentation: &str,
        query: &CredentialQuery,
        binding: Binding<'_>,
    ) -> Result<Map<String, Value>, PresentationError> {
        let now = self.now();
        // Which issuer and key the JWT claims to be from; nothing is trusted until the
        // signature verifies with the key the registry returns for exactly these.
        let claimed = peek_issuer(presentation)?;
        let issuer_key = self.issuer_key(&claimed, now).await?;

        // OpenID4VP 1.0 appendix B.3.6: KB-JWT aud = Client Identifier, nonce = request nonce;
        // RFC 9901 s7.3: typ kb+jwt, holder signature with cnf.jwk, iat window, sd_hash.
        let mut key_binding = KeyBindingPolicy::new(binding.client_id, binding.nonce);
        key_binding.max_age_seconds = self.config.kb_max_age_seconds;
        let mut base = Validation::new(&[VC_TYP]).key_binding(key_binding).at(now);
        base.skew_seconds = self.config.skew_seconds;
        // RFC 9901 s7.1 (signature, disclosures, exp/nbf) and SD-JWT VC (vct, iss = issuer).
        let validation = VcValidation {
            base,
            allow_legacy_typ: false,
            issuer: Some(&claimed.iss),
        };
        let verified =
            verify_vc(presentation, &validation, &issuer_key).map_err(PresentationError::SdJwt)?;
        let issuer = self
            .registry
            .entity(&claimed.iss, Role::Issuer)
            .await
            .map_err(issuer_refused_or_unavailable)?;
        // The key must be the one asked about at this iat (the signed iat, not a guess).
        if verified.iat() != Some(claimed.iat) {
            return Err(PresentationError::MissingIssuerClaim("iat"));
        }
        // OpenID4VP 1.0 s6.4, appendix B.3.5: the vct and the claims the query asked for.
        query.matches(&verified).map_err(PresentationError::Dcql)?;
        // Only an issuer entity (checked with its key), and only for the credential types it
        // is registered for.
        issuer
            .require_credential_type(verified.vct())
            .map_err(issuer_refused_or_unavailable)?;
        // OpenID4VP 1.0 s8.4, appendix B.3.3: the transaction data this credential authorizes.
        // Key Binding is always required above, so the KB-JWT claims are there.
        let no_claims = Map::new();
        let kb_claims = verified
            .sd_jwt()
            .key_binding()
            .map_or(&no_claims, |key_binding| &key_binding.extra);
        check_binding(binding.transaction_data, &query.id, kb_claims)
            .map_err(PresentationError::TransactionData)?;

        // OpenID4VP 1.0 s8.6, Token Status List draft s8.3: status, fail closed.
        match verified.status() {
            Some(status) => {
                if !immerse_net::under_origin_of(&status.uri, &claimed.iss) {
                    return Err(PresentationError::ForeignStatusList(status.uri.clone()));
                }
                // Signed by the credential's own issuer entity, no other.
                let keys = issuer.verification_keys(now, self.registry.options().retention);
                let reference = StatusReference::new(status.idx, status.uri.clone());
                self.status
                    .check(&reference, &claimed.iss, &keys, now)
                    .await?;
            }
            None if self.config.require_status => return Err(PresentationError::MissingStatus),
            None => {}
        }
        Ok(verified.sd_jwt().claims().clone())
    }

    /// The issuer key named by `kid`, valid for `iss` at the credential's `iat` and still
    /// valid now: a retired key past its retention, or a revoked key, verifies nothing.
    async fn issuer_key(
        &self,
        claimed: &ClaimedIssuer,
        now: i64,
    ) -> Result<PublicJwk, PresentationError> {
        let mut key = None;
        for at in [claimed.iat, now] {
            match self
                .registry
                .key_valid_at(&claimed.iss, Role::Issuer, &claimed.kid, at)
                .await
            {
                Ok(Ok(jwk)) => key = Some(jwk),
                Ok(Err(reason)) => return Err(PresentationError::IssuerKeyInvalid(reason)),
                Err(err) => return Err(issuer_refused_or_unavailable(err)),
            }
        }
        let key = key.ok_or(PresentationError::MissingIssuerClaim("kid"))?;
        Ok(key.with_kid(claimed.kid.clone()))
    }
}

/// The registry's verified "no" (another role, suspended, not allowed, unknown) refuses the
/// issuer; anything else means no answer could be had.
fn issuer_refused_or_unavailable(err: RegistryError) -> PresentationError {
    if err.is_refusal() {
        PresentationError::UntrustedIssuer(err.to_string())
    } else {
        PresentationError::IssuerKeyUnavailable(err.to_string())
    }
}

/// `kid`, `iss` and `iat` of the issuer-signed JWT, read before its signature is checked.
#[derive(Debug)]
struct ClaimedIssuer {
    kid: String,
    iss: String,
    iat: i64,
}

fn peek_issuer(presentation: &str) -> Result<ClaimedIssuer, PresentationError> {
    let jwt = presentation.split('~').next().unwrap_or_default();
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload)) = (parts.next(), parts.next()) else {
        return Err(PresentationError::SdJwt(
            immerse_sd_jwt::Error::MissingSeparator,
        ));
    };
    let decode =
        |part: &str, name: &'static str| -> Result<Map<String, Value>, PresentationError> {
            let bytes = base64url::decode(part, name)
                .map_err(|_| PresentationError::SdJwt(immerse_sd_jwt::Error::Base64(name)))?;
            serde_json::from_slice(&bytes).map_err(|err| {
                PresentationError::SdJwt(immerse_sd_jwt::Error::Json {
                    part: name,
                    reason: err.to_string(),
                })
            })
        };
    let header = decode(header, "issuer JWT header")?;
    let payload = decode(payload, "issuer JWT payload")?;
    let text = |object: &Map<String, Value>, name: &'static str| {
        object
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(PresentationError::MissingIssuerClaim(name))
    };
    Ok(ClaimedIssuer {
        kid: text(&header, "kid")?,
        iss: text(&payload, "iss")?,
        iat: payload
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or(PresentationError::MissingIssuerClaim("iat"))?,
    })
}

/// Seconds since the epoch (re-exported for the clock default).
pub(crate) fn system_now() -> i64 {
    jwt::now()
}
