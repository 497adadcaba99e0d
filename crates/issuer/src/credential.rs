//! The nonce endpoint (OpenID4VCI 1.0 s7) and the credential endpoint (s8): DPoP-bound access
//! token, key proofs, SD-JWT VC issuance, optional request and response encryption (s10).
use immerse_jose::jwe::{self, ContentEncryption, KeyManagement};
use immerse_jose::{Curve, KeyMaterial, PublicJwk};
use immerse_sd_jwt::{ClaimPath, Credential, DisclosurePolicy, IssueOptions, StatusListRef};
use immerse_store::{AccessTokenRow, CredentialRow, OfferRow, StatusListRow};
use serde_json::{Map, Value, json};

use crate::deferred::DEFERRED_INTERVAL;
use crate::dpop::DpopTarget;
use crate::proof::{ProofPolicy, verify_jwt_proof};
use crate::{CredentialConfiguration, Issuer, IssuerError, secret_hash};

pub(crate) const C_NONCE_SCOPE: &str = "issuer:c-nonce";
/// Index draws before giving up when other replicas keep taking the same indices.
const ALLOCATION_ATTEMPTS: usize = 8;

/// The body of a credential request, as received (s8.2; s10 when encrypted).
#[derive(Debug, Clone)]
pub enum CredentialRequest {
    Json(Vec<u8>),
    /// Content-Type `application/jwt`: a JWE to our `credential_request_encryption` key.
    Encrypted(String),
}

/// s8.3: the credentials (or, `deferred`, a transaction_id, 202), in clear or as a JWE.
#[derive(Debug, Clone)]
pub struct CredentialResponse {
    pub deferred: bool,
    pub body: ResponseBody,
}

#[derive(Debug, Clone)]
pub enum ResponseBody {
    Json(Value),
    /// `application/jwt` (s10).
    Encrypted(String),
}

/// The wallet's `credential_response_encryption` after its checks (s8.2).
pub(crate) struct ResponseEncryption {
    jwk: PublicJwk,
    enc: ContentEncryption,
}

/// s10: the body as a JWE (ECDH-ES to the wallet's key, `kid` copied) when asked for.
pub(crate) fn seal(
    body: Value,
    encryption: Option<&ResponseEncryption>,
) -> Result<ResponseBody, IssuerError> {
    match encryption {
        None => Ok(ResponseBody::Json(body)),
        Some(encryption) => Ok(ResponseBody::Encrypted(jwe::encrypt_compact(
            body.to_string().as_bytes(),
            &encryption.jwk,
            KeyManagement::EcdhEs,
            encryption.enc,
            &Map::new(),
        )?)),
    }
}

/// Which of `claims` are selectively disclosable under `conf` (see
/// [`CredentialConfiguration::selectively_disclosable`]).
fn disclosure_policy(
    conf: &CredentialConfiguration,
    claims: &Map<String, Value>,
) -> DisclosurePolicy {
    match &conf.selectively_disclosable {
        Some(paths) => paths
            .iter()
            .filter_map(|names| {
                let (first, rest) = names.split_first()?;
                let path = rest
                    .iter()
                    .fold(ClaimPath::claim(first.clone()), |path, name| {
                        path.name(name.clone())
                    });
                path.value_in(claims).is_some().then_some(path)
            })
            .fold(DisclosurePolicy::new(), DisclosurePolicy::disclose),
        None => {
            let mut policy = DisclosurePolicy::new();
            for (name, value) in claims {
                policy = disclose_leaves(policy, ClaimPath::claim(name.clone()), value);
            }
            policy
        }
    }
}

/// Every leaf at or below `path`: members of a non-empty object, recursively, else the claim.
fn disclose_leaves(policy: DisclosurePolicy, path: ClaimPath, value: &Value) -> DisclosurePolicy {
    match value {
        Value::Object(members) if !members.is_empty() => {
            members.iter().fold(policy, |policy, (name, member)| {
                disclose_leaves(policy, path.clone().name(name.clone()), member)
            })
        }
        _ => policy.disclose(path),
    }
}

