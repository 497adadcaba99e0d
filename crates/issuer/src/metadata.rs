//! Discovery: Credential Issuer Metadata (OpenID4VCI 1.0 s12.2) and Authorization Server
//! Metadata (RFC 8414), each also as a JWT signed with the issuer key.
use immerse_jose::jwe::{ContentEncryption, KeyManagement};
use immerse_jose::jws::SigningHeader;
use immerse_jose::{Algorithm, jwt};
use serde_json::{Map, Value, json};

use crate::authorization::AUTHORIZATION_CODE_GRANT;
use crate::offer::PRE_AUTHORIZED_GRANT;
use crate::{Issuer, IssuerError};

/// OpenID4VCI 1.0 s12.2.3: `typ` of signed Credential Issuer Metadata.
pub const METADATA_TYP: &str = "openidvci-issuer-metadata+jwt";
/// RFC 8414 s2.1 names no `typ` for `signed_metadata`; RFC 8725 s3.11 wants one, so we use
/// this explicit type, and clients check it.
pub const AS_METADATA_TYP: &str = "oauth-authorization-server-metadata+jwt";
/// Lifetime of a signed metadata JWT (every token has `exp`, SYSTEM.md s5).
const SIGNED_METADATA_LIFETIME: i64 = 3600;

impl Issuer {
    /// OpenID4VCI 1.0 s12.2.4.
    pub fn issuer_metadata(&self) -> Map<String, Value> {
        let config = self.config();
        let configurations: Map<String, Value> = config
            .configurations
            .iter()
            .map(|conf| {
                let claims: Vec<Value> = conf
                    .claims
                    .iter()
                    .map(|name| json!({"path": [name]}))
                    .collect();
                // OpenID4VCI 1.0 app. A.3 (dc+sd-jwt), s12.2.4 for the common parameters.
                let value = json!({
                    "format": immerse_sd_jwt::VC_TYP,
                    "scope": conf.scope,
                    "vct": conf.vct,
                    "cryptographic_binding_methods_supported": ["jwk"],
                    "credential_signing_alg_values_supported": [Algorithm::Es256.name()],
                    "proof_types_supported": {
                        "jwt": {"proof_signing_alg_values_supported": [Algorithm::Es256.name()]}
                    },
                    "credential_metadata": {
                        "display": [{"name": conf.display_name}],
                        "claims": claims,
                    },
                });
                (conf.id.clone(), value)
            })
            .collect();
        let enc: Vec<&str> = ContentEncryption::SUPPORTED
            .iter()
            .map(|enc| enc.name())
            .collect();
        let mut request_key = self.inner.request_key.public_jwk().to_object();
        request_key.insert("alg".into(), KeyManagement::EcdhEs.name().into());
        let mut metadata = config.extra_metadata.clone();
        let fixed = json!({
            "credential_issuer": config.issuer,
            "credential_endpoint": config.endpoint("credential"),
            "nonce_endpoint": config.endpoint("nonce"),
            "notification_endpoint": config.endpoint("notification"),
            "deferred_credential_endpoint": config.endpoint("deferred_credential"),
            // s11.2.1 / s11.2.2
            "credential_request_encryption": {
                "jwks": {"keys": [request_key]},
                "enc_values_supported": enc,
                "encryption_required": false,
            },
            "credential_response_encryption": {
                "alg_values_supported": [KeyManagement::EcdhEs.name()],
                "enc_values_supported": enc,
                "encryption_required": config.response_encryption_required,
            },
            "batch_credential_issuance": {"batch_size": config.batch_size},
            "credential_configurations_supported": configurations,
        });
        if let Value::Object(fixed) = fixed {
            metadata.extend(fixed);
        }
        metadata
    }

    /// RFC 8414 s2 Authorization Server Metadata; the issuer is its own authorization server.
    pub fn authorization_server_metadata(&self) -> Map<String, Value> {
        let config = self.config();
        let value = json!({
            "issuer": config.issuer,
            "token_endpoint": config.endpoint("token"),
            "grant_types_supported": [PRE_AUTHORIZED_GRANT, AUTHORIZATION_CODE_GRANT],
            // OpenID4VCI 1.0 s5, RFC 9126 s5: authorization requests only by PAR.
            "authorization_endpoint": config.endpoint("authorize"),
            "pushed_authorization_request_endpoint": config.endpoint("par"),
            "require_pushed_authorization_requests": true,
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            // RFC 9207 s3: `iss` in every authorization response.
            "authorization_response_iss_parameter_supported": true,
            "authorization_details_types_supported": ["openid_credential"],
            // OpenID4VCI 1.0 s12.3: anonymous pre-authorized access is not supported.
            "pre-authorized_grant_anonymous_access_supported": false,
            "token_endpoint_auth_methods_supported": ["attest_jwt_client_auth"],
            "client_attestation_signing_alg_values_supported": [Algorithm::Es256.name()],
            "client_attestation_pop_signing_alg_values_supported": [Algorithm::Es256.name()],
            "challenge_endpoint": config.endpoint("challenge"),
            "dpop_signing_alg_values_supported": [Algorithm::Es256.name()],
            "scopes_supported": config.configurations.iter().map(|c| c.scope.clone()).collect::<Vec<_>>(),
        });
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// OpenID4VCI 1.0 s12.2.3: every metadata parameter as a top-level claim, `sub` = the
    /// Credential Issuer Identifier, `iat`; signed with the issuer's registered key.
    pub async fn signed_issuer_metadata(&self) -> Result<String, IssuerError> {
        let mut claims = self.issuer_metadata();
        self.sign_metadata(&mut claims, METADATA_TYP).await
    }

    /// RFC 8414 s2.1: the metadata as a signed JWT with `iss`.
    pub async fn signed_authorization_server_metadata(&self) -> Result<String, IssuerError> {
        let mut claims = self.authorization_server_metadata();
        self.sign_metadata(&mut claims, AS_METADATA_TYP).await
    }

    async fn sign_metadata(
        &self,
        claims: &mut Map<String, Value>,
        typ: &str,
    ) -> Result<String, IssuerError> {
        let now = self.now();
        let issuer = self.config().issuer.clone();
        claims.insert("iss".into(), issuer.clone().into());
        claims.insert("sub".into(), issuer.into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + SIGNED_METADATA_LIFETIME).into());
        // One read of the key, so that the header's x5c and the signature agree even when a
        // rotation lands meanwhile.
        let signer = self.signer();
        let mut header = SigningHeader::new(typ);
        // RFC 7515 s4.1.6: x5c is base64 (not base64url) DER, the certificate of the signing
        // key first. After a rotation the chain certifies a retired key, so it is left out.
        if let Some(chain) = &self.config().x5c_chain
            && chain.certifies(signer.public_jwk())
        {
            header = header.with("x5c", chain.x5c().into());
        }
        Ok(jwt::sign(&*signer, &header, claims).await?)
    }
}
