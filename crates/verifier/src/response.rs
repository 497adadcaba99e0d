//! The Response Endpoint (OpenID4VP 1.0 s8.2, s8.3): decrypt, match state, spend nonce and
//! state once, validate every presentation, and record the outcome for the relying party.
use std::collections::HashSet;

use immerse_jose::jwe::{ContentEncryption, KeyManagement, Policy};
use immerse_store::VerifierOutcome;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{ResponseMode, token_hash};
use crate::dcql::DcqlMismatch;
use crate::presentation::Binding;
use crate::request::{NONCE_SCOPE, STATE_SCOPE, StoredRequest, random};
use crate::{Verifier, VerifierError};

/// The most presentations one response may carry.
const MAX_PRESENTATIONS: usize = 16;

/// What the wallet posted.
#[derive(Debug, Clone)]
pub enum WalletResponse {
    /// `direct_post.jwt`: the form parameter `response`, a JWE (OpenID4VP 1.0 s8.3).
    Encrypted(String),
    /// `direct_post`: form parameters `vp_token` (JSON text) and `state` (s8.2).
    Clear {
        vp_token: String,
        state: Option<String>,
    },
    /// The wallet's error response (OpenID4VP 1.0 s8.5): `error`, `error_description`, `state`.
    Error {
        error: String,
        error_description: Option<String>,
        state: Option<String>,
    },
}

/// The answer to the wallet (OpenID4VP 1.0 s8.2): in a same-device flow, where to send the
/// user, with a fresh `response_code`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResponseAccepted {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
}