fn bad_request(detail: impl Into<String>) -> IssuerError {
    IssuerError::InvalidCredentialRequest(detail.into())
}

fn bad_encryption(detail: impl Into<String>) -> IssuerError {
    IssuerError::InvalidEncryptionParameters(detail.into())
}

impl Issuer {
    /// s7.1-s7.2: a fresh c_nonce, accepted in one credential request.
    pub async fn c_nonce(&self) -> Result<String, IssuerError> {
        let expires_at = self.now() + self.config().c_nonce_lifetime;
        Ok(self.inner.c_nonces.issue(expires_at).await?)
    }

    /// s8: every check before anything is consumed; the c_nonce is taken last, then the
    /// credentials are issued.
    pub async fn credential(
        &self,
        authorization: Option<&str>,
        dpop: Option<&str>,
        body: CredentialRequest,
    ) -> Result<CredentialResponse, IssuerError> {
        let started = std::time::Instant::now();
        let config = self.config();
        let now = self.now();
        let grant = self.authorize(authorization, dpop, "credential").await?;

        let request = self.parse_request(body)?;
        // s8.2: exactly one of credential_identifier and credential_configuration_id; the
        // identifier when the token response returned credential_identifiers (s6.2), and only
        // one of those; the configuration id otherwise.
        let granted: Option<Vec<String>> = grant
            .credential_identifiers
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|err| IssuerError::Internal(err.to_string()))?;
        let configuration_id = match (
            request.get("credential_configuration_id"),
            request.get("credential_identifier"),
            &granted,
        ) {
            (Some(Value::String(id)), None, None) => id.clone(),
            (None, Some(Value::String(id)), Some(granted)) => {
                // Our identifiers are the configuration ids they were granted for.
                if !granted.contains(id) {
                    return Err(IssuerError::UnknownCredentialIdentifier(id.clone()));
                }
                id.clone()
            }
            (None, Some(Value::String(id)), None) => {
                return Err(IssuerError::UnknownCredentialIdentifier(id.clone()));
            }
            (Some(Value::String(_)), None, Some(_)) => {
                return Err(bad_request(
                    "credential_identifiers were granted: use credential_identifier",
                ));
            }
            _ => {
                return Err(bad_request(
                    "exactly one of credential_configuration_id and credential_identifier",
                ));
            }
        };
        let conf = config
            .configuration(&configuration_id)
            .ok_or_else(|| IssuerError::UnknownCredentialConfiguration(configuration_id.clone()))?;
        let offer = self
            .inner
            .store
            .offer(&grant.offer_id)
            .await?
            .ok_or_else(|| IssuerError::Internal("access token without offer".into()))?;
        // s8.3.1.2: the token grants the configurations its grant named (the offer's, or the
        // subset that scope or authorization_details authorized); any other is unknown to it.
        let granted_configurations: Vec<String> = serde_json::from_str(&grant.configuration_ids)
            .map_err(|err| IssuerError::Internal(err.to_string()))?;
        if !granted_configurations.contains(&configuration_id) {
            return Err(IssuerError::UnknownCredentialConfiguration(format!(
                "{configuration_id} is not granted by this access token"
            )));
        }
        if offer.status != "active" {
            return Err(IssuerError::CredentialRequestDenied(
                "the offer was revoked".into(),
            ));
        }
        let encryption = self.response_encryption(request.get("credential_response_encryption"))?;

