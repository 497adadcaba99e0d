//! Nonce, key proof, the (encrypted) credential request and response (OpenID4VCI 1.0 s7, s8,
//! s10), and verification of what was issued before it is stored.
use std::sync::Arc;

use immerse_jose::jwe::{self, ContentEncryption, DecryptionKey, KeyManagement};
use immerse_jose::jws::SigningHeader;
use immerse_jose::{Curve, PublicJwk, Signer, SoftwareSigner, jwt};
use immerse_registry::RegistryError;
use immerse_registry::model::Role;
use immerse_sd_jwt::{VcValidation, verify_vc};
use serde_json::{Value, json};

use super::metadata::IssuerMetadata;
use super::token::{AccessToken, Dpop, missing};
use crate::attest::peek_jwt;
use crate::{StoredCredential, Wallet, WalletError};

/// OpenID4VCI 1.0 app. F.1.
const PROOF_TYP: &str = "openid4vci-proof+jwt";
/// s12.2.4 / app. A.3.
const SD_JWT_VC_FORMAT: &str = "dc+sd-jwt";
const JWT_MEDIA_TYPE: &str = "application/jwt";

/// What the wallet expects of a credential it asked for.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub vct: &'a str,
    /// The Holder Key its `cnf.jwk` must be.
    pub holder: &'a PublicJwk,
}

