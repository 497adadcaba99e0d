//! Authorization requests (OpenID4VP 1.0 s5): created for a relying party, stored, and served
//! to the wallet as a signed request object at `request_uri` (RFC 9101, OpenID4VP 1.0 s5.10).
use immerse_jose::jwe::{ContentEncryption, DecryptionKey};
use immerse_jose::jws::SigningHeader;
use immerse_jose::{Curve, base64url, jwt};
use immerse_store::VerifierSessionRow;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::ResponseMode;
use crate::dcql::{DcqlQuery, FORMAT_SD_JWT_VC};
use crate::{TransactionData, Verifier, VerifierError};

/// The `typ` of a signed request object (OpenID4VP 1.0 s5, RFC 9101 s10.8).
pub const REQUEST_OBJECT_TYP: &str = "oauth-authz-req+jwt";
/// The audience of a request object for a wallet found by static discovery (OpenID4VP 1.0
/// s5.8).
pub const SELF_ISSUED_AUDIENCE: &str = "https://self-issued.me/v2";
/// Replay-cache scopes of nonce and state (single use, OpenID4VP 1.0 s14.1).
pub(crate) const STATE_SCOPE: &str = "oid4vp-state";
pub(crate) const NONCE_SCOPE: &str = "oid4vp-nonce";
const MAX_WALLET_NONCE: usize = 256;

/// What a relying party asks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub dcql_query: Value,
    /// `direct_post.jwt` unless given (and `direct_post` only when configured).
    #[serde(default)]
    pub response_mode: Option<ResponseMode>,
    /// Same-device flow: answer the wallet with a redirect carrying a `response_code`.
    #[serde(default)]
    pub same_device: bool,
    /// OpenID4VP 1.0 s5.1: typed parameter sets (`type`, `credential_ids`, optionally
    /// `transaction_data_hashes_alg`, and the type's own fields) the End-User authorizes.
    #[serde(default)]
    pub transaction_data: Vec<Value>,
}

/// What the relying party gets back: show `authorization_request` as a QR code or a link.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedRequest {
    pub id: String,
    pub client_id: String,
    pub request_uri: String,
    pub authorization_request: String,
    pub expires_at: i64,
}

/// What a session stores about its request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredRequest {
    pub dcql_query: DcqlQuery,
    pub response_mode: ResponseMode,
    pub client_id: String,
    pub same_device: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transaction_data: Vec<TransactionData>,
}

/// How the wallet fetched the request object (OpenID4VP 1.0 s5.10).
#[derive(Debug, Clone, Default)]
pub enum RequestUriFetch {
    #[default]
    Get,
    /// s5.10.1: form parameters `wallet_metadata` and `wallet_nonce`, both optional.
    Post {
        wallet_metadata: Option<String>,
        wallet_nonce: Option<String>,
    },
}

/// `n` bytes from OpenSSL's CSPRNG, base64url.
pub(crate) fn random(n: usize) -> Result<String, VerifierError> {
    base64url::random(n).map_err(|err| VerifierError::Internal(err.to_string()))
}