        // s8.2: proofs, an object with exactly one proof type; only `jwt` is supported.
        let proofs = match request.get("proofs") {
            Some(Value::Object(proofs)) if proofs.len() == 1 => proofs,
            Some(_) => return Err(bad_request("proofs must hold exactly one proof type")),
            None => return Err(IssuerError::InvalidProof("proofs is missing".into())),
        };
        let jwts = match proofs.get("jwt") {
            Some(Value::Array(jwts)) if !jwts.is_empty() => jwts,
            Some(_) => return Err(bad_request("proofs.jwt must be a non-empty array")),
            None => return Err(IssuerError::InvalidProof("unsupported proof type".into())),
        };
        // s8.2, s12.2.4: at most batch_size proofs.
        if jwts.len() > config.batch_size {
            return Err(bad_request(format!(
                "more than batch_size ({}) proofs",
                config.batch_size
            )));
        }
        let policy = ProofPolicy {
            issuer: &config.issuer,
            client_id: &grant.client_id,
            now,
            max_age: config.proof_max_age,
            skew: config.skew_seconds,
        };
        let mut keys: Vec<PublicJwk> = Vec::with_capacity(jwts.len());
        let mut nonce: Option<String> = None;
        for jwt in jwts {
            let jwt = jwt
                .as_str()
                .ok_or_else(|| bad_request("a proof is not a string"))?;
            let proof = verify_jwt_proof(jwt, &policy)?;
            // One c_nonce per request: every proof carries the same one.
            if nonce.as_ref().is_some_and(|seen| *seen != proof.nonce) {
                return Err(IssuerError::InvalidNonce(
                    "the proofs carry different nonces".into(),
                ));
            }
            // Distinct keys per credential in a batch (s8.2: one key per credential).
            if keys
                .iter()
                .any(|key| key.thumbprint() == proof.key.thumbprint())
            {
                return Err(IssuerError::InvalidProof(
                    "two proofs for the same key".into(),
                ));
            }
            nonce = Some(proof.nonce);
            keys.push(proof.key);
        }
        let nonce = nonce.ok_or_else(|| IssuerError::InvalidProof("no proof".into()))?;
        // s7.2, s8.3.1.2: the c_nonce was issued by us and not used; taken once.
        if !self.inner.c_nonces.spend(&nonce, now).await? {
            return Err(IssuerError::InvalidNonce(
                "the c_nonce is unknown, used or expired".into(),
            ));
        }