impl Wallet {
    /// One credential of `configuration_id`, bound to a fresh Holder Key, verified and stored.
    pub(crate) async fn obtain(
        &self,
        issuer: &str,
        configuration_id: &str,
        metadata: &IssuerMetadata,
        access: &AccessToken,
        dpop: &mut Dpop,
    ) -> Result<StoredCredential, WalletError> {
        let vct = configuration_vct(configuration_id, metadata)?;
        let credential_url = metadata
            .endpoint("credential_endpoint")
            .ok_or_else(|| missing(issuer, "credential_endpoint"))?
            .to_owned();
        let c_nonce = match metadata.endpoint("nonce_endpoint") {
            // s7.2: no-store, single use.
            Some(endpoint) => Some(
                self.post_json(endpoint, &json!({}))
                    .await?
                    .get("c_nonce")
                    .and_then(Value::as_str)
                    .ok_or_else(|| WalletError::UnexpectedResponse {
                        url: endpoint.to_owned(),
                        reason: "no c_nonce".into(),
                    })?
                    .to_owned(),
            ),
            None => None,
        };
        // SYSTEM.md s1: a fresh Holder Key per credential, in memory only.
        let holder = SoftwareSigner::generate()?;
        let mut proof_claims = json!({"aud": issuer, "iat": jwt::now()});
        if let Some(nonce) = &c_nonce {
            proof_claims["nonce"] = nonce.clone().into();
        }
        let proof = jwt::sign(
            &holder,
            &SigningHeader::new(PROOF_TYP).embed_jwk(),
            &proof_claims,
        )
        .await?;
        let mut body = json!({
            "credential_configuration_id": configuration_id,
            "proofs": {"jwt": [proof]},
        });
        let response_key = match ResponseEncryption::choose(metadata)? {
            Some(encryption) => {
                let key = DecryptionKey::generate(Curve::P256)?;
                let mut jwk = key.public_jwk().to_object();
                jwk.insert("alg".into(), KeyManagement::EcdhEs.name().into());
                body["credential_response_encryption"] =
                    json!({"jwk": jwk, "enc": encryption.enc.name()});
                Some((key, encryption.enc))
            }
            None => None,
        };
        let encrypted_request = request_encryption(metadata)?
            .map(|(key, enc)| {
                jwe::encrypt_compact(
                    body.to_string().as_bytes(),
                    &key,
                    KeyManagement::EcdhEs,
                    enc,
                    &Default::default(),
                )
            })
            .transpose()?;
        let mut retried = false;
        let fetched = loop {
            let mut request = self
                .http()
                .post(self.locate(&credential_url))
                .header("Authorization", format!("DPoP {}", access.token))
                .header(
                    "DPoP",
                    dpop.proof(&credential_url, Some(&access.token)).await?,
                );
            request = match &encrypted_request {
                // s10: the request as a JWE to the issuer's request-encryption key.
                Some(jwe) => request
                    .header(reqwest::header::CONTENT_TYPE, JWT_MEDIA_TYPE)
                    .body(jwe.clone()),
                None => request.json(&body),
            };
            let fetched = self.exchange(&credential_url, request).await?;
            if dpop.learn(&fetched) && !retried && fetched.status >= 400 {
                retried = true;
                continue;
            }
            break fetched.success()?;
        };
        if fetched.status == 202 {
            let transaction = fetched.json()?;
            return Err(WalletError::Deferred(
                transaction
                    .get("transaction_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ));
        }
        let answer: Value = match &response_key {
            Some((key, enc)) => {
                // s10: we asked for an encrypted response; a clear one is refused.
                if fetched.media_type() != JWT_MEDIA_TYPE {
                    return Err(fetched.unexpected("the credential response is not encrypted"));
                }
                let policy = jwe::Policy {
                    key_management: &[KeyManagement::EcdhEs],
                    content_encryption: std::slice::from_ref(enc),
                };
                let decrypted = key
                    .decrypt(fetched.text()?.trim(), &policy)
                    .map_err(WalletError::Decryption)?;
                serde_json::from_slice(&decrypted.plaintext)
                    .map_err(|_| fetched.unexpected("the decrypted response is not JSON"))?
            }
            None => fetched.json()?,
        };
        // s8.3: `credentials`, an array of objects with a `credential`; we sent one proof.
        let issued = match answer.get("credentials").and_then(Value::as_array) {
            Some(list) if list.len() == 1 => list[0]
                .get("credential")
                .and_then(Value::as_str)
                .ok_or_else(|| fetched.unexpected("a credential is not a string"))?,
            _ => return Err(fetched.unexpected("expected exactly one credential")),
        };
        let expected = Expected {
            issuer,
            vct: &vct,
            holder: holder.public_jwk(),
        };
        let mut stored = self.verify_credential(issued, &expected).await?;
        stored.configuration_id = configuration_id.to_owned();
        stored.holder_key = Arc::new(holder);
        Ok(stored)
    }

    /// Verifies an issued SD-JWT VC as the wallet does on receipt: the issuer key named by
    /// `kid` valid for `iss` in the registry at `iat` and now, the SD-JWT VC checks (RFC 9901
    /// s7.1, SD-JWT VC draft s3), `iss` and `vct` as expected, and `cnf.jwk` the Holder Key.
    /// The result has a placeholder Holder Key and configuration id: the caller, which holds
    /// the key, sets both.
    pub async fn verify_credential(
        &self,
        issued: &str,
        expected: &Expected<'_>,
    ) -> Result<StoredCredential, WalletError> {
        let malformed = |reason: &str| WalletError::CredentialMalformed(reason.to_owned());
        let issuer_jwt = issued.split('~').next().unwrap_or_default();
        let (header, claims) = peek_jwt(issuer_jwt).ok_or_else(|| malformed("not an SD-JWT"))?;
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("the issuer JWT names no kid"))?;
        let iss = claims.get("iss").and_then(Value::as_str);
        if iss != Some(expected.issuer) {
            return Err(WalletError::MetadataSubject {
                expected: expected.issuer.to_owned(),
                found: iss.unwrap_or("nothing").to_owned(),
            });
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or_else(|| malformed("no iat"))?;
        let now = self.now();
        let mut key = None;
        // The key must have been the issuer's when it signed, and must not have been revoked
        // since (a revoked key verifies nothing, SYSTEM.md s3).
        for at in [iat, now] {
            match self
                .registry()
                .key_valid_at(expected.issuer, Role::Issuer, kid, at)
                .await
            {
                Ok(Ok(jwk)) => key = Some(jwk),
                Ok(Err(reason)) => {
                    return Err(WalletError::IssuerKeyInvalid {
                        kid: kid.to_owned(),
                        reason,
                    });
                }
                Err(RegistryError::NotFound(_)) => {
                    return Err(WalletError::IssuerKeyUnknown(kid.to_owned()));
                }
                Err(err) => return Err(err.into()),
            }
        }
        let key = key
            .ok_or_else(|| malformed("no issuer key"))?
            .with_kid(kid.to_owned());
        let mut validation = VcValidation::new();
        validation.issuer = Some(expected.issuer);
        validation.base.now = Some(now);
        validation.base.skew_seconds = self.config().skew_seconds;
        let verified = verify_vc(issued, &validation, &key).map_err(WalletError::Credential)?;
        if verified.vct() != expected.vct {
            return Err(WalletError::VctMismatch {
                expected: expected.vct.to_owned(),
                found: verified.vct().to_owned(),
            });
        }
        match verified.holder_key() {
            Some(bound) if bound.thumbprint() == expected.holder.thumbprint() => {}
            _ => return Err(WalletError::HolderKeyMismatch),
        }
        // As the verifier will: only an issuer entity registered for this credential type.
        self.registry()
            .entity(expected.issuer, Role::Issuer)
            .await?
            .require_credential_type(verified.vct())?;
        Ok(StoredCredential {
            id: immerse_jose::base64url::random(16)?,
            issuer: expected.issuer.to_owned(),
            vct: verified.vct().to_owned(),
            configuration_id: String::new(),
            sd_jwt: issued.to_owned(),
            claims: verified.sd_jwt().claims().clone(),
            issued_at: iat,
            expires_at: verified.exp(),
            status: verified.status().cloned(),
            holder_key: Arc::new(SoftwareSigner::generate()?),
        })
    }
}

/// The `vct` of an SD-JWT VC configuration this wallet can hold: `dc+sd-jwt`, `jwk` binding,
/// ES256 key proofs (s12.2.4, app. A.3).
fn configuration_vct(id: &str, metadata: &IssuerMetadata) -> Result<String, WalletError> {
    let unsupported = |why| WalletError::UnsupportedConfiguration(id.to_owned(), why);
    let configuration = metadata
        .issuer
        .get("credential_configurations_supported")
        .and_then(|all| all.get(id))
        .ok_or_else(|| unsupported("not in the issuer's metadata"))?;
    if configuration.get("format").and_then(Value::as_str) != Some(SD_JWT_VC_FORMAT) {
        return Err(unsupported("not dc+sd-jwt"));
    }
    let listed = |value: Option<&Value>, wanted: &str| {
        value
            .and_then(Value::as_array)
            .is_some_and(|items| items.iter().any(|item| item.as_str() == Some(wanted)))
    };
    if !listed(
        configuration.get("cryptographic_binding_methods_supported"),
        "jwk",
    ) {
        return Err(unsupported("no jwk holder binding"));
    }
    let proof_algs = configuration
        .get("proof_types_supported")
        .and_then(|types| types.get("jwt"))
        .and_then(|jwt| jwt.get("proof_signing_alg_values_supported"));
    if !listed(proof_algs, "ES256") {
        return Err(unsupported("no ES256 jwt key proofs"));
    }
    configuration
        .get("vct")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| unsupported("no vct"))
}

/// s8.2 / s12.2.4 `credential_response_encryption`, when the issuer supports it: always used
/// (the credential is personal data), ECDH-ES, the strongest `enc` both sides know.
struct ResponseEncryption {
    enc: ContentEncryption,
}

impl ResponseEncryption {
    fn choose(metadata: &IssuerMetadata) -> Result<Option<Self>, WalletError> {
        let Some(offered) = metadata.issuer.get("credential_response_encryption") else {
            return Ok(None);
        };
        let algs = offered
            .get("alg_values_supported")
            .and_then(Value::as_array);
        if !algs.is_some_and(|algs| {
            algs.iter()
                .any(|alg| alg.as_str() == Some(KeyManagement::EcdhEs.name()))
        }) {
            return Err(WalletError::UnsupportedConfiguration(
                "credential_response_encryption".into(),
                "no ECDH-ES",
            ));
        }
        Ok(Some(Self {
            enc: strongest_enc(offered)?,
        }))
    }
}

/// s11.2.1 `credential_request_encryption`: the issuer's first usable key and the strongest
/// `enc`; `None` when the issuer takes no encrypted requests.
fn request_encryption(
    metadata: &IssuerMetadata,
) -> Result<Option<(PublicJwk, ContentEncryption)>, WalletError> {
    let Some(offered) = metadata.issuer.get("credential_request_encryption") else {
        return Ok(None);
    };
    let key = offered
        .get("jwks")
        .and_then(|jwks| jwks.get("keys"))
        .and_then(Value::as_array)
        .and_then(|keys| {
            keys.iter().find(|key| {
                key.get("alg").and_then(Value::as_str) == Some(KeyManagement::EcdhEs.name())
            })
        })
        .cloned()
        .ok_or_else(|| {
            WalletError::UnsupportedConfiguration(
                "credential_request_encryption".into(),
                "no ECDH-ES key",
            )
        })?;
    let key = PublicJwk::try_from(key).map_err(WalletError::Jose)?;
    Ok(Some((key, strongest_enc(offered)?)))
}

fn strongest_enc(offered: &Value) -> Result<ContentEncryption, WalletError> {
    let supported: Vec<&str> = offered
        .get("enc_values_supported")
        .and_then(Value::as_array)
        .map(|values| values.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    [ContentEncryption::A256Gcm, ContentEncryption::A128Gcm]
        .into_iter()
        .find(|enc| supported.contains(&enc.name()))
        .ok_or(WalletError::UnsupportedConfiguration(
            "encryption".into(),
            "no enc value in common",
        ))
}