/// What the relying party reads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RequestResult {
    /// `pending` (perhaps with the `error` of a refused answer: the session stays open for
    /// the genuine wallet), `verified`, or `failed` once it expired unanswered.
    pub status: String,
    /// Disclosed claims, by credential query id, one object per presentation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl Verifier {
    /// Handles the wallet's response to session `id`.
    pub async fn handle_response(
        &self,
        id: &str,
        response: WalletResponse,
    ) -> Result<ResponseAccepted, VerifierError> {
        let session = self.pending_session(id).await?;
        let request: StoredRequest = serde_json::from_str(&session.request)
            .map_err(|err| VerifierError::Internal(format!("stored request: {err}")))?;
        let (vp_token, state) = match (request.response_mode, response) {
            (
                _,
                WalletResponse::Error {
                    error,
                    error_description,
                    state,
                },
            ) => {
                let reason = WalletError::parse(&error, error_description)?;
                return self.wallet_declined(&session, state, reason).await;
            }
            (ResponseMode::DirectPostJwt, WalletResponse::Encrypted(jwe)) => {
                self.decrypt(id, &jwe)?
            }
            (ResponseMode::DirectPost, WalletResponse::Clear { vp_token, state }) => {
                let vp_token = serde_json::from_str(&vp_token)
                    .map_err(|err| VerifierError::MalformedResponse(format!("vp_token: {err}")))?;
                (vp_token, state)
            }
            // OpenID4VP 1.0 s8.3: with direct_post.jwt, a response in clear is refused.
            _ => {
                return Err(VerifierError::MalformedResponse(format!(
                    "expected response_mode {}",
                    request.response_mode.name()
                )));
            }
        };
        // OpenID4VP 1.0 s8.2, s14.1: the state is the request's.
        if state.as_deref() != Some(session.state.as_str()) {
            return Err(VerifierError::StateMismatch);
        }
        // Anyone who saw the QR code can fetch the request object, learn its state and
        // encrypt to its key: only a presentation that verifies (Key Binding to this nonce)
        // authenticates the wallet. So everything is checked first; a refusal is noted on the
        // session, which stays open for the genuine wallet, and only a verified answer spends
        // nonce and state and ends it.
        let binding = Binding {
            client_id: &request.client_id,
            nonce: &session.nonce,
            transaction_data: &request.transaction_data,
        };
        let credentials = match self.verify_vp_token(&request, &vp_token, binding).await {
            Ok(credentials) => credentials,
            Err(error) => {
                tracing::info!(session = id, reason = %error.reason(), "presentation refused");
                self.store
                    .note_verifier_attempt(id, &error.reason(), &error.to_string())
                    .await?;
                return Err(error);
            }
        };
        // OpenID4VP 1.0 s14.1: nonce and state once only, decided by the database, so the
        // answer holds across restarts and replicas.
        let now = self.now();
        if !self
            .store
            .take_once(STATE_SCOPE, &session.state, now)
            .await?
            || !self
                .store
                .take_once(NONCE_SCOPE, &session.nonce, now)
                .await?
        {
            return Err(VerifierError::Replayed);
        }
        self.keys.remove(id);
        let mut accepted = ResponseAccepted::default();
        let mut code_hash = None;
        if request.same_device
            && let Some(redirect) = &self.config.redirect_url
        {
            // OpenID4VP 1.0 s8.2, s13.3: a fresh response_code, bound to the session.
            let code = random(32)?;
            code_hash = Some(token_hash(&code));
            accepted.redirect_uri = Some(format!("{redirect}#response_code={code}"));
        }
        let result = serde_json::to_string(&credentials)
            .map_err(|err| VerifierError::Internal(err.to_string()))?;
        let stored = VerifierOutcome {
            status: "verified".into(),
            result: Some(result),
            error_code: None,
            error_detail: None,
            response_code_hash: code_hash,
            completed_at: now,
        };
        if !self.store.complete_verifier_session(id, &stored).await? {
            return Err(VerifierError::Replayed);
        }
        Ok(accepted)
    }

    /// OpenID4VP 1.0 s8.5: the wallet answered with an error (for example `access_denied`
    /// when the user declined). The error response is not authenticated (whoever saw the
    /// request could send it), so it is noted for the relying party and the session stays
    /// open until it expires or a genuine presentation arrives.
    async fn wallet_declined(
        &self,
        session: &immerse_store::VerifierSessionRow,
        state: Option<String>,
        reason: WalletError,
    ) -> Result<ResponseAccepted, VerifierError> {
        if state.as_deref() != Some(session.state.as_str()) {
            return Err(VerifierError::StateMismatch);
        }
        let code = format!("wallet:{}", reason.error);
        let detail = reason.description.unwrap_or_default();
        self.store
            .note_verifier_attempt(&session.id, &code, &detail)
            .await?;
        Ok(ResponseAccepted::default())
    }

    /// OpenID4VP 1.0 s8.3: the JWE decrypts with this request's key, ECDH-ES with A128GCM or
    /// A256GCM only (HAIP s5); its payload holds `vp_token` and `state`.
    fn decrypt(&self, id: &str, jwe: &str) -> Result<(Value, Option<String>), VerifierError> {
        let key = self.keys.get(id).ok_or(VerifierError::Expired)?;
        let policy = Policy {
            key_management: &[KeyManagement::EcdhEs],
            content_encryption: ContentEncryption::ALL,
        };
        let decrypted = key
            .decrypt(jwe, &policy)
            .map_err(VerifierError::Decryption)?;
        let mut payload: Map<String, Value> = serde_json::from_slice(&decrypted.plaintext)
            .map_err(|err| VerifierError::MalformedResponse(format!("JWE payload: {err}")))?;
        let vp_token = payload
            .remove("vp_token")
            .ok_or_else(|| VerifierError::MalformedResponse("vp_token is missing".into()))?;
        let state = match payload.remove("state") {
            None => None,
            Some(Value::String(state)) => Some(state),
            Some(_) => return Err(VerifierError::MalformedResponse("state".into())),
        };
        Ok((vp_token, state))
    }

    /// OpenID4VP 1.0 s8.1: `vp_token` is an object keyed by credential query id, each value a
    /// non-empty array of presentations (one unless the query says `multiple`).
    async fn verify_vp_token(
        &self,
        request: &StoredRequest,
        vp_token: &Value,
        binding: Binding<'_>,
    ) -> Result<Map<String, Value>, VerifierError> {
        let Value::Object(answers) = vp_token else {
            return Err(VerifierError::MalformedResponse(
                "vp_token is not an object".into(),
            ));
        };
        let query = &request.dcql_query;
        let mut answered = HashSet::new();
        let mut results = Map::new();
        let total: usize = answers
            .values()
            .map(|value| value.as_array().map_or(0, Vec::len))
            .sum();
        if total > MAX_PRESENTATIONS {
            return Err(VerifierError::MalformedResponse(
                "too many presentations".into(),
            ));
        }
        for (credential_id, presentations) in answers {
            let credential = query.credential(credential_id).ok_or_else(|| {
                VerifierError::Dcql(DcqlMismatch::UnexpectedCredential(credential_id.clone()))
            })?;
            let presentations = match presentations {
                Value::Array(items) if !items.is_empty() => items,
                _ => {
                    return Err(VerifierError::MalformedResponse(format!(
                        "vp_token.{credential_id} is not a non-empty array"
                    )));
                }
            };
            if presentations.len() > 1 && !credential.multiple {
                return Err(VerifierError::Dcql(DcqlMismatch::TooManyPresentations(
                    credential_id.clone(),
                    presentations.len(),
                )));
            }
            let mut verified = Vec::new();
            for presentation in presentations {
                let Value::String(presentation) = presentation else {
                    return Err(VerifierError::MalformedResponse(
                        "a presentation is not a string".into(),
                    ));
                };
                let claims = self
                    .verify_presentation(presentation, credential, binding)
                    .await
                    .map_err(|error| VerifierError::Presentation {
                        credential_id: credential_id.clone(),
                        error,
                    })?;
                verified.push(Value::Object(claims));
            }
            answered.insert(credential_id.as_str());
            results.insert(credential_id.clone(), Value::Array(verified));
        }
        // OpenID4VP 1.0 s6.4.2: every required credential (set) is answered.
        query
            .check_answered(&answered)
            .map_err(VerifierError::Dcql)?;
        Ok(results)
    }

    /// The outcome of session `id` for the relying party whose token hash is `owner`. In a
    /// same-device flow the `response_code` from the wallet's redirect must be shown too
    /// (OpenID4VP 1.0 s13.3).
    pub async fn result(
        &self,
        owner: &str,
        id: &str,
        response_code: Option<&str>,
    ) -> Result<RequestResult, VerifierError> {
        if id.is_empty() || id.len() > 64 {
            return Err(VerifierError::UnknownSession);
        }
        let session = self
            .store
            .verifier_session(id)
            .await?
            .filter(|session| session.owner == owner)
            .ok_or(VerifierError::UnknownSession)?;
        if let Some(expected) = &session.response_code_hash
            && response_code.map(token_hash).as_ref() != Some(expected)
        {
            return Err(VerifierError::InvalidRequest(
                "response_code is missing or wrong".into(),
            ));
        }
        let credentials = match &session.result {
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|err| VerifierError::Internal(format!("stored result: {err}")))?,
            ),
            None => None,
        };
        // A session that nobody answered with a verified presentation before it expired has
        // failed, for the last refusal noted on it or for expiring.
        let expired = session.status == "pending" && self.now() >= session.expires_at;
        let (status, error) = if expired {
            let error = session.error_code.unwrap_or_else(|| "expired".into());
            ("failed".to_owned(), Some(error))
        } else {
            (session.status, session.error_code)
        };
        Ok(RequestResult {
            status,
            credentials,
            error,
            error_description: session.error_detail,
        })
    }
}

/// An error code from the wallet: RFC 6749 s5.2 limits it to printable ASCII without `"` and
/// `\`; we also bound its length, since it is stored.
struct WalletError {
    error: String,
    description: Option<String>,
}

impl WalletError {
    fn parse(error: &str, description: Option<String>) -> Result<Self, VerifierError> {
        let printable = |text: &str| {
            text.bytes()
                .all(|byte| (0x20..=0x7e).contains(&byte) && byte != b'"' && byte != b'\\')
        };
        if error.is_empty() || error.len() > 64 || !printable(error) || error.contains(' ') {
            return Err(VerifierError::MalformedResponse("error".into()));
        }
        let description = description.filter(|text| text.len() <= 512 && printable(text));
        Ok(Self {
            error: error.to_owned(),
            description,
        })
    }
}