impl Verifier {
    /// Creates an authorization request for the relying party whose token hash is `owner`.
    pub async fn create_request(
        &self,
        owner: &str,
        request: NewRequest,
    ) -> Result<CreatedRequest, VerifierError> {
        let dcql_query = DcqlQuery::parse(request.dcql_query)?;
        let transaction_data = TransactionData::parse_all(request.transaction_data, &dcql_query)?;
        // HAIP s5: encrypted responses by default; clear ones only where configured.
        let response_mode = request.response_mode.unwrap_or(ResponseMode::DirectPostJwt);
        if response_mode == ResponseMode::DirectPost && !self.config.allow_direct_post {
            return Err(VerifierError::InvalidRequest(
                "direct_post is not enabled on this verifier".into(),
            ));
        }
        if request.same_device && self.config.redirect_url.is_none() {
            return Err(VerifierError::InvalidRequest(
                "same-device flows need a configured redirect_url".into(),
            ));
        }
        let now = self.now();
        let expires_at = now + self.config.request_ttl_seconds;
        // OpenID4VP 1.0 s14.1.1: the nonce has at least 128 bits of entropy (we use 256).
        let id = random(16)?;
        let nonce = random(32)?;
        let state = random(32)?;
        if response_mode == ResponseMode::DirectPostJwt {
            // OpenID4VP 1.0 s8.3, HAIP s5: a fresh ECDH-ES P-256 key per request.
            let key = DecryptionKey::generate(Curve::P256)
                .map_err(|err| VerifierError::Internal(format!("ephemeral key: {err}")))?;
            self.keys.insert(&id, key, expires_at);
        }
        self.store
            .check_and_record_at(STATE_SCOPE, &state, expires_at, now)
            .await?;
        self.store
            .check_and_record_at(NONCE_SCOPE, &nonce, expires_at, now)
            .await?;
        let stored = StoredRequest {
            dcql_query,
            response_mode,
            client_id: self.identity.client_id().to_owned(),
            same_device: request.same_device,
            transaction_data,
        };
        let request_json = serde_json::to_string(&stored)
            .map_err(|err| VerifierError::Internal(err.to_string()))?;
        self.store
            .insert_verifier_session(&VerifierSessionRow {
                id: id.clone(),
                owner: owner.to_owned(),
                state,
                nonce,
                request: request_json,
                status: "pending".into(),
                result: None,
                error_code: None,
                error_detail: None,
                response_code_hash: None,
                created_at: now,
                expires_at,
                completed_at: None,
            })
            .await?;
        let request_uri = format!("{}/request/{id}", self.config.public_url);
        // OpenID4VP 1.0 s5.10: by reference, with request_uri_method post.
        let mut url = reqwest::Url::parse("openid4vp://authorize")
            .map_err(|err| VerifierError::Internal(err.to_string()))?;
        url.query_pairs_mut()
            .append_pair("client_id", self.identity.client_id())
            .append_pair("request_uri", &request_uri)
            .append_pair("request_uri_method", "post");
        Ok(CreatedRequest {
            id,
            client_id: self.identity.client_id().to_owned(),
            request_uri,
            authorization_request: url.to_string(),
            expires_at,
        })
    }