        // s9: a deferred offer keeps the checked holder keys and answers with a transaction.
        if offer.deferred == 1 && offer.ready == 0 {
            let transaction_id = self
                .defer(&offer.offer_id, &configuration_id, &keys)
                .await?;
            let body = json!({"transaction_id": transaction_id, "interval": DEFERRED_INTERVAL});
            return Ok(CredentialResponse {
                deferred: true,
                body: seal(body, encryption.as_ref())?,
            });
        }
        let body = self.issue_credentials(&offer, conf, keys).await?;
        tracing::debug!(
            offer_id = %offer.offer_id,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "credential request served"
        );
        Ok(CredentialResponse {
            deferred: false,
            body: seal(body, encryption.as_ref())?,
        })
    }

    /// Signs one SD-JWT VC per holder key (fresh salts, status index, `cnf.jwk` each) and a
    /// notification_id for the issuance: the s8.3 response body.
    pub(crate) async fn issue_credentials(
        &self,
        offer: &OfferRow,
        conf: &CredentialConfiguration,
        keys: Vec<PublicJwk>,
    ) -> Result<Value, IssuerError> {
        let now = self.now();
        let mut claims: Map<String, Value> = serde_json::from_str(&offer.claims)
            .map_err(|err| IssuerError::Internal(err.to_string()))?;
        let disclosure = disclosure_policy(conf, &claims);
        // SD-JWT VC draft, "Document Integrity": `vct#integrity` is the W3C SRI hash of the
        // exact type metadata bytes we serve for this vct, so a wallet can detect a changed
        // document. Added after the disclosure policy: it is never selectively disclosable.
        if let Some(document) = self.inner.type_metadata.get(&conf.id) {
            claims.insert("vct#integrity".into(), document.integrity.clone().into());
        }
        // One key for the whole batch, read once, so a rotation never splits a response.
        let signer = self.signer();
        let mut credentials = Vec::with_capacity(keys.len());
        for key in keys {
            let exp = now + conf.lifetime_seconds;
            let status = self.allocate_status(&offer.offer_id, now, exp).await?;
            let credential = Credential {
                vct: conf.vct.clone(),
                iss: self.config().issuer.clone(),
                iat: now,
                exp: Some(exp),
                status: Some(status),
                holder_key: Some(key),
                claims: claims.clone(),
            };
            // Fresh salts per credential come from issue_vc (RFC 9901 s4.2.1).
            let sd_jwt = immerse_sd_jwt::issue_vc(
                &*signer,
                &credential,
                &disclosure,
                &IssueOptions::default().decoys(self.config().decoy_digests),
            )
            .await?;
            credentials.push(json!({"credential": sd_jwt.to_compact()}));
        }
        // s8.3, s11: one notification_id for this issuance, usable once with this grant.
        let notification_id = self.record_notification_id(&offer.offer_id).await?;
        Ok(json!({"credentials": credentials, "notification_id": notification_id}))
    }

    /// RFC 9449 s7.1: `Authorization: DPoP <token>` for a token we issued and that has not
    /// expired, with a DPoP proof for `POST` at `endpoint` by the key the token is bound to.
    pub(crate) async fn authorize(
        &self,
        authorization: Option<&str>,
        dpop: Option<&str>,
        endpoint: &str,
    ) -> Result<AccessTokenRow, IssuerError> {
        let token = authorization
            .and_then(|value| value.strip_prefix("DPoP "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| IssuerError::InvalidToken("a DPoP access token is required".into()))?;
        let grant = self
            .inner
            .store
            .access_token(&secret_hash(token), self.now())
            .await?
            .ok_or_else(|| IssuerError::InvalidToken("unknown or expired access token".into()))?;
        let url = self.config().endpoint(endpoint);
        let key = self
            .verify_dpop(
                dpop,
                DpopTarget {
                    method: "POST",
                    url: &url,
                    access_token: Some(token),
                },
            )
            .await?;
        // RFC 9449 s7.1: the proof key is the one the token is bound to.
        if key.thumbprint_b64() != grant.jkt {
            return Err(IssuerError::InvalidDpopProof {
                detail: "the DPoP key is not the one the access token is bound to".into(),
                at_resource: true,
            });
        }
        Ok(grant)
    }

    fn parse_request(&self, body: CredentialRequest) -> Result<Map<String, Value>, IssuerError> {
        let bytes = match body {
            CredentialRequest::Json(bytes) => bytes,
            // s10: an encrypted request, to the key in credential_request_encryption.jwks.
            CredentialRequest::Encrypted(token) => {
                let policy = jwe::Policy {
                    key_management: &[KeyManagement::EcdhEs],
                    content_encryption: ContentEncryption::SUPPORTED,
                };
                self.inner
                    .request_key
                    .decrypt(&token, &policy)
                    .map_err(|err| bad_encryption(format!("encrypted request: {err}")))?
                    .plaintext
            }
        };
        serde_json::from_slice(&bytes).map_err(|_| bad_request("the body is not a JSON object"))
    }

    /// s8.2 `credential_response_encryption`: `jwk` (with `alg`, s8.2) and `enc` we support;
    /// required when our metadata says so (s12.2.4).
    pub(crate) fn response_encryption(
        &self,
        value: Option<&Value>,
    ) -> Result<Option<ResponseEncryption>, IssuerError> {
        let Some(value) = value else {
            if self.config().response_encryption_required {
                return Err(bad_encryption("credential_response_encryption is required"));
            }
            return Ok(None);
        };
        let object = value
            .as_object()
            .ok_or_else(|| bad_encryption("credential_response_encryption is not an object"))?;
        if object.contains_key("zip") {
            return Err(bad_encryption("zip is not supported"));
        }
        let jwk = object
            .get("jwk")
            .cloned()
            .ok_or_else(|| bad_encryption("jwk is missing"))
            .and_then(|jwk| {
                PublicJwk::try_from(jwk).map_err(|err| bad_encryption(err.to_string()))
            })?;
        if jwk.alg() != Some(KeyManagement::EcdhEs.name()) {
            return Err(bad_encryption("the jwk must carry alg ECDH-ES"));
        }
        if !matches!(jwk.material(), KeyMaterial::Ec { .. }) || jwk.curve() != Some(Curve::P256) {
            return Err(bad_encryption("the jwk must be an EC P-256 key"));
        }
        let enc = match object.get("enc").and_then(Value::as_str) {
            Some(name) => ContentEncryption::from_name(name)
                .ok_or_else(|| bad_encryption(format!("enc {name} is not supported")))?,
            None => return Err(bad_encryption("enc is missing")),
        };
        Ok(Some(ResponseEncryption { jwk, enc }))
    }

    /// A random, unused index in the current status list, recorded with the credential
    /// (Token Status List draft s12.4, s13.3); a full list opens the next one (s13.4).
    async fn allocate_status(
        &self,
        offer_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<StatusListRef, IssuerError> {
        let config = self.config();
        for _ in 0..ALLOCATION_ATTEMPTS {
            let (list_id, idx) = {
                let mut guard = self
                    .inner
                    .allocator
                    .lock()
                    .map_err(|_| IssuerError::Internal("allocator lock poisoned".into()))?;
                let (list_id, allocator) = &mut *guard;
                match allocator.allocate() {
                    Ok(idx) => (list_id.clone(), idx),
                    Err(_) => {
                        *list_id = immerse_jose::base64url::random(12)?;
                        *allocator =
                            immerse_status_list::IndexAllocator::new(config.status_list_capacity)?;
                        (list_id.clone(), allocator.allocate()?)
                    }
                }
            };
            self.inner
                .store
                .ensure_status_list(&StatusListRow {
                    list_id: list_id.clone(),
                    bits: crate::status::LIST_BITS,
                    capacity: i64::try_from(config.status_list_capacity)
                        .map_err(|err| IssuerError::Internal(err.to_string()))?,
                    created_at: now,
                })
                .await?;
            let row = CredentialRow {
                list_id: list_id.clone(),
                idx: i64::try_from(idx).map_err(|err| IssuerError::Internal(err.to_string()))?,
                offer_id: offer_id.to_owned(),
                status: 0,
                issued_at: now,
                expires_at,
            };
            match self.inner.store.insert_credential(&row).await {
                Ok(()) => {
                    return Ok(StatusListRef {
                        idx: idx as u64,
                        uri: self.status_list_uri(&list_id),
                    });
                }
                Err(err) if err.is_conflict() => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(IssuerError::Internal("no free status index".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configuration(selectively_disclosable: Option<Vec<Vec<String>>>) -> CredentialConfiguration {
        CredentialConfiguration {
            id: "pid".into(),
            vct: "urn:pid".into(),
            scope: "pid".into(),
            claims: vec!["given_name".into(), "address".into()],
            lifetime_seconds: 60,
            display_name: "PID".into(),
            selectively_disclosable,
        }
    }

    fn paths(policy: &DisclosurePolicy) -> Vec<String> {
        policy.paths().map(ToString::to_string).collect()
    }

    #[test]
    fn every_leaf_is_disclosable_by_default_and_configured_paths_exactly() {
        let Value::Object(claims) = json!({"given_name": "Ada", "address": {
            "locality": "London", "geo": {"lat": 51.5, "lon": -0.1}}, "tags": ["a"], "empty": {}})
        else {
            unreachable!()
        };
        let by_default = disclosure_policy(&configuration(None), &claims);
        let expected: Vec<String> = [
            ClaimPath::claim("address").name("geo").name("lat"),
            ClaimPath::claim("address").name("geo").name("lon"),
            ClaimPath::claim("address").name("locality"),
            ClaimPath::claim("empty"),
            ClaimPath::claim("given_name"),
            ClaimPath::claim("tags"),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(paths(&by_default), expected);

        let configured = configuration(Some(vec![
            vec!["address".into()],
            vec!["given_name".into()],
            vec!["address".into(), "missing".into()],
        ]));
        let chosen = disclosure_policy(&configured, &claims);
        assert_eq!(paths(&chosen), ["address", "given_name"]);
    }
}