    /// The signed request object for session `id` (OpenID4VP 1.0 s5, RFC 9101 s4).
    pub async fn request_object(
        &self,
        id: &str,
        fetch: RequestUriFetch,
    ) -> Result<String, VerifierError> {
        let session = self.pending_session(id).await?;
        let request: StoredRequest = serde_json::from_str(&session.request)
            .map_err(|err| VerifierError::Internal(format!("stored request: {err}")))?;
        let now = self.now();
        let mut claims = Map::new();
        let wallet_nonce = match fetch {
            RequestUriFetch::Get => None,
            RequestUriFetch::Post {
                wallet_metadata,
                wallet_nonce,
            } => {
                if let Some(metadata) = wallet_metadata {
                    check_wallet_metadata(&metadata)?;
                }
                if wallet_nonce
                    .as_ref()
                    .is_some_and(|nonce| nonce.is_empty() || nonce.len() > MAX_WALLET_NONCE)
                {
                    return Err(VerifierError::InvalidRequest("wallet_nonce".into()));
                }
                wallet_nonce
            }
        };
        claims.insert("iss".into(), json!(request.client_id));
        claims.insert("aud".into(), json!(SELF_ISSUED_AUDIENCE));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(session.expires_at));
        claims.insert("client_id".into(), json!(request.client_id));
        claims.insert("response_type".into(), json!("vp_token"));
        claims.insert("response_mode".into(), json!(request.response_mode.name()));
        claims.insert(
            "response_uri".into(),
            json!(format!("{}/response/{id}", self.config.public_url)),
        );
        claims.insert("nonce".into(), json!(session.nonce));
        claims.insert("state".into(), json!(session.state));
        claims.insert(
            "dcql_query".into(),
            serde_json::to_value(&request.dcql_query)
                .map_err(|err| VerifierError::Internal(err.to_string()))?,
        );
        // OpenID4VP 1.0 s5.1: each item as base64url-encoded JSON.
        if !request.transaction_data.is_empty() {
            let encoded: Vec<&str> = request
                .transaction_data
                .iter()
                .map(TransactionData::encoded)
                .collect();
            claims.insert("transaction_data".into(), json!(encoded));
        }
        claims.insert(
            "client_metadata".into(),
            self.client_metadata(id, &request)?,
        );
        // OpenID4VP 1.0 s5.10.1: the wallet_nonce is echoed in the signed request.
        if let Some(nonce) = wallet_nonce {
            claims.insert("wallet_nonce".into(), json!(nonce));
        }
        // x509_hash: the x5c leaf names the key (OpenID4VP 1.0 s5.9.3). openid_federation: the
        // `kid` the signer puts in every header names one of the entity's registered keys, and
        // no certificate is needed (OpenID Federation 1.0 s12.1, Automatic Registration: the
        // request object is signed with a key of the Relying Party's Entity, named by kid).
        let header = match self.identity.x5c() {
            [] => SigningHeader::new(REQUEST_OBJECT_TYP),
            chain => SigningHeader::new(REQUEST_OBJECT_TYP).with("x5c", json!(chain)),
        };
        jwt::sign(self.identity.signer(), &header, &claims)
            .await
            .map_err(|err| VerifierError::Internal(format!("signing: {err}")))
    }

    /// OpenID4VP 1.0 s5.1, s11.1: the encryption key and what the verifier accepts.
    fn client_metadata(&self, id: &str, request: &StoredRequest) -> Result<Value, VerifierError> {
        let mut metadata = Map::new();
        if request.response_mode == ResponseMode::DirectPostJwt {
            let key = self.keys.get(id).ok_or(VerifierError::Expired)?;
            let mut jwk = key.public_jwk().to_object();
            jwk.insert("alg".into(), json!("ECDH-ES"));
            metadata.insert("jwks".into(), json!({"keys": [jwk]}));
            metadata.insert(
                "encrypted_response_enc_values_supported".into(),
                json!(
                    ContentEncryption::ALL
                        .iter()
                        .map(|enc| enc.name())
                        .collect::<Vec<_>>()
                ),
            );
        }
        metadata.insert(
            "vp_formats_supported".into(),
            json!({FORMAT_SD_JWT_VC: {"sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"]}}),
        );
        Ok(Value::Object(metadata))
    }

    /// A session that may still be answered.
    pub(crate) async fn pending_session(
        &self,
        id: &str,
    ) -> Result<VerifierSessionRow, VerifierError> {
        if id.is_empty() || id.len() > 64 {
            return Err(VerifierError::UnknownSession);
        }
        let session = self
            .store
            .verifier_session(id)
            .await?
            .ok_or(VerifierError::UnknownSession)?;
        if session.expires_at <= self.now() {
            return Err(VerifierError::Expired);
        }
        if session.status != "pending" {
            return Err(VerifierError::Replayed);
        }
        Ok(session)
    }
}

/// OpenID4VP 1.0 s5.10.1, s10: refuse a wallet that cannot check our request or answer it.
fn check_wallet_metadata(text: &str) -> Result<(), VerifierError> {
    let metadata: Map<String, Value> = serde_json::from_str(text)
        .map_err(|err| VerifierError::InvalidRequest(format!("wallet_metadata: {err}")))?;
    if let Some(algs) = metadata.get("request_object_signing_alg_values_supported") {
        let supported = algs
            .as_array()
            .is_some_and(|algs| algs.iter().any(|alg| alg == "ES256"));
        if !supported {
            return Err(VerifierError::InvalidRequest(
                "the wallet does not support ES256 request objects".into(),
            ));
        }
    }
    if let Some(formats) = metadata.get("vp_formats_supported")
        && formats.get(FORMAT_SD_JWT_VC).is_none()
    {
        return Err(VerifierError::InvalidRequest(
            "the wallet does not support dc+sd-jwt".into(),
        ));
    }
    Ok(())
}
